package agentrpc

import (
	"context"
	"errors"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"

	"github.com/govirt/govirt/internal/agent"
	"github.com/govirt/govirt/internal/vmspec"
)

// ErrorDomain is the google.rpc.ErrorInfo domain of the reasons this protocol
// defines; reasons from any other domain are not ours to interpret.
const ErrorDomain = "govirt.agent.v1"

// errorRule ties one sentinel error to its gRPC code and the reason string
// that identifies it on the wire. The reason, not the code, is what the client
// decodes: several sentinels share a code (NotFound, InvalidArgument).
type errorRule struct {
	err    error
	code   codes.Code
	reason string
}

// errorRules is the one table both directions use. Order matters on the
// server: the first sentinel an error wraps decides the status code, so the
// agent's specific errors come before the generic ones they may wrap.
func errorRules() []errorRule {
	return []errorRule{
		{agent.ErrNotFound, codes.NotFound, "VM_NOT_FOUND"},
		{agent.ErrAlreadyRunning, codes.AlreadyExists, "VM_ALREADY_RUNNING"},
		{agent.ErrStarting, codes.FailedPrecondition, "VM_STARTING"},
		{agent.ErrPCISlotsExhausted, codes.ResourceExhausted, "PCI_SLOTS_EXHAUSTED"},
		{agent.ErrUnplugFailed, codes.Aborted, "UNPLUG_FAILED"},
		{agent.ErrUnplugTimeout, codes.DeadlineExceeded, "UNPLUG_TIMEOUT"},
		{agent.ErrGuestAgent, codes.Unavailable, "GUEST_AGENT_UNAVAILABLE"},
		{agent.ErrPathEscape, codes.InvalidArgument, "PATH_ESCAPE"},
		{agent.ErrDeviceNotFound, codes.NotFound, "DEVICE_NOT_FOUND"},
		{agent.ErrNoMigrationURI, codes.FailedPrecondition, "NO_MIGRATION_URI"},
		{agent.ErrStorageNotShared, codes.FailedPrecondition, "STORAGE_NOT_SHARED"},
		{agent.ErrMigrationFailed, codes.Aborted, "MIGRATION_FAILED"},
		{vmspec.ErrInvalid, codes.InvalidArgument, "INVALID_SPEC"},
		{ErrBadMessage, codes.InvalidArgument, "BAD_MESSAGE"},
		{context.DeadlineExceeded, codes.DeadlineExceeded, "DEADLINE_EXCEEDED"},
		{context.Canceled, codes.Canceled, "CANCELED"},
	}
}

// toStatus turns a Service error into the status the client receives: the
// code of the first sentinel it wraps, the error's full message, and one
// ErrorInfo per sentinel it wraps so that none is lost on the way.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	var code codes.Code
	var details []protoadapt.MessageV1
	for _, r := range errorRules() {
		if errors.Is(err, r.err) {
			if details == nil {
				code = r.code
			}
			details = append(details, &errdetails.ErrorInfo{Reason: r.reason, Domain: ErrorDomain})
		}
	}
	if details == nil {
		// A Service that is itself a proxy may return a status of its own.
		if st, ok := status.FromError(err); ok {
			return st.Err()
		}
		return status.Error(codes.Internal, err.Error())
	}
	st := status.New(code, err.Error())
	withDetails, derr := st.WithDetails(details...)
	if derr != nil {
		// Only possible for an OK code, which no rule has; keep the code.
		return st.Err()
	}
	return withDetails.Err()
}

// remoteError is an agent failure as the client sees it: its message is the
// agent's, errors.Is matches every sentinel the agent's error wrapped, and
// status.Code/FromError still see the gRPC status.
type remoteError struct {
	st     *status.Status
	causes []error
}

func (e *remoteError) Error() string              { return e.st.Message() }
func (e *remoteError) Unwrap() []error            { return e.causes }
func (e *remoteError) GRPCStatus() *status.Status { return e.st }

// fromStatus rebuilds a client-side error from what an RPC returned. Errors
// without our reasons keep their gRPC status; bare Canceled and
// DeadlineExceeded statuses (the client's own context ran out) also match
// the context errors so callers can test for them as with a local agent.
func fromStatus(err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	rules := errorRules()
	var causes []error
	for _, d := range st.Details() {
		info, ok := d.(*errdetails.ErrorInfo)
		if !ok || info.GetDomain() != ErrorDomain {
			continue
		}
		for _, r := range rules {
			if r.reason == info.GetReason() {
				causes = append(causes, r.err)
			}
		}
	}
	if causes == nil {
		switch st.Code() {
		case codes.Canceled:
			causes = []error{context.Canceled}
		case codes.DeadlineExceeded:
			causes = []error{context.DeadlineExceeded}
		case codes.Unavailable:
			// No govirt detail: the transport failed, not the agent.
			causes = []error{agent.ErrHostUnreachable}
		}
	}
	return &remoteError{st: st, causes: causes}
}
