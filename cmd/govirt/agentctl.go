package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/credentials"

	"github.com/govirt/govirt/internal/agent"
	"github.com/govirt/govirt/internal/agentrpc"
	"github.com/govirt/govirt/internal/vmspec"
)

// agentctl talks to one host agent directly, as vdsm-client does for VDSM:
// for debugging a host and for the demo, without an engine.
type agentctlFlags struct {
	addr, cert, key, ca, serverName string
	timeout                         time.Duration
}

func newAgentctlCmd() *cobra.Command {
	f := &agentctlFlags{}
	cmd := &cobra.Command{
		Use:   "agentctl",
		Short: "Call a host agent directly (debugging; the engine normally does this)",
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&f.addr, "addr", "unix:///run/govirt/agent.sock", "agent address: unix:///PATH or HOST:PORT (mTLS)")
	pf.StringVar(&f.cert, "tls-cert", "", "client certificate for HOST:PORT")
	pf.StringVar(&f.key, "tls-key", "", "client key")
	pf.StringVar(&f.ca, "tls-ca", "", "CA of the agent's certificate")
	pf.StringVar(&f.serverName, "server-name", "", "name in the agent's certificate (default: the host of --addr)")
	pf.DurationVar(&f.timeout, "timeout", 5*time.Minute, "how long one call may take")

	type call func(ctx context.Context, c *agentrpc.Client, args []string) (any, error)
	add := func(use, short string, args cobra.PositionalArgs, fn call) {
		cmd.AddCommand(&cobra.Command{
			Use: use, Short: short, Args: args,
			RunE: func(cc *cobra.Command, a []string) error {
				ctx, cancel := context.WithTimeout(cc.Context(), f.timeout)
				defer cancel()
				c, err := f.dial(ctx)
				if err != nil {
					return err
				}
				defer c.Close()
				out, err := fn(ctx, c, a)
				if err != nil || out == nil {
					return err
				}
				return printJSON(cc.OutOrStdout(), out)
			},
		})
	}
	add("ping", "Show the agent's host id and versions", cobra.NoArgs, func(ctx context.Context, c *agentrpc.Client, _ []string) (any, error) {
		return c.Ping(ctx)
	})
	add("list", "List the VMs this agent runs", cobra.NoArgs, func(ctx context.Context, c *agentrpc.Client, _ []string) (any, error) {
		return c.ListVMs(ctx)
	})
	add("start SPEC.json", "Start a VM from a vmspec JSON file", cobra.ExactArgs(1), func(ctx context.Context, c *agentrpc.Client, a []string) (any, error) {
		var vm vmspec.VM
		if err := readJSON(a[0], &vm); err != nil {
			return nil, err
		}
		return nil, c.StartVM(ctx, vm)
	})
	add("shutdown VM_ID", "Shut a VM down gracefully (power off after 2 minutes)", cobra.ExactArgs(1), func(ctx context.Context, c *agentrpc.Client, a []string) (any, error) {
		return nil, c.ShutdownVM(ctx, a[0], 2*time.Minute)
	})
	add("destroy VM_ID", "Power a VM off at once", cobra.ExactArgs(1), func(ctx context.Context, c *agentrpc.Client, a []string) (any, error) {
		return nil, c.DestroyVM(ctx, a[0])
	})
	add("live VM_ID", "Show a running VM's devices as libvirt has them", cobra.ExactArgs(1), func(ctx context.Context, c *agentrpc.Client, a []string) (any, error) {
		return c.LiveVM(ctx, a[0])
	})
	add("hotplug VM_ID DISK.json", "Hot-plug a disk described by a vmspec disk JSON file", cobra.ExactArgs(2), func(ctx context.Context, c *agentrpc.Client, a []string) (any, error) {
		var d vmspec.Disk
		if err := readJSON(a[1], &d); err != nil {
			return nil, err
		}
		return nil, c.HotPlugDisk(ctx, a[0], d)
	})
	add("unplug VM_ID DISK_ID", "Hot-unplug a disk and wait until the guest released it", cobra.ExactArgs(2), func(ctx context.Context, c *agentrpc.Client, a []string) (any, error) {
		return nil, c.HotUnplugDisk(ctx, a[0], a[1], 0)
	})
	add("guest-disks VM_ID", "Ask the guest agent which disks the guest sees", cobra.ExactArgs(1), func(ctx context.Context, c *agentrpc.Client, a []string) (any, error) {
		return c.GuestDisks(ctx, a[0])
	})
	add("exec VM_ID PATH [ARG...]", "Run a program in the guest through the guest agent", cobra.MinimumNArgs(2), func(ctx context.Context, c *agentrpc.Client, a []string) (any, error) {
		res, err := c.GuestExec(ctx, a[0], a[1], a[2:], nil, time.Minute)
		if err != nil {
			return nil, err
		}
		return struct {
			ExitCode int    `json:"exit_code"`
			Stdout   string `json:"stdout"`
			Stderr   string `json:"stderr"`
		}{res.ExitCode, string(res.Stdout), string(res.Stderr)}, nil
	})
	add("volume-create DOMAIN_DIR VOLUME_ID SIZE_BYTES [raw|qcow2]", "Create an image volume in a storage domain directory", cobra.RangeArgs(3, 4), func(ctx context.Context, c *agentrpc.Client, a []string) (any, error) {
		size, err := strconv.ParseUint(a[2], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("size: %w", err)
		}
		format := vmspec.FormatQCOW2
		if len(a) == 4 {
			format = vmspec.Format(a[3])
		}
		p, err := c.CreateVolume(ctx, agent.Volume{DomainDir: a[0], VolumeID: a[1], Format: format, SizeBytes: size})
		return map[string]string{"path": p}, err
	})
	return cmd
}

func (f *agentctlFlags) dial(ctx context.Context) (*agentrpc.Client, error) {
	var creds credentials.TransportCredentials
	if f.cert != "" || f.key != "" || f.ca != "" {
		var err error
		creds, err = agentrpc.ClientTLS(f.cert, f.key, f.ca, f.serverName)
		if err != nil {
			return nil, err
		}
	}
	return agentrpc.Dial(ctx, f.addr, creds)
}

func readJSON(path string, v any) error {
	var r io.Reader = os.Stdin
	if path != "-" {
		fh, err := os.Open(path)
		if err != nil {
			return err
		}
		defer fh.Close()
		r = fh
	}
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
