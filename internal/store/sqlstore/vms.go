package sqlstore

import (
	"context"
	"database/sql"

	"github.com/govirt/govirt/internal/model"
	"github.com/govirt/govirt/internal/store"
)

var vms = &table[model.VM]{
	what: "vm",
	name: "vms",
	cols: []string{"id", "name", "description", "cluster_id", "template_id", "os_type",
		"memory_bytes", "vcpus", "status", "host_id", "io_threads", "virtio_scsi_multi_queues",
		"kernel", "initrd", "cmdline", "created_at", "migrating_to", "migration_run"},
	nkeys:   1,
	nameCol: "name",
	order:   byName,
	values: func(vm model.VM) []any {
		return []any{vm.ID, vm.Name, vm.Description, vm.ClusterID, vm.TemplateID, vm.OSType,
			vm.MemoryBytes, vm.VCPUs, string(vm.Status), nullIfEmpty(vm.HostID), vm.IOThreads, vm.VirtioSCSIMultiQueues,
			vm.Kernel, vm.Initrd, vm.Cmdline, micros(vm.CreatedAt), vm.MigratingTo, vm.MigrationRun}
	},
	scan: func(s scanner) (vm model.VM, err error) {
		var host sql.NullString
		var created int64
		err = s.Scan(&vm.ID, &vm.Name, &vm.Description, &vm.ClusterID, &vm.TemplateID, &vm.OSType,
			&vm.MemoryBytes, &vm.VCPUs, &vm.Status, &host, &vm.IOThreads, &vm.VirtioSCSIMultiQueues,
			&vm.Kernel, &vm.Initrd, &vm.Cmdline, &created, &vm.MigratingTo, &vm.MigrationRun)
		vm.HostID, vm.CreatedAt = host.String, fromMicros(created)
		return vm, err
	},
}

func (t *tx) GetVM(ctx context.Context, id string) (model.VM, error) {
	return vms.get(ctx, t, id)
}

func (t *tx) ListVMs(ctx context.Context, o store.ListOptions) ([]model.VM, error) {
	return vms.listNamed(ctx, t, o)
}

func (t *tx) InsertVM(ctx context.Context, vm model.VM) error {
	return vms.insert(ctx, t, vm)
}

func (t *tx) UpdateVM(ctx context.Context, vm model.VM) error {
	return vms.update(ctx, t, vm)
}

// DeleteVM deletes the VM with its attachments and device rows (ON DELETE
// CASCADE).
func (t *tx) DeleteVM(ctx context.Context, id string) error {
	return vms.delete(ctx, t, id)
}
