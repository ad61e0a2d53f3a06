package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/govirt/govirt/internal/api/ovirt"
	"github.com/govirt/govirt/internal/client"
)

func newSCSIPolicyCmd(f *cliFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "scsi-policy", Short: "List and define SCSI command policies for pass-through LUNs, and give a disk one"}
	list := &cobra.Command{
		Use:   "list",
		Short: "List the policies: the built-in filtered and unfiltered, and custom ones",
		Args:  cobra.NoArgs,
		RunE: f.run(func(ctx context.Context, c *client.Client, cmd *cobra.Command, _ []string) error {
			ps, err := c.ListSCSIPolicies(ctx)
			if err != nil {
				return err
			}
			return f.emit(cmd, ps, func() (*table, error) { return scsiPolicyTable(ps), nil })
		}),
	}
	var description, base string
	var allow, deny []string
	add := &cobra.Command{
		Use:   "add NAME --base filtered|unfiltered|none [--allow RULE]... [--deny RULE]...",
		Short: "Define a policy; rules are command names (persistent-reserve-out), 0xNN or 0xNN/0xSA",
		Args:  cobra.ExactArgs(1),
		RunE: f.run(func(ctx context.Context, c *client.Client, cmd *cobra.Command, args []string) error {
			p, err := c.AddSCSIPolicy(ctx, args[0], description, base, allow, deny)
			if err != nil {
				return err
			}
			return f.emit(cmd, p, func() (*table, error) { return scsiPolicyTable([]ovirt.SCSIPolicy{p}), nil })
		}),
	}
	fl := add.Flags()
	fl.StringVar(&description, "description", "", "what the policy is for")
	fl.StringVar(&base, "base", "filtered", "what is allowed before the rules: filtered, unfiltered or none")
	fl.StringArrayVar(&allow, "allow", nil, "a command to allow (repeatable)")
	fl.StringArrayVar(&deny, "deny", nil, "a command to deny (repeatable)")
	remove := &cobra.Command{
		Use:   "remove NAME|ID",
		Short: "Remove a custom policy no disk uses",
		Args:  cobra.ExactArgs(1),
		RunE: f.run(func(ctx context.Context, c *client.Client, cmd *cobra.Command, args []string) error {
			id, err := c.Resolve(ctx, client.SCSIPolicies, args[0])
			if err == nil {
				err = c.RemoveSCSIPolicy(ctx, id)
			}
			if err == nil {
				fmt.Fprintf(cmd.OutOrStdout(), "Removed SCSI policy %s.\n", args[0])
			}
			return err
		}),
	}
	set := &cobra.Command{
		Use:   "set DISK POLICY",
		Short: "Give a pass-through LUN disk a policy; a running guest is held to it at once",
		Args:  cobra.ExactArgs(2),
		RunE: f.run(func(ctx context.Context, c *client.Client, cmd *cobra.Command, args []string) error {
			id, err := c.Resolve(ctx, client.Disks, args[0])
			if err != nil {
				return err
			}
			d, err := c.SetSCSIPolicy(ctx, id, args[1])
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Disk %s is held to SCSI policy %s.\n", args[0], cell(d.SgioEffective))
			return nil
		}),
	}
	cmd.AddCommand(list, add, remove, set)
	return cmd
}

func scsiPolicyTable(ps []ovirt.SCSIPolicy) *table {
	t := &table{head: []string{"NAME", "BASE", "ALLOW", "DENY", "BUILT-IN"}}
	rules := func(r *ovirt.Rules) string {
		if r == nil {
			return ""
		}
		return strings.Join(r.Rules, ",")
	}
	for _, p := range ps {
		t.add(cell(p.Name), cell(p.Base), rules(p.Allow), rules(p.Deny), yesNo(p.BuiltIn))
	}
	return t
}
