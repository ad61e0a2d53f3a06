package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/govirt/govirt/internal/engine"
)

// newConfigCmd is govirt's engine-config: show and change per-version
// configuration values such as VirtIOScsiEnabled.
func newConfigCmd(g *globalFlags) *cobra.Command {
	f := &dbFlags{}
	var version string
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Show and change engine configuration values (like oVirt's engine-config)",
	}
	f.register(cmd.PersistentFlags())
	get := &cobra.Command{
		Use:   "get [KEY]",
		Short: "Show a value for every compatibility version (or one, with --version)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			log, err := g.logger(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			e, closeDB, err := f.openEngine(cmd.Context(), log)
			if err != nil {
				return err
			}
			defer closeDB()
			key := ""
			if len(args) == 1 {
				key = args[0]
			}
			entries, err := e.ListConfig(cmd.Context(), key)
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 2, 4, 2, ' ', 0)
			fmt.Fprintln(w, "KEY\tVERSION\tVALUE\t")
			for _, en := range entries {
				if version != "" && en.Version != version {
					continue
				}
				def := ""
				if en.Default {
					def = "(default)"
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", en.Key, en.Version, en.Value, def)
			}
			return w.Flush()
		},
	}
	set := &cobra.Command{
		Use:   "set KEY=VALUE --version X.Y",
		Short: "Change a value for one compatibility version",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			key, value, ok := strings.Cut(args[0], "=")
			if !ok {
				return fmt.Errorf("want KEY=VALUE, got %q", args[0])
			}
			if version == "" {
				return fmt.Errorf("--version is required (one of the cluster levels, e.g. 4.8)")
			}
			log, err := g.logger(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			e, closeDB, err := f.openEngine(cmd.Context(), log)
			if err != nil {
				return err
			}
			defer closeDB()
			ctx := engine.WithCaller(cmd.Context(), "admin@internal (govirt config)")
			if err := e.SetConfig(ctx, key, version, value); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s for version %s is now %s\n", key, version, value)
			return nil
		},
	}
	for _, c := range []*cobra.Command{get, set} {
		c.Flags().StringVar(&version, "version", "", "compatibility version, e.g. 4.8")
	}
	cmd.AddCommand(get, set)
	return cmd
}
