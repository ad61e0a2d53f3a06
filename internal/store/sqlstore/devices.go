package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/govirt/govirt/internal/model"
	"github.com/govirt/govirt/internal/scsi"
)

// devices keeps the drive address in four nullable integer columns, so the
// database compares addresses as numbers and its partial unique index sees
// them, and a controller's spec as JSON text.
var devices = &table[model.VmDevice]{
	what: "vm device",
	name: "vm_devices",
	cols: []string{"vm_id", "id", "type", "device", "controller", "bus", "target", "unit",
		"target_dev", "alias", "plugged", "managed", "boot_order", "spec", "media", "pending_op", "pending_run"},
	nkeys: 2,
	order: []string{"vm_id", "id"},
	values: func(d model.VmDevice) []any {
		addr := []any{nil, nil, nil, nil}
		if a := d.Address; a != nil {
			addr = []any{int64(a.Controller), int64(a.Bus), int64(a.Target), int64(a.Unit)}
		}
		var spec any
		if d.Controller != nil {
			b, _ := json.Marshal(d.Controller) // three ints: cannot fail
			spec = string(b)
		}
		return []any{d.VMID, d.ID, d.Type, d.Device, addr[0], addr[1], addr[2], addr[3],
			d.TargetDev, d.Alias, d.Plugged, d.Managed, d.BootOrder, spec, d.Media, string(d.Pending), d.PendingRun}
	},
	scan: func(s scanner) (d model.VmDevice, err error) {
		var controller, bus, target, unit sql.Null[uint16]
		var spec sql.NullString
		err = s.Scan(&d.VMID, &d.ID, &d.Type, &d.Device, &controller, &bus, &target, &unit,
			&d.TargetDev, &d.Alias, &d.Plugged, &d.Managed, &d.BootOrder, &spec, &d.Media, &d.Pending, &d.PendingRun)
		if err != nil {
			return d, err
		}
		if controller.Valid {
			d.Address = &scsi.DriveAddress{Controller: controller.V, Bus: bus.V, Target: target.V, Unit: unit.V}
		}
		if spec.Valid {
			d.Controller = new(model.ControllerSpec)
			if err := json.Unmarshal([]byte(spec.String), d.Controller); err != nil {
				return d, fmt.Errorf("vm device %s/%s: controller spec: %w", d.VMID, d.ID, err)
			}
		}
		return d, nil
	},
}

func (t *tx) GetDevice(ctx context.Context, vmID, id string) (model.VmDevice, error) {
	return devices.get(ctx, t, vmID, id)
}

// ListDevicesOfVM lists the VM's device rows by id.
func (t *tx) ListDevicesOfVM(ctx context.Context, vmID string) ([]model.VmDevice, error) {
	return devices.list(ctx, t, "vm_id = ?", 0, vmID)
}

// VMsWithDevice implements store.Devices.
func (t *tx) VMsWithDevice(ctx context.Context, device, vmID string) (map[string]bool, error) {
	q, args := "SELECT DISTINCT vm_id FROM vm_devices WHERE device = ?", []any{device}
	if vmID != "" {
		q, args = q+" AND vm_id = ?", append(args, vmID)
	}
	out := map[string]bool{}
	err := t.queryRows(ctx, func(s scanner) error {
		var id string
		if err := s.Scan(&id); err != nil {
			return err
		}
		out[id] = true
		return nil
	}, q, args...)
	if err != nil {
		return nil, fmt.Errorf("vms with a %s device: %w", device, err)
	}
	return out, nil
}

// InsertDevice fails with store.ErrConflict when the device is plugged and
// another plugged device of the VM has its address or target device name.
func (t *tx) InsertDevice(ctx context.Context, d model.VmDevice) error {
	return devices.insert(ctx, t, d)
}

func (t *tx) UpdateDevice(ctx context.Context, d model.VmDevice) error {
	return devices.update(ctx, t, d)
}

func (t *tx) DeleteDevice(ctx context.Context, vmID, id string) error {
	return devices.delete(ctx, t, vmID, id)
}
