// Package agentrpc is the engine <-> host agent protocol: a gRPC service
// (agent.proto, generated into agentpb) with a Server that exposes an agent
// Service and a Client that implements the same methods, so the engine can
// drive a local agent or a remote one behind one interface.
//
// Errors travel as gRPC statuses carrying a google.rpc.ErrorInfo per agent
// sentinel they wrap; the Client turns them back into errors that satisfy
// errors.Is for the same sentinels and keep the agent's message.
//
// Transport: a unix socket (mode 0600, no TLS: file permissions are the
// authentication) for an engine on the same host, otherwise TCP with mutual
// TLS 1.3 using certificates from internal/pki.
package agentrpc

//go:generate sh gen.sh
