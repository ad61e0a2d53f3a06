package engine

import (
	"reflect"
	"testing"

	"github.com/govirt/govirt/internal/apperr"
	"github.com/govirt/govirt/internal/model"
	"github.com/govirt/govirt/internal/store"
)

// A hot-plug sends one disk and its controller without rendering the whole
// VM; what it sends must be exactly what the full spec says of that disk
// and controller, for every kind of disk and controller setting.
func TestPlugSpecMatchesTheFullSpec(t *testing.T) {
	for _, c := range []struct {
		name       string
		iothreads  int
		multiQueue int
		kernel     string
	}{
		{"one controller, fixed queues, disk boot", 0, 0, ""},
		{"two controllers with I/O threads, automatic queues, direct kernel boot", 2, -1, "/boot/vmlinuz"},
	} {
		t.Run(c.name, func(t *testing.T) {
			each(t, func(t *testing.T, v *env) {
				vm := v.vm(t, "vm1", "debian", func(p *VMParams) {
					p.IOThreads, p.VirtioSCSIMultiQueues, p.VCPUs = &c.iothreads, &c.multiQueue, iptr(4)
					if c.kernel != "" {
						p.Kernel = &c.kernel
					}
				})
				var ids []string
				for i, iface := range []model.DiskInterface{model.InterfaceVirtIOSCSI, model.InterfaceVirtIOSCSI, model.InterfaceVirtIO, model.InterfaceVirtIOSCSI} {
					d := v.imageDisk(t, "d"+string(rune('a'+i)))
					v.attach(t, vm.ID, d.ID, iface, func(p *AttachParams) { p.Bootable = ptr(i == 0) })
					ids = append(ids, d.ID)
				}
				lun := v.lunDisk(t, "lun", model.SGIOFiltered, 3)
				v.attach(t, vm.ID, lun.ID, model.InterfaceVirtIOSCSI)
				ids = append(ids, lun.ID)
				notErr(t, v.st.View(v.ctx, func(tx store.Tx) error {
					s, err := v.e.loadVM(v.ctx, tx, vm.ID, apperr.ActionHotPlug, apperr.TypeDisk)
					if err != nil {
						return err
					}
					domains, err := storageDomainsOf(v.ctx, tx, s)
					if err != nil {
						return err
					}
					full, err := buildSpec(s, domains, "")
					if err != nil {
						return err
					}
					for _, id := range ids {
						one, err := storageDomainOfDisk(v.ctx, tx, s.disk(id))
						if err != nil {
							return err
						}
						d, ctrl, err := plugSpec(s, id, one)
						if err != nil {
							return err
						}
						for _, want := range full.Disks {
							if want.ID == id && !reflect.DeepEqual(d, want) {
								t.Errorf("disk %s: plug spec %+v, full spec %+v", id, d, want)
							}
						}
						if d.Address == nil {
							if ctrl != nil {
								t.Errorf("disk %s without a drive address got controller %+v", id, *ctrl)
							}
							continue
						}
						found := false
						for _, fc := range full.Controllers {
							if fc.Index == d.Address.Controller {
								found = true
								if ctrl == nil || *ctrl != fc {
									t.Errorf("disk %s: plug controller %+v, full spec %+v", id, ctrl, fc)
								}
							}
						}
						if !found {
							t.Errorf("disk %s sits on controller %d, which the full spec lacks", id, d.Address.Controller)
						}
					}
					return nil
				}))
			})
		})
	}
}
