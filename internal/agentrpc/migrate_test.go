package agentrpc

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/govirt/govirt/internal/agent"
	"github.com/govirt/govirt/internal/vmspec"
)

// migratingFake is a fake that also takes part in live migration.
type migratingFake struct {
	*fake
	target agent.MigrationTarget
}

func (f *migratingFake) PrepareMigration(_ context.Context, vm vmspec.VM) (agent.MigrationTarget, error) {
	return f.target, f.record("PrepareMigration", vm)
}

func (f *migratingFake) MigrateVM(_ context.Context, vmID string, to agent.MigrationTarget) error {
	return f.record("MigrateVM", vmID, to)
}

func (f *migratingFake) FinishIncoming(_ context.Context, vmID string, ok bool) error {
	return f.record("FinishIncoming", vmID, ok)
}

// TestMigrationRPCs: the three migration calls carry their arguments and
// results unchanged, the agent's migration errors survive the wire for the
// engine's errors.Is, a migrate without a target is a bad message, and an
// agent that does not migrate answers Unimplemented.
func TestMigrationRPCs(t *testing.T) {
	ctx := testCtx(t)
	f := &migratingFake{fake: newFake(), target: agent.MigrationTarget{URI: "qemu+tls://b/system", DomainXML: "<domain type='qemu'/>"}}
	c := unixClient(t, f)
	vm := fullVM()
	got, err := c.PrepareMigration(ctx, vm)
	if err != nil || got != f.target {
		t.Fatalf("PrepareMigration = %+v, %v", got, err)
	}
	if d := cmp.Diff([]any{"PrepareMigration", vm}, f.lastCall()); d != "" {
		t.Errorf("service saw (-want +got):\n%s", d)
	}
	if err := c.MigrateVM(ctx, "vm-1", f.target); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]any{"MigrateVM", "vm-1", f.target}, f.lastCall()); d != "" {
		t.Errorf("service saw (-want +got):\n%s", d)
	}
	if err := c.FinishIncoming(ctx, "vm-1", true); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]any{"FinishIncoming", "vm-1", true}, f.lastCall()); d != "" {
		t.Errorf("service saw (-want +got):\n%s", d)
	}

	for _, want := range []error{agent.ErrStorageNotShared, agent.ErrNoMigrationURI, agent.ErrMigrationFailed} {
		f.setErr(want)
		if _, err := c.PrepareMigration(ctx, vm); !errors.Is(err, want) {
			t.Errorf("PrepareMigration failing with %v: got %v", want, err)
		}
	}
	f.setErr(nil)
	if err := c.MigrateVM(ctx, "vm-1", agent.MigrationTarget{}); !errors.Is(err, ErrBadMessage) {
		t.Errorf("MigrateVM without a target: %v, want ErrBadMessage", err)
	}

	plain := unixClient(t, newFake())
	if err := plain.FinishIncoming(ctx, "vm-1", false); !isUnimplemented(err) {
		t.Errorf("an agent without migration: %v, want Unimplemented", err)
	}
}

// isUnimplemented looks for the Unimplemented status in a wrapped error.
func isUnimplemented(err error) bool {
	for ; err != nil; err = errors.Unwrap(err) {
		if s, ok := status.FromError(err); ok && s.Code() == codes.Unimplemented {
			return true
		}
	}
	return false
}
