package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/govirt/govirt/internal/agent"
	"github.com/govirt/govirt/internal/agent/libvirtconn"
	"github.com/govirt/govirt/internal/api"
	"github.com/govirt/govirt/internal/authz"
	"github.com/govirt/govirt/internal/engine"
	"github.com/govirt/govirt/internal/hostconn"
	"github.com/govirt/govirt/internal/localhost"
	"github.com/govirt/govirt/internal/monitor"
	"github.com/govirt/govirt/internal/pki"
	"github.com/govirt/govirt/internal/portal"
	"github.com/govirt/govirt/internal/store/sqlstore"
	"github.com/govirt/govirt/internal/vmspec"
)

type engineFlags struct {
	db            dbFlags
	listen        string
	tlsCert       string
	tlsKey        string
	localHost     bool
	virtType      string
	libvirtSocket string
	migrationURI  string
	trustStorage  bool
	debugListen   string
	maxColdDisks  int
	lunEnforcer   string
	guardPorts    string
}

func newEngineCmd(g *globalFlags) *cobra.Command {
	f := &engineFlags{}
	cmd := &cobra.Command{
		Use:   "engine",
		Short: "Run the engine: the oVirt-compatible REST API, database, permissions and address allocation",
		Long: `The engine serves /ovirt-engine/api and the SSO endpoint /ovirt-engine/sso.

On first start it creates admin@internal with the password in
GOVIRT_ADMIN_PASSWORD, or generates one and prints it once.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := g.logger(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			return runEngine(cmd.Context(), f, log, cmd.OutOrStdout())
		},
	}
	fl := cmd.Flags()
	f.db.register(fl)
	fl.StringVar(&f.listen, "listen", "127.0.0.1:8080", "address of the REST API")
	fl.StringVar(&f.tlsCert, "tls-cert", "", "certificate (PEM) to serve HTTPS")
	fl.StringVar(&f.tlsKey, "tls-key", "", "private key (PEM) of --tls-cert")
	fl.BoolVar(&f.localHost, "local-host", false, "run an agent for this machine in-process and register it as host \"local\"")
	fl.StringVar(&f.virtType, "virt-type", string(vmspec.VirtKVM), "virtualization type of the local host: kvm, or qemu (TCG) where KVM is unusable")
	fl.StringVar(&f.libvirtSocket, "libvirt-socket", libvirtconn.DefaultSocket, "libvirtd's socket, for --local-host")
	fl.StringVar(&f.migrationURI, "migration-uri", "", "for --local-host: the libvirt URI other hosts' libvirtd use to reach this one's in a live migration (as govirt agent --migration-uri)")
	fl.BoolVar(&f.trustStorage, "migration-trust-storage", false, "for --local-host: as govirt agent --migration-trust-storage")
	fl.StringVar(&f.debugListen, "debug-listen", "", "serve Go's profiler (/debug/pprof/) on this address, e.g. 127.0.0.1:6060 (off when empty)")
	fl.IntVar(&f.maxColdDisks, "max-cold-disks", 0, maxColdDisksHelp+", for --local-host")
	fl.StringVar(&f.lunEnforcer, "lun-enforcer", agent.EnforceGuard, lunEnforcerHelp+", for --local-host")
	fl.StringVar(&f.guardPorts, "guard-ports", "", guardPortsHelp+", for --local-host")
	return cmd
}

func runEngine(ctx context.Context, f *engineFlags, log *slog.Logger, out io.Writer) error {
	if (f.tlsCert == "") != (f.tlsKey == "") {
		return errors.New("--tls-cert and --tls-key go together")
	}
	if err := serveDebug(ctx, f.debugListen, log); err != nil {
		return err
	}
	st, err := f.db.openStore(ctx, log)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := bootstrapAdmin(ctx, st, out); err != nil {
		return err
	}
	ca, pkiFiles, err := pki.EnsureEngine(filepath.Join(f.db.stateDir, "pki"))
	if err != nil {
		return err
	}
	hosts := hostconn.New(st, &hostconn.TLS{CA: ca, Files: pkiFiles})
	defer hosts.Close()
	eng := engine.New(engine.Deps{Store: st, Hosts: hosts, Enroller: hosts, Log: log})
	if f.localHost {
		vt := vmspec.VirtType(f.virtType)
		if vt != vmspec.VirtKVM && vt != vmspec.VirtQEMU {
			return fmt.Errorf("--virt-type: %q is neither kvm nor qemu", f.virtType)
		}
		stateDir, err := filepath.Abs(f.db.stateDir)
		if err != nil {
			return err
		}
		guardPorts, err := parseGuardPorts(f.guardPorts)
		if err != nil {
			return err
		}
		local, err := localhost.Start(ctx, eng, st, localhost.Config{StateDir: stateDir, VirtType: vt, LibvirtSocket: f.libvirtSocket, MigrationURI: f.migrationURI, MigrationTrustStorage: f.trustStorage, MaxColdDisks: f.maxColdDisks, LUNEnforcer: f.lunEnforcer, GuardPorts: guardPorts}, log)
		if err != nil {
			return err
		}
		defer local.Stop()
	}
	if err := eng.EnsureSCSIPolicyPresets(ctx); err != nil {
		return err
	}
	if err := eng.RecoverAtStart(ctx); err != nil {
		return fmt.Errorf("recover what the last run left half-done: %w", err)
	}
	mon := &monitor.Monitor{Store: st, Engine: eng, Hosts: hosts, Log: log}
	go mon.Run(ctx)
	srv := &http.Server{
		// The portal at /, the API and SSO below /ovirt-engine/.
		Handler:           portal.Mount(api.New(api.Deps{Engine: eng, Store: eng.Store(), Auth: api.NewStoreAuth(st), Log: log})),
		ReadHeaderTimeout: 10 * time.Second,
	}
	lis, err := net.Listen("tcp", f.listen)
	if err != nil {
		return err
	}
	scheme := "http"
	if f.tlsCert != "" {
		scheme = "https"
	}
	log.Info("engine serving", "url", fmt.Sprintf("%s://%s%s", scheme, lis.Addr(), api.Prefix), "db", f.db.dsn())
	errc := make(chan error, 1)
	go func() {
		if f.tlsCert != "" {
			errc <- srv.ServeTLS(lis, f.tlsCert, f.tlsKey)
		} else {
			errc <- srv.Serve(lis)
		}
	}()
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	case err := <-errc:
		return err
	}
}

// bootstrapAdmin creates admin@internal on the first start.
func bootstrapAdmin(ctx context.Context, st *sqlstore.DB, out io.Writer) error {
	pw := os.Getenv("GOVIRT_ADMIN_PASSWORD")
	generated := pw == ""
	if generated {
		b := make([]byte, 18)
		if _, err := rand.Read(b); err != nil {
			return err
		}
		pw = base64.RawURLEncoding.EncodeToString(b)
	}
	created, err := authz.Bootstrap(ctx, st, pw)
	if err != nil {
		return fmt.Errorf("bootstrap admin@internal: %w", err)
	}
	if created && generated {
		fmt.Fprintf(out, "Created admin@internal with password: %s\n(shown once; set GOVIRT_ADMIN_PASSWORD to choose it)\n", pw)
	}
	return nil
}
