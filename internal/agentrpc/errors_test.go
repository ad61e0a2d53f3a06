package agentrpc

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/govirt/govirt/internal/agent"
	"github.com/govirt/govirt/internal/vmspec"
)

// TestErrorsCrossTheWire: every sentinel the agent returns arrives as an
// error that errors.Is recognises, with the agent's message and the agreed
// gRPC code. The expectations are spelled out here, independently of the
// table in errors.go, so a wrong table entry fails.
func TestErrorsCrossTheWire(t *testing.T) {
	f := newFake()
	c := unixClient(t, f)
	for _, tc := range []struct {
		sentinel error
		code     codes.Code
	}{
		{agent.ErrNotFound, codes.NotFound},
		{agent.ErrAlreadyRunning, codes.AlreadyExists},
		{agent.ErrStarting, codes.FailedPrecondition},
		{agent.ErrPCISlotsExhausted, codes.ResourceExhausted},
		{agent.ErrUnplugFailed, codes.Aborted},
		{agent.ErrUnplugTimeout, codes.DeadlineExceeded},
		{agent.ErrGuestAgent, codes.Unavailable},
		{agent.ErrPathEscape, codes.InvalidArgument},
		{agent.ErrDeviceNotFound, codes.NotFound},
		{vmspec.ErrInvalid, codes.InvalidArgument},
		{ErrBadMessage, codes.InvalidArgument},
		{context.DeadlineExceeded, codes.DeadlineExceeded},
		{context.Canceled, codes.Canceled},
	} {
		t.Run(tc.sentinel.Error(), func(t *testing.T) {
			orig := fmt.Errorf("vm 42: hot plug ua-d1: %w", tc.sentinel)
			f.setErr(orig)
			err := c.HotPlugDisk(testCtx(t), "42", vmspec.Disk{ID: "d1"})
			if !errors.Is(err, tc.sentinel) {
				t.Errorf("errors.Is(%v, %v) = false", err, tc.sentinel)
			}
			if !strings.Contains(err.Error(), orig.Error()) {
				t.Errorf("message %q lost %q", err, orig)
			}
			if got := status.Code(err); got != tc.code {
				t.Errorf("code %v, want %v", got, tc.code)
			}
			for _, other := range []error{agent.ErrNotFound, agent.ErrDeviceNotFound, agent.ErrUnplugTimeout, context.DeadlineExceeded} {
				if other != tc.sentinel && errors.Is(err, other) {
					t.Errorf("%v also matches %v", err, other)
				}
			}
		})
	}
}

// TestErrorWrappingSeveralSentinels: an error that wraps two sentinels keeps
// both; the first in table order decides the code.
func TestErrorWrappingSeveralSentinels(t *testing.T) {
	f := newFake()
	c := unixClient(t, f)
	f.setErr(fmt.Errorf("%w: volume ../x: %w", vmspec.ErrInvalid, agent.ErrPathEscape))
	err := c.StartVM(testCtx(t), vmspec.VM{})
	if !errors.Is(err, vmspec.ErrInvalid) || !errors.Is(err, agent.ErrPathEscape) {
		t.Errorf("lost a sentinel: %v", err)
	}
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("code %v", status.Code(err))
	}

	f.setErr(fmt.Errorf("unplug ua-d1: %w (%w)", agent.ErrUnplugTimeout, context.DeadlineExceeded))
	err = c.HotUnplugDisk(testCtx(t), "a", "d1", time.Second)
	if !errors.Is(err, agent.ErrUnplugTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("lost a sentinel: %v", err)
	}
}

func TestUnknownErrorIsInternal(t *testing.T) {
	f := newFake()
	c := unixClient(t, f)
	f.setErr(errors.New("disk on fire"))
	err := c.DestroyVM(testCtx(t), "a")
	if status.Code(err) != codes.Internal || !strings.Contains(err.Error(), "disk on fire") {
		t.Errorf("got %v (%v)", err, status.Code(err))
	}
	for _, r := range errorRules() {
		if errors.Is(err, r.err) {
			t.Errorf("unexpectedly matches %v", r.err)
		}
	}
}

// TestClientDeadline: the caller's own deadline running out reads as
// context.DeadlineExceeded, as with a local agent.
func TestClientDeadline(t *testing.T) {
	c := unixClient(t, newFake())
	ctx, cancel := context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
	defer cancel()
	if err := c.DestroyVM(ctx, "a"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("got %v", err)
	}
	ctx, cancel = context.WithCancel(t.Context())
	cancel()
	if err := c.DestroyVM(ctx, "a"); !errors.Is(err, context.Canceled) {
		t.Errorf("got %v", err)
	}
}

// TestProxyKeepsStatus: a Service that is itself a Client (a relay) passes
// the remote sentinels and foreign statuses on unchanged.
func TestProxyKeepsStatus(t *testing.T) {
	if got := status.Code(toStatus(status.Error(codes.PermissionDenied, "no"))); got != codes.PermissionDenied {
		t.Errorf("foreign status became %v", got)
	}
	remote := fromStatus(toStatus(fmt.Errorf("x: %w", agent.ErrAlreadyRunning)))
	again := fromStatus(toStatus(fmt.Errorf("relay: %w", remote)))
	if !errors.Is(again, agent.ErrAlreadyRunning) || status.Code(again) != codes.AlreadyExists {
		t.Errorf("relayed error %v (%v)", again, status.Code(again))
	}
	if toStatus(nil) != nil || fromStatus(nil) != nil {
		t.Error("nil error became non-nil")
	}
}
