package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/govirt/govirt/internal/api/ovirt"
	"github.com/govirt/govirt/internal/client"
)

func newRoleCmd(f *cliFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "role", Short: "List, show, create and remove roles"}
	var search string
	list := &cobra.Command{
		Use:   "list",
		Short: "List the roles, predefined and custom",
		Args:  cobra.NoArgs,
		RunE: f.run(func(ctx context.Context, c *client.Client, cmd *cobra.Command, _ []string) error {
			roles, err := c.ListRoles(ctx, search)
			if err != nil {
				return err
			}
			return f.emit(cmd, roles, func() (*table, error) { return roleTable(roles), nil })
		}),
	}
	list.Flags().StringVar(&search, "search", "", "oVirt search, e.g. name=Disk*")
	show := &cobra.Command{
		Use:   "show NAME|ID",
		Short: "Show a role and its permits",
		Args:  cobra.ExactArgs(1),
		RunE: f.run(func(ctx context.Context, c *client.Client, cmd *cobra.Command, args []string) error {
			id, err := c.Resolve(ctx, client.Roles, args[0])
			if err != nil {
				return err
			}
			r, err := c.GetRole(ctx, id)
			if err != nil {
				return err
			}
			permits, err := c.ListPermits(ctx, id)
			if err != nil {
				return err
			}
			r.Permits = &ovirt.Permits{Permits: permits}
			return f.emit(cmd, r, func() (*table, error) {
				t := roleTable([]ovirt.Role{r})
				t.next = &table{head: []string{"PERMIT", "ADMINISTRATIVE", "ID"}}
				for _, p := range permits {
					t.next.add(cell(p.Name), yesNo(p.Administrative), p.ID)
				}
				return t, nil
			})
		}),
	}
	remove := &cobra.Command{
		Use:   "remove NAME|ID",
		Short: "Remove a custom role that no permission grants",
		Args:  cobra.ExactArgs(1),
		RunE: f.run(func(ctx context.Context, c *client.Client, cmd *cobra.Command, args []string) error {
			id, err := c.Resolve(ctx, client.Roles, args[0])
			if err == nil {
				err = c.RemoveRole(ctx, id)
			}
			if err == nil {
				fmt.Fprintf(cmd.OutOrStdout(), "Removed role %s.\n", args[0])
			}
			return err
		}),
	}
	cmd.AddCommand(list, show, newRoleAddCmd(f), remove)
	return cmd
}

func newRoleAddCmd(f *cliFlags) *cobra.Command {
	var name, desc string
	var permits []string
	var admin bool
	cmd := &cobra.Command{
		Use:   "add --name NAME --permit PERMIT [--permit PERMIT…] [--administrative]",
		Short: "Create a custom role",
		Args:  cobra.NoArgs,
		RunE: f.run(func(ctx context.Context, c *client.Client, cmd *cobra.Command, _ []string) error {
			r, err := c.AddRole(ctx, name, desc, admin, permits...)
			if err != nil {
				return err
			}
			return f.emit(cmd, r, func() (*table, error) { return roleTable([]ovirt.Role{r}), nil })
		}),
	}
	fl := cmd.Flags()
	fl.StringVar(&name, "name", "", "the role's name (required)")
	fl.StringVar(&desc, "description", "", "description")
	fl.StringSliceVar(&permits, "permit", nil, "an action group the role grants, e.g. create_vm (repeat, or separate with commas)")
	fl.BoolVar(&admin, "administrative", false, "an administrative role (needed for administrative permits)")
	_ = cmd.MarkFlagRequired("name")
	_ = cmd.MarkFlagRequired("permit")
	return cmd
}

func roleTable(roles []ovirt.Role) *table {
	t := &table{head: []string{"NAME", "ADMINISTRATIVE", "MUTABLE", "DESCRIPTION", "ID"}}
	for _, r := range roles {
		t.add(cell(r.Name), yesNo(r.Administrative), yesNo(r.Mutable), cell(r.Description), r.ID)
	}
	return t
}

// permTarget is the object a permission verb works on, from its flags.
type permTarget struct {
	refs   map[string]*string // by collection
	system bool
}

// permFlags are the target flags: collection, flag and help.
var permFlags = []struct{ coll, flag, what string }{
	{client.VMs, "vm", "a VM"}, {client.Disks, "disk", "a disk"}, {client.Clusters, "cluster", "a cluster"},
	{client.DataCenters, "datacenter", "a data center"}, {client.StorageDomains, "storage-domain", "a storage domain"},
	{client.Hosts, "host", "a host"},
}

func (p *permTarget) register(fs *pflag.FlagSet) {
	p.refs = map[string]*string{}
	for _, pf := range permFlags {
		p.refs[pf.coll] = fs.String(pf.flag, "", "permissions on "+pf.what+", by name or id")
	}
	fs.BoolVar(&p.system, "system", false, "permissions on the system (the default)")
}

// object resolves the target; with no flag it is the system. The label
// names it for tables.
func (p *permTarget) object(ctx context.Context, c *client.Client) (obj client.Object, label string, err error) {
	obj, label = client.System, "system"
	n := 0
	if p.system {
		n++
	}
	for _, pf := range permFlags {
		ref := *p.refs[pf.coll]
		if ref == "" {
			continue
		}
		n++
		id, err := c.Resolve(ctx, pf.coll, ref)
		if err != nil {
			return obj, "", err
		}
		obj, label = client.Object{Collection: pf.coll, ID: id}, pf.flag+" "+ref
	}
	if n > 1 {
		return obj, "", errors.New("give one of --system, --vm, --disk, --cluster, --datacenter, --storage-domain and --host")
	}
	return obj, label, nil
}

func newPermissionCmd(f *cliFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "permission", Short: "List, grant and revoke permissions (a role for a user on an object)"}
	var listOn, addOn, removeOn permTarget
	list := &cobra.Command{
		Use:   "list [--vm NAME|--disk NAME|--cluster NAME|…|--system]",
		Short: "List the permissions granted on an object",
		Args:  cobra.NoArgs,
		RunE: f.run(func(ctx context.Context, c *client.Client, cmd *cobra.Command, _ []string) error {
			obj, label, err := listOn.object(ctx, c)
			if err != nil {
				return err
			}
			perms, err := c.ListPermissions(ctx, obj)
			if err != nil {
				return err
			}
			return f.emit(cmd, perms, func() (*table, error) { return permissionTable(ctx, c, label, perms) })
		}),
	}
	var user, role string
	add := &cobra.Command{
		Use:   "add --user USER@PROFILE --role ROLE [--vm NAME|…|--system]",
		Short: "Grant a user a role on an object",
		Args:  cobra.NoArgs,
		RunE: f.run(func(ctx context.Context, c *client.Client, cmd *cobra.Command, _ []string) error {
			obj, label, err := addOn.object(ctx, c)
			if err != nil {
				return err
			}
			p, err := c.AddPermission(ctx, obj, role, user)
			if err != nil {
				return err
			}
			return f.emit(cmd, p, func() (*table, error) { return permissionTable(ctx, c, label, []ovirt.Permission{p}) })
		}),
	}
	add.Flags().StringVar(&user, "user", "", "the user, as user@profile or id (required)")
	add.Flags().StringVar(&role, "role", "", "the role, by name or id (required)")
	_ = add.MarkFlagRequired("user")
	_ = add.MarkFlagRequired("role")
	remove := &cobra.Command{
		Use:   "remove ID [--vm NAME|…|--system]",
		Short: "Revoke a permission",
		Args:  cobra.ExactArgs(1),
		RunE: f.run(func(ctx context.Context, c *client.Client, cmd *cobra.Command, args []string) error {
			obj, label, err := removeOn.object(ctx, c)
			if err != nil {
				return err
			}
			if err := c.RemovePermission(ctx, obj, args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Removed permission %s on %s.\n", args[0], label)
			return nil
		}),
	}
	listOn.register(list.Flags())
	addOn.register(add.Flags())
	removeOn.register(remove.Flags())
	cmd.AddCommand(list, add, remove)
	return cmd
}

// permissionTable shows permissions with the names of their roles and
// users.
func permissionTable(ctx context.Context, c *client.Client, label string, perms []ovirt.Permission) (*table, error) {
	roles, err := c.Names(ctx, client.Roles)
	if err != nil {
		return nil, err
	}
	users, err := c.Names(ctx, client.Users)
	if err != nil {
		return nil, err
	}
	t := &table{head: []string{"ROLE", "USER", "OBJECT", "ID"}}
	for _, p := range perms {
		var roleID, userID string
		if p.Role != nil {
			roleID = p.Role.ID
		}
		if p.User != nil {
			userID = p.User.ID
		}
		t.add(cmp.Or(roles[roleID], roleID), cmp.Or(users[userID], userID), label, p.ID)
	}
	return t, nil
}
