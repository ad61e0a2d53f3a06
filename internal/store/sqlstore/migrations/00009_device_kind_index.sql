-- +goose Up
-- Finding whether a VM has a device of a kind (its virtio-scsi controller,
-- asked by every read of the VM) looks it up instead of scanning the VM's
-- thousands of disk rows.
CREATE INDEX vm_devices_kind ON vm_devices (vm_id, device);

-- +goose Down
DROP INDEX vm_devices_kind;
