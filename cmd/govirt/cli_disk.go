package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/govirt/govirt/internal/api/ovirt"
	"github.com/govirt/govirt/internal/client"
)

func newDiskCmd(f *cliFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "disk", Short: "Create disks, attach and detach them, activate and deactivate them"}
	var vm, search string
	list := &cobra.Command{
		Use:   "list [--vm NAME|ID] [--search name=PATTERN]",
		Short: "List the disks, or the disk attachments of a VM",
		Args:  cobra.NoArgs,
		RunE: f.run(func(ctx context.Context, c *client.Client, cmd *cobra.Command, _ []string) error {
			if vm == "" {
				disks, err := c.ListDisks(ctx, search)
				if err != nil {
					return err
				}
				return f.emit(cmd, disks, func() (*table, error) { return diskTable(ctx, c, disks) })
			}
			id, err := c.Resolve(ctx, client.VMs, vm)
			if err != nil {
				return err
			}
			atts, err := c.ListAttachments(ctx, id)
			if err != nil {
				return err
			}
			return f.emit(cmd, atts, func() (*table, error) { return attachmentTable(ctx, c, atts) })
		}),
	}
	list.Flags().StringVar(&vm, "vm", "", "list this VM's disk attachments")
	list.Flags().StringVar(&search, "search", "", "oVirt search on the disks' aliases, e.g. name=data*")
	cmd.AddCommand(list, newDiskAddCmd(f), newDiskAttachCmd(f), newDiskDetachCmd(f),
		newDiskActiveCmd(f, "activate", "Activate (hot-plug) a disk attached to a VM", true),
		newDiskActiveCmd(f, "deactivate", "Deactivate (hot-unplug) a disk attached to a VM", false))
	return cmd
}

// attachFlags describe a new attachment.
type attachFlags struct {
	iface              string
	bootable, inactive bool
}

func (a *attachFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&a.iface, "interface", "virtio_scsi", "disk interface: virtio_scsi or virtio")
	fs.BoolVar(&a.bootable, "bootable", false, "boot from this disk")
	fs.BoolVar(&a.inactive, "inactive", false, "attach without plugging the disk in")
}

// attachment attaches d: an existing disk when it has an id, else a new one.
func (a *attachFlags) attachment(d ovirt.Disk) ovirt.DiskAttachment {
	return ovirt.DiskAttachment{Interface: ovirt.Str(a.iface), Bootable: ovirt.B(a.bootable), Active: ovirt.B(!a.inactive), Disk: &d}
}

func newDiskAddCmd(f *cliFlags) *cobra.Command {
	var name, size, sd, format, sgio, policy, vm string
	var lun client.LUN
	var shareable bool
	var af attachFlags
	cmd := &cobra.Command{
		Use:   "add --name NAME (--size SIZE --storage-domain SD | --lun-address IP --lun-target IQN --lun N)",
		Short: "Create an image disk or a direct iSCSI LUN disk, optionally attached to a VM at once",
		Args:  cobra.NoArgs,
		RunE: f.run(func(ctx context.Context, c *client.Client, cmd *cobra.Command, _ []string) error {
			fl := cmd.Flags()
			var d ovirt.Disk
			if fl.Changed("lun-address") || fl.Changed("lun-target") || fl.Changed("lun") {
				if lun.Address == "" || lun.Target == "" || !fl.Changed("lun") {
					return errors.New("a LUN disk needs --lun-address, --lun-target and --lun")
				}
				if size != "" || sd != "" || format != "" {
					return errors.New("--size, --storage-domain and --format are for image disks, not LUNs")
				}
				d = client.LUNDisk(name, lun, sgio, shareable)
				if policy != "" {
					d.SCSIPolicy = &ovirt.Ref{Name: ovirt.Str(policy)}
				}
			} else {
				if size == "" || sd == "" {
					return errors.New("an image disk needs --size and --storage-domain (or give a LUN with --lun-address, --lun-target and --lun)")
				}
				if sgio != "" || policy != "" {
					return errors.New("--sgio and --scsi-policy are for LUN disks")
				}
				n, err := parseSize(size)
				if err != nil {
					return fmt.Errorf("--size: %w", err)
				}
				d = client.ImageDisk(name, n, sd, format, shareable)
			}
			if vm == "" {
				disk, err := c.AddDisk(ctx, d)
				if err != nil {
					return err
				}
				return f.emit(cmd, disk, func() (*table, error) { return diskTable(ctx, c, []ovirt.Disk{disk}) })
			}
			vmID, err := c.Resolve(ctx, client.VMs, vm)
			if err != nil {
				return err
			}
			return f.emitAttachment(ctx, c, cmd)(c.Attach(ctx, vmID, af.attachment(d)))
		}),
	}
	fl := cmd.Flags()
	fl.StringVar(&name, "name", "", "the disk's name (alias; required)")
	fl.StringVar(&size, "size", "", "image size, e.g. 10GiB")
	fl.StringVar(&sd, "storage-domain", "", "storage domain of an image, by name or id")
	fl.StringVar(&format, "format", "", "image format: cow (qcow2) or raw")
	fl.BoolVar(&shareable, "shareable", false, "let several VMs attach the disk")
	fl.StringVar(&lun.Address, "lun-address", "", "iSCSI portal address of a LUN disk")
	fl.IntVar(&lun.Port, "lun-port", 3260, "iSCSI portal port")
	fl.StringVar(&lun.Target, "lun-target", "", "iSCSI target IQN")
	fl.IntVar(&lun.Mapping, "lun", 0, "LUN number on the target")
	fl.StringVar(&lun.ID, "lun-id", "", "the LUN's id (default: derived from target, address and number)")
	fl.StringVar(&sgio, "sgio", "", "SCSI pass-through of a LUN: filtered, unfiltered or disabled")
	fl.StringVar(&policy, "scsi-policy", "", "SCSI command policy of a pass-through LUN: filtered, unfiltered or a custom one (see govirt scsi-policy list)")
	fl.StringVar(&vm, "vm", "", "attach the new disk to this VM")
	af.register(fl)
	_ = cmd.MarkFlagRequired("name")
	return cmd
}

// vmAndDisk resolves the VM and disk arguments of attach, detach and
// (de)activate.
func vmAndDisk(ctx context.Context, c *client.Client, args []string) (vmID, diskID string, err error) {
	if vmID, err = c.Resolve(ctx, client.VMs, args[0]); err != nil {
		return "", "", err
	}
	diskID, err = c.Resolve(ctx, client.Disks, args[1])
	return vmID, diskID, err
}

// emitAttachment prints what an attach or (de)activate returned.
func (f *cliFlags) emitAttachment(ctx context.Context, c *client.Client, cmd *cobra.Command) func(ovirt.DiskAttachment, error) error {
	return func(a ovirt.DiskAttachment, err error) error {
		if err != nil {
			return err
		}
		return f.emit(cmd, a, func() (*table, error) { return attachmentTable(ctx, c, []ovirt.DiskAttachment{a}) })
	}
}

func newDiskAttachCmd(f *cliFlags) *cobra.Command {
	var af attachFlags
	cmd := &cobra.Command{
		Use:   "attach VM DISK",
		Short: "Attach an existing disk to a VM",
		Args:  cobra.ExactArgs(2),
		RunE: f.run(func(ctx context.Context, c *client.Client, cmd *cobra.Command, args []string) error {
			vmID, diskID, err := vmAndDisk(ctx, c, args)
			if err != nil {
				return err
			}
			return f.emitAttachment(ctx, c, cmd)(c.Attach(ctx, vmID, af.attachment(ovirt.Disk{ID: diskID})))
		}),
	}
	af.register(cmd.Flags())
	return cmd
}

func newDiskDetachCmd(f *cliFlags) *cobra.Command {
	var remove bool
	cmd := &cobra.Command{
		Use:   "detach VM DISK [--remove]",
		Short: "Detach a disk from a VM (and remove it with --remove)",
		Args:  cobra.ExactArgs(2),
		RunE: f.run(func(ctx context.Context, c *client.Client, cmd *cobra.Command, args []string) error {
			vmID, diskID, err := vmAndDisk(ctx, c, args)
			if err != nil {
				return err
			}
			if err := c.Detach(ctx, vmID, diskID, !remove); err != nil {
				return err
			}
			done := "Detached"
			if remove {
				done = "Detached and removed"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s disk %s from VM %s.\n", done, args[1], args[0])
			return nil
		}),
	}
	cmd.Flags().BoolVar(&remove, "remove", false, "remove the disk too")
	return cmd
}

func newDiskActiveCmd(f *cliFlags, name, short string, active bool) *cobra.Command {
	return &cobra.Command{
		Use:   name + " VM DISK",
		Short: short,
		Args:  cobra.ExactArgs(2),
		RunE: f.run(func(ctx context.Context, c *client.Client, cmd *cobra.Command, args []string) error {
			vmID, diskID, err := vmAndDisk(ctx, c, args)
			if err != nil {
				return err
			}
			return f.emitAttachment(ctx, c, cmd)(c.SetActive(ctx, vmID, diskID, active))
		}),
	}
}

// lunOf is a LUN disk's logical unit, or nil for an image.
func lunOf(d ovirt.Disk) *ovirt.LogicalUnit {
	if d.LunStorage == nil || d.LunStorage.LogicalUnits == nil || len(d.LunStorage.LogicalUnits.LogicalUnits) == 0 {
		return nil
	}
	return &d.LunStorage.LogicalUnits.LogicalUnits[0]
}

// diskKind is a disk's type, size and location for a table.
func diskKind(d ovirt.Disk, domains map[string]string) (kind, size, where string) {
	if u := lunOf(d); u != nil {
		return "lun", sizeCell(u.Size), fmt.Sprintf("iscsi://%s:%s/%s/%s", cell(u.Address), intCell(u.Port), cell(u.Target), intCell(u.LunMapping))
	}
	if d.StorageDomains != nil && len(d.StorageDomains.StorageDomains) > 0 {
		where = domains[d.StorageDomains.StorageDomains[0].ID]
	}
	return "image", sizeCell(d.ProvisionedSize), where
}

func diskTable(ctx context.Context, c *client.Client, disks []ovirt.Disk) (*table, error) {
	domains, err := c.Names(ctx, client.StorageDomains)
	if err != nil {
		return nil, err
	}
	t := &table{head: []string{"NAME", "TYPE", "SIZE", "FORMAT", "LOCATION", "STATUS", "SHAREABLE", "SGIO", "ID"}}
	for _, d := range disks {
		kind, size, where := diskKind(d, domains)
		t.add(cell(d.Alias, d.Name), kind, size, cell(d.Format), where, cell(d.Status), yesNo(d.Shareable), cell(d.Sgio), d.ID)
	}
	return t, nil
}

// attachmentTable lists attachments with their disks' names and types.
func attachmentTable(ctx context.Context, c *client.Client, atts []ovirt.DiskAttachment) (*table, error) {
	t := &table{head: []string{"DISK", "INTERFACE", "ACTIVE", "BOOTABLE", "TYPE", "SIZE", "LOGICAL-NAME", "ID"}}
	for _, a := range atts {
		diskID := a.ID
		if a.Disk != nil && a.Disk.ID != "" {
			diskID = a.Disk.ID
		}
		d, err := c.GetDisk(ctx, diskID)
		if err != nil {
			return nil, err
		}
		kind, size, _ := diskKind(d, nil)
		t.add(cell(d.Alias, d.Name), cell(a.Interface), yesNo(a.Active), yesNo(a.Bootable), kind, size, cell(a.LogicalName), diskID)
	}
	return t, nil
}
