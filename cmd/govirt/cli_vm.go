package main

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/govirt/govirt/internal/api/ovirt"
	"github.com/govirt/govirt/internal/client"
)

// pollInterval is how often a waiting start or stop reads the VM.
var pollInterval = time.Second

func newVMCmd(f *cliFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "vm", Short: "List, create, show, start and stop VMs"}
	var search string
	list := &cobra.Command{
		Use:   "list [--search name=PATTERN]",
		Short: "List the VMs",
		Args:  cobra.NoArgs,
		RunE: f.run(func(ctx context.Context, c *client.Client, cmd *cobra.Command, _ []string) error {
			vms, err := c.ListVMs(ctx, search)
			if err != nil {
				return err
			}
			return f.emit(cmd, vms, func() (*table, error) { return vmTable(ctx, c, vms) })
		}),
	}
	list.Flags().StringVar(&search, "search", "", "oVirt search, e.g. name=web*")
	show := &cobra.Command{
		Use:   "show NAME|ID",
		Short: "Show a VM and its disks",
		Args:  cobra.ExactArgs(1),
		RunE: f.run(func(ctx context.Context, c *client.Client, cmd *cobra.Command, args []string) error {
			id, err := c.Resolve(ctx, client.VMs, args[0])
			if err != nil {
				return err
			}
			vm, err := c.GetVM(ctx, id)
			if err != nil {
				return err
			}
			return f.emit(cmd, vm, func() (*table, error) { return vmDetails(ctx, c, vm) })
		}),
	}
	cmd.AddCommand(list, show, newVMAddCmd(f),
		newVMActionCmd(f, "start", "Start a VM and wait until it is up", "starting", "up", (*client.Client).StartVM),
		newVMActionCmd(f, "stop", "Power a VM off", "stopping", "down", (*client.Client).StopVM),
		newVMActionCmd(f, "shutdown", "Shut a VM down through its guest and wait until it is down", "shutting down", "down", (*client.Client).ShutdownVM),
		newVMMigrateCmd(f))
	return cmd
}

// newVMMigrateCmd live-migrates a running VM; the engine answers once it
// runs on its new host (or failed and still runs on the old one).
func newVMMigrateCmd(f *cliFlags) *cobra.Command {
	var host string
	cmd := &cobra.Command{
		Use:   "migrate NAME|ID",
		Short: "Live-migrate a running VM to another host of its cluster",
		Args:  cobra.ExactArgs(1),
		RunE: f.run(func(ctx context.Context, c *client.Client, cmd *cobra.Command, args []string) error {
			id, err := c.Resolve(ctx, client.VMs, args[0])
			if err != nil {
				return err
			}
			p := startProgress(cmd, "migrating "+args[0])
			defer p.end()
			vm, err := c.MigrateVM(ctx, id, host)
			if err != nil {
				return err
			}
			p.end()
			if f.output == "json" {
				return printJSON(cmd.OutOrStdout(), vm)
			}
			on := ""
			if vm.Host != nil {
				on = " on host " + vm.Host.ID
				if names, err := c.Names(ctx, client.Hosts); err == nil && names[vm.Host.ID] != "" {
					on = " on host " + names[vm.Host.ID]
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "VM %s is %s%s (%s).\n", cell(vm.Name), cell(vm.Status), on, p.elapsed().Round(time.Millisecond))
			return nil
		}),
	}
	cmd.Flags().StringVar(&host, "host", "", "destination host (name or id); default: the engine picks one")
	return cmd
}

func vcpus(vm ovirt.VM) string {
	if vm.CPU == nil || vm.CPU.Topology == nil {
		return ""
	}
	n := int64(1)
	for _, v := range []*ovirt.Int{vm.CPU.Topology.Sockets, vm.CPU.Topology.Cores, vm.CPU.Topology.Threads} {
		if v != nil {
			n *= int64(*v)
		}
	}
	return strconv.FormatInt(n, 10)
}

func osType(vm ovirt.VM) string {
	if vm.OS == nil {
		return ""
	}
	return cell(vm.OS.Type)
}

func virtioSCSI(vm ovirt.VM) string {
	if vm.VirtioSCSI == nil {
		return ""
	}
	return yesNo(vm.VirtioSCSI.Enabled)
}

// vmTable lists VMs with their host's name and their number of disks.
func vmTable(ctx context.Context, c *client.Client, vms []ovirt.VM) (*table, error) {
	hosts, err := c.Names(ctx, client.Hosts)
	if err != nil {
		return nil, err
	}
	t := &table{head: []string{"NAME", "STATUS", "HOST", "OS", "VIRTIO-SCSI", "DISKS", "MEMORY", "VCPUS", "ID"}}
	for _, vm := range vms {
		atts, err := c.ListAttachments(ctx, vm.ID)
		if err != nil {
			return nil, err
		}
		t.add(cell(vm.Name), cell(vm.Status), hosts[refID(vm.Host)], osType(vm), virtioSCSI(vm),
			strconv.Itoa(len(atts)), sizeCell(vm.Memory), vcpus(vm), vm.ID)
	}
	return t, nil
}

// vmDetails is one VM as "Key:  value" lines, its disks last.
func vmDetails(ctx context.Context, c *client.Client, vm ovirt.VM) (*table, error) {
	hosts, err := c.Names(ctx, client.Hosts)
	if err != nil {
		return nil, err
	}
	clusters, err := c.Names(ctx, client.Clusters)
	if err != nil {
		return nil, err
	}
	t := &table{}
	t.add("Name:", cell(vm.Name))
	t.add("ID:", vm.ID)
	t.add("Description:", cell(vm.Description))
	t.add("Status:", cell(vm.Status))
	t.add("Host:", hosts[refID(vm.Host)])
	t.add("Cluster:", clusters[refID(vm.Cluster)])
	t.add("OS:", osType(vm))
	t.add("Memory:", sizeCell(vm.Memory))
	t.add("vCPUs:", vcpus(vm))
	if vm.IO != nil {
		t.add("I/O threads:", intCell(vm.IO.Threads))
	}
	t.add("VirtIO-SCSI:", virtioSCSI(vm))
	if vm.OS != nil {
		for _, kv := range []struct {
			k string
			v *string
		}{{"Kernel:", vm.OS.Kernel}, {"Initrd:", vm.OS.Initrd}, {"Cmdline:", vm.OS.Cmdline}} {
			if kv.v != nil {
				t.add(kv.k, *kv.v)
			}
		}
	}
	atts, err := c.ListAttachments(ctx, vm.ID)
	if err != nil {
		return nil, err
	}
	disks, err := attachmentTable(ctx, c, atts)
	if err != nil {
		return nil, err
	}
	t.add("Disks:", strconv.Itoa(len(atts)))
	if len(atts) > 0 {
		t.next = disks
	}
	return t, nil
}

func newVMAddCmd(f *cliFlags) *cobra.Command {
	var name, cluster, desc, osName, memory, kernel, initrd, cmdline string
	var cpus, ioThreads int
	var virtio bool
	cmd := &cobra.Command{
		Use:   "add --name NAME [--cluster Default] [flags]",
		Short: "Create a VM",
		Args:  cobra.NoArgs,
		RunE: f.run(func(ctx context.Context, c *client.Client, cmd *cobra.Command, _ []string) error {
			fl := cmd.Flags()
			in := ovirt.VM{Name: ovirt.Str(name), Cluster: client.RefTo(cluster)}
			if desc != "" {
				in.Description = ovirt.Str(desc)
			}
			if osName != "" || kernel != "" || initrd != "" || cmdline != "" {
				in.OS = &ovirt.OS{}
				for _, p := range []struct {
					dst **string
					v   string
				}{{&in.OS.Type, osName}, {&in.OS.Kernel, kernel}, {&in.OS.Initrd, initrd}, {&in.OS.Cmdline, cmdline}} {
					if p.v != "" {
						*p.dst = ovirt.Str(p.v)
					}
				}
			}
			if memory != "" {
				n, err := parseSize(memory)
				if err != nil {
					return fmt.Errorf("--memory: %w", err)
				}
				in.Memory = ovirt.I(n)
			}
			if fl.Changed("vcpus") {
				in.CPU = &ovirt.CPU{Topology: &ovirt.Topology{Sockets: ovirt.I(int64(cpus)), Cores: ovirt.I(1), Threads: ovirt.I(1)}}
			}
			if fl.Changed("io-threads") {
				in.IO = &ovirt.IO{Threads: ovirt.I(int64(ioThreads))}
			}
			if fl.Changed("virtio-scsi") {
				in.VirtioSCSI = &ovirt.VirtioSCSI{Enabled: ovirt.B(virtio)}
			}
			vm, err := c.AddVM(ctx, in)
			if err != nil {
				return err
			}
			return f.emit(cmd, vm, func() (*table, error) { return vmTable(ctx, c, []ovirt.VM{vm}) })
		}),
	}
	fl := cmd.Flags()
	fl.StringVar(&name, "name", "", "the VM's name (required)")
	fl.StringVar(&cluster, "cluster", "Default", "cluster, by name or id")
	fl.StringVar(&desc, "description", "", "description")
	fl.StringVar(&osName, "os", "", "guest OS type, e.g. debian (see /ovirt-engine/api/operatingsystems)")
	fl.StringVar(&memory, "memory", "", "memory, e.g. 1GiB or 512MiB")
	fl.IntVar(&cpus, "vcpus", 1, "number of vCPUs")
	fl.IntVar(&ioThreads, "io-threads", 0, "number of I/O threads")
	fl.BoolVar(&virtio, "virtio-scsi", false, "give the VM a VirtIO-SCSI controller, or none with --virtio-scsi=false (default: as the cluster's VirtIOScsiEnabled says)")
	fl.StringVar(&kernel, "kernel", "", "kernel to boot directly (a path on the host)")
	fl.StringVar(&initrd, "initrd", "", "initrd for --kernel")
	fl.StringVar(&cmdline, "cmdline", "", "kernel command line for --kernel")
	_ = cmd.MarkFlagRequired("name")
	return cmd
}

// vmAction is one of the client's start, stop and shutdown.
type vmAction func(*client.Client, context.Context, string) (ovirt.VM, error)

// newVMActionCmd builds start, stop and shutdown: the call, then (with
// --wait) polling until the VM reaches want, with a spinner on a terminal.
func newVMActionCmd(f *cliFlags, name, short, doing, want string, act vmAction) *cobra.Command {
	wait := true
	timeout := 5 * time.Minute
	cmd := &cobra.Command{
		Use:   name + " NAME|ID",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: f.run(func(ctx context.Context, c *client.Client, cmd *cobra.Command, args []string) error {
			id, err := c.Resolve(ctx, client.VMs, args[0])
			if err != nil {
				return err
			}
			p := startProgress(cmd, doing+" "+args[0])
			defer p.end()
			vm, err := act(c, ctx, id)
			if err != nil {
				return err
			}
			if wait {
				if vm, err = waitForStatus(ctx, c, vm, want, timeout, p); err != nil {
					return err
				}
			}
			p.end()
			if f.output == "json" {
				return printJSON(cmd.OutOrStdout(), vm)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "VM %s is %s (%s).\n", cell(vm.Name), cell(vm.Status), p.elapsed().Round(time.Millisecond))
			return nil
		}),
	}
	cmd.Flags().BoolVar(&wait, "wait", wait, "wait until the VM is "+want)
	cmd.Flags().DurationVar(&timeout, "timeout", timeout, "how long to wait")
	return cmd
}

// waitForStatus polls the VM until its status is want; a start that ends
// down has failed.
func waitForStatus(ctx context.Context, c *client.Client, vm ovirt.VM, want string, timeout time.Duration, p *progress) (ovirt.VM, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		status := cell(vm.Status)
		switch {
		case status == want:
			return vm, nil
		case want == "up" && status == "down":
			return vm, fmt.Errorf("VM %s went down while starting; see `govirt vm show` and the engine's events", cell(vm.Name))
		}
		p.set(fmt.Sprintf("%s: %s", cell(vm.Name), status))
		select {
		case <-ctx.Done():
			return vm, ctx.Err()
		case <-deadline.C:
			return vm, fmt.Errorf("VM %s is still %s after %s", cell(vm.Name), status, timeout)
		case <-tick.C:
		}
		var err error
		if vm, err = c.GetVM(ctx, vm.ID); err != nil {
			return vm, err
		}
	}
}
