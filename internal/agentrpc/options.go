package agentrpc

import (
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"
)

// Keepalive timing. The client pings an idle connection so that an engine
// notices a vanished host within about a minute instead of waiting for TCP to
// give up, which matters most for the long-lived event stream. The server
// must allow pings at least that often (ServerOptions), or it would close
// the connection with "too many pings".
const (
	clientPingEvery   = 30 * time.Second
	clientPingTimeout = 10 * time.Second
	reconnectMaxDelay = 2 * time.Second
	serverMinPing     = 20 * time.Second
	serverPingEvery   = time.Minute
	serverPingTimeout = 20 * time.Second
)

// maxMessage bounds one message either way. gRPC's default of 4 MiB is too
// small for GuestExec: the guest agent returns up to 16 MiB of stdout and as
// much stderr. Both ends are authenticated govirt processes, so the larger
// bound only guards against bugs, not against an attacker.
const maxMessage = 64 << 20

// ServerOptions are the grpc.Server options an agent should use: creds (nil
// for a unix socket), a keepalive policy that accepts the pings Dial's
// clients send and drops engines that vanished, releasing their event
// subscriptions, and a message bound large enough for GuestExec's stdin.
func ServerOptions(creds credentials.TransportCredentials) []grpc.ServerOption {
	opts := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(maxMessage),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime:             serverMinPing,
			PermitWithoutStream: true,
		}),
		grpc.KeepaliveParams(keepalive.ServerParameters{
			Time:    serverPingEvery,
			Timeout: serverPingTimeout,
		}),
	}
	if creds != nil {
		opts = append(opts, grpc.Creds(creds))
	}
	return opts
}
