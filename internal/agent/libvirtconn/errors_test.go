package libvirtconn

import (
	"errors"
	"testing"

	"github.com/digitalocean/go-libvirt"

	"github.com/govirt/govirt/internal/agent"
)

// TestMapErr: libvirt's error codes and words become the agent's errors,
// which the agent acts on (a start retried with fewer disks, a VM gone).
func TestMapErr(t *testing.T) {
	for _, c := range []struct {
		code uint32
		msg  string
		want error // nil: none of the agent's errors
	}{
		{0, "internal error: process exited while connecting to monitor: libvirt:  error : cannot execute binary /usr/bin/qemu-system-x86_64: Argument list too long", agent.ErrArgListTooLong},
		{uint32(libvirt.ErrNoDomain), "Domain not found: no domain with matching uuid", agent.ErrNotFound},
		{0, "QEMU guest agent is not connected", agent.ErrGuestAgent},
		{0, "operation failed: domain 'x' already exists with uuid y", agent.ErrAlreadyRunning},
		{0, "operation failed: no device found with alias ua-x", agent.ErrDeviceNotFound},
		{0, "internal error: cannot execute binary /usr/bin/qemu-system-x86_64: Permission denied", nil},
	} {
		err := mapErr(libvirt.Error{Code: c.code, Message: c.msg})
		for _, e := range []error{agent.ErrArgListTooLong, agent.ErrNotFound, agent.ErrGuestAgent, agent.ErrAlreadyRunning, agent.ErrDeviceNotFound} {
			if got := errors.Is(err, e); got != (e == c.want) {
				t.Errorf("mapErr(%q): errors.Is(%v) = %v", c.msg, e, got)
			}
		}
	}
	if mapErr(nil) != nil {
		t.Error("mapErr(nil) is not nil")
	}
}
