package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/govirt/govirt/internal/api/ovirt"
	"github.com/govirt/govirt/internal/client"
)

func newHostCmd(f *cliFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "host", Short: "List, add (enrol) and remove hosts"}
	var search string
	list := &cobra.Command{
		Use:   "list",
		Short: "List the hosts with their status",
		Args:  cobra.NoArgs,
		RunE: f.run(func(ctx context.Context, c *client.Client, cmd *cobra.Command, _ []string) error {
			hosts, err := c.ListHosts(ctx, search)
			if err != nil {
				return err
			}
			return f.emit(cmd, hosts, func() (*table, error) { return hostTable(hosts), nil })
		}),
	}
	list.Flags().StringVar(&search, "search", "", "oVirt search, e.g. name=node*")
	var name, address, port, cluster, secret, secretFile string
	add := &cobra.Command{
		Use:   "add --name NAME --address HOST [--port 54321] [--cluster Default] (--secret S | --secret-file F)",
		Short: "Enrol the agent on a host with the bootstrap secret `govirt agent` printed",
		Args:  cobra.NoArgs,
		RunE: f.run(func(ctx context.Context, c *client.Client, cmd *cobra.Command, _ []string) error {
			if secretFile != "" {
				if secret != "" {
					return errors.New("--secret and --secret-file exclude each other")
				}
				b, err := os.ReadFile(secretFile)
				if err != nil {
					return err
				}
				secret = strings.TrimSpace(string(b))
			}
			h, err := c.AddHost(ctx, name, address, port, cluster, secret)
			if err != nil {
				return err
			}
			return f.emit(cmd, h, func() (*table, error) { return hostTable([]ovirt.Host{h}), nil })
		}),
	}
	fl := add.Flags()
	fl.StringVar(&name, "name", "", "the host's name in the engine")
	fl.StringVar(&address, "address", "", "the agent's host name or IP, as the engine reaches it")
	fl.StringVar(&port, "port", "", "the agent's port (54321 when not given)")
	fl.StringVar(&cluster, "cluster", "Default", "the host's cluster")
	fl.StringVar(&secret, "secret", "", "the agent's one-time bootstrap secret (visible to other users in ps: prefer --secret-file)")
	fl.StringVar(&secretFile, "secret-file", "", "a file holding the bootstrap secret, e.g. the agent's STATE/bootstrap-secret")
	_ = add.MarkFlagRequired("name")
	_ = add.MarkFlagRequired("address")
	remove := &cobra.Command{
		Use:   "remove NAME|ID",
		Short: "Remove a host that runs no VM",
		Args:  cobra.ExactArgs(1),
		RunE: f.run(func(ctx context.Context, c *client.Client, cmd *cobra.Command, args []string) error {
			id, err := c.Resolve(ctx, client.Hosts, args[0])
			if err == nil {
				err = c.RemoveHost(ctx, id)
			}
			if err == nil {
				fmt.Fprintf(cmd.OutOrStdout(), "Removed host %s.\n", args[0])
			}
			return err
		}),
	}
	cmd.AddCommand(list, add, remove)
	return cmd
}

func hostTable(hosts []ovirt.Host) *table {
	t := &table{head: []string{"NAME", "STATUS", "ADDRESS", "PORT", "ID"}}
	for _, h := range hosts {
		t.add(cell(h.Name), cell(h.Status), cell(h.Address), cell(h.Port), h.ID)
	}
	return t
}
