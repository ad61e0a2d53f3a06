package sqlstore_test

import (
	"context"
	"testing"

	"github.com/govirt/govirt/internal/store"
)

// TestVMGeneration: every write to a VM's devices, attachments and
// attached disks moves its generation by one, in the writing transaction;
// writes to the VM row itself and to other VMs do not.
func TestVMGeneration(t *testing.T) {
	forEachStore(t, func(t *testing.T, s store.Store) {
		f := newFixture(t, s)
		vm, other := f.addVM(t, "vm1"), f.addVM(t, "vm2")
		shared := f.addDisk(t, "shared", true)
		solo := f.addDisk(t, "solo", false)
		gen := func(ctx context.Context, tx store.Tx, id string) int64 {
			t.Helper()
			g, err := tx.VMGeneration(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			return g
		}
		steps := []struct {
			name     string
			write    func(ctx context.Context, tx store.Tx) error
			vm1, vm2 int64 // how far each generation moves
		}{
			{"insert device", func(ctx context.Context, tx store.Tx) error {
				return tx.InsertDevice(ctx, diskDevice(vm.ID, shared.ID, 1))
			}, 1, 0},
			{"update device", func(ctx context.Context, tx store.Tx) error {
				return tx.UpdateDevice(ctx, diskDevice(vm.ID, shared.ID, 2))
			}, 1, 0},
			{"attach to vm1", func(ctx context.Context, tx store.Tx) error {
				return tx.InsertAttachment(ctx, attachment(vm.ID, shared.ID))
			}, 1, 0},
			{"attach to vm2", func(ctx context.Context, tx store.Tx) error {
				return tx.InsertAttachment(ctx, attachment(other.ID, shared.ID))
			}, 0, 1},
			{"attach solo", func(ctx context.Context, tx store.Tx) error {
				return tx.InsertAttachment(ctx, attachment(vm.ID, solo.ID))
			}, 1, 0},
			{"update attachment", func(ctx context.Context, tx store.Tx) error {
				a := attachment(vm.ID, solo.ID)
				a.LogicalName = "/dev/sdb"
				return tx.UpdateAttachment(ctx, a)
			}, 1, 0},
			{"update the shared disk", func(ctx context.Context, tx store.Tx) error {
				d := shared
				d.Alias = "renamed"
				return tx.UpdateDisk(ctx, d)
			}, 1, 1},
			{"update the vm row", func(ctx context.Context, tx store.Tx) error {
				v := vm
				v.Description = "changed"
				return tx.UpdateVM(ctx, v)
			}, 0, 0},
			{"detach solo", func(ctx context.Context, tx store.Tx) error { return tx.DeleteAttachment(ctx, vm.ID, solo.ID) }, 1, 0},
			{"delete device", func(ctx context.Context, tx store.Tx) error { return tx.DeleteDevice(ctx, vm.ID, shared.ID) }, 1, 0},
		}
		for _, st := range steps {
			mustTx(t, s, func(ctx context.Context, tx store.Tx) error {
				g1, g2 := gen(ctx, tx, vm.ID), gen(ctx, tx, other.ID)
				if err := st.write(ctx, tx); err != nil {
					return err
				}
				if d1, d2 := gen(ctx, tx, vm.ID)-g1, gen(ctx, tx, other.ID)-g2; d1 != st.vm1 || d2 != st.vm2 {
					t.Errorf("%s: generations moved by %d and %d, want %d and %d", st.name, d1, d2, st.vm1, st.vm2)
				}
				return nil
			})
		}
		mustTx(t, s, func(ctx context.Context, tx store.Tx) error {
			if _, err := tx.VMGeneration(ctx, "no-such-vm"); err == nil {
				t.Error("VMGeneration of a missing VM did not fail")
			}
			return nil
		})
	})
}
