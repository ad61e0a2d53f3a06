// Package agentpb is the Go code protoc generates from ../agent.proto: the
// wire messages and gRPC stubs of the engine <-> agent protocol. Only
// package agentrpc should use it; everything else speaks vmspec and agent types.
package agentpb
