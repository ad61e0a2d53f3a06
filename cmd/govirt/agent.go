package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/spf13/cobra"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/govirt/govirt/internal/agent"
	"github.com/govirt/govirt/internal/agent/libvirtconn"
	"github.com/govirt/govirt/internal/agentrpc"
	"github.com/govirt/govirt/internal/agentserver"
	"github.com/govirt/govirt/internal/enroll"
	"github.com/govirt/govirt/internal/vmspec"
)

type agentFlags struct {
	listen        string
	tlsCert       string
	tlsKey        string
	tlsCA         string
	libvirtSocket string
	libvirtURI    string
	hostID        string
	virtType      string
	stateDir      string
	migrationURI  string
	trustStorage  bool
	maxColdDisks  int
	lunEnforcer   string
	guardPorts    string
}

func newAgentCmd(g *globalFlags) *cobra.Command {
	f := &agentFlags{}
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run the host agent: it starts VMs and hot-plugs disks on this host through libvirt",
		Long: `The host agent (VDSM's role) serves the engine over gRPC.

--listen unix:PATH serves a local engine over a unix socket (mode 0600).
--listen HOST:PORT serves a remote engine over mutual TLS. On first start the
agent prints a one-time bootstrap secret and waits: add the host to the engine
(POST /hosts with address, port and the secret as root_password); the engine signs the agent's key and from then on only
clients with the engine's certificate get in. --tls-cert, --tls-key and
--tls-ca give certificates made by other means instead.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := g.logger(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			return runAgent(cmd.Context(), f, log)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.listen, "listen", "unix:/run/govirt/agent.sock", "address to serve on: unix:PATH or HOST:PORT (mTLS)")
	fl.StringVar(&f.tlsCert, "tls-cert", "", "agent certificate (PEM), for HOST:PORT")
	fl.StringVar(&f.tlsKey, "tls-key", "", "agent private key (PEM)")
	fl.StringVar(&f.tlsCA, "tls-ca", "", "CA that signs engine client certificates (PEM)")
	fl.StringVar(&f.libvirtSocket, "libvirt-socket", libvirtconn.DefaultSocket, "libvirtd's socket")
	fl.StringVar(&f.libvirtURI, "libvirt-uri", "qemu:///system", "the libvirt driver to open on --libvirt-socket (qemu:///session for an unprivileged user's session libvirtd)")
	fl.StringVar(&f.hostID, "host-id", "", "this host's id in the engine (default: generated once and kept in the state dir)")
	fl.StringVar(&f.virtType, "virt-type", string(vmspec.VirtKVM), "virtualization type for VMs that do not say: kvm, or qemu (TCG) where KVM is unusable")
	fl.StringVar(&f.stateDir, "state-dir", "/var/lib/govirt/agent", "directory for the agent's state (host id, consoles)")
	fl.StringVar(&f.migrationURI, "migration-uri", "", "libvirt URI other hosts' libvirtd use to reach this host's for live migration, e.g. qemu+tls://HOST/system (default: none, the host takes no incoming migrations)")
	fl.BoolVar(&f.trustStorage, "migration-trust-storage", false, "migrate VMs whose disks are on a filesystem libvirt does not know as shared (libvirt's --unsafe); the destination still checks it sees every volume")
	fl.IntVar(&f.maxColdDisks, "max-cold-disks", 0, maxColdDisksHelp)
	fl.StringVar(&f.lunEnforcer, "lun-enforcer", agent.EnforceGuard, lunEnforcerHelp)
	fl.StringVar(&f.guardPorts, "guard-ports", "", guardPortsHelp)
	return cmd
}

// lunEnforcerHelp describes --lun-enforcer of the agent and the local host.
const lunEnforcerHelp = "how the SCSI command policy of pass-through iSCSI LUNs is enforced: " +
	"guard (QEMU reaches the target through a diverted port; the agent rewrites refused commands in the kernel's queue, needs iptables) " +
	"or proxy (a user-space iSCSI proxy on loopback)"

// guardPortsHelp describes --guard-ports of the agent and the local host.
const guardPortsHelp = "LO-HI: the local ports the guards of pass-through iSCSI LUNs divert QEMU's connections through, each also a netfilter queue number " +
	"(default 20000-29999: below Linux's ephemeral ports)"

// parseGuardPorts reads --guard-ports; empty is the agent's default.
func parseGuardPorts(s string) ([2]uint16, error) {
	if s == "" {
		return [2]uint16{}, nil
	}
	lo, hi, ok := strings.Cut(s, "-")
	l, err1 := strconv.ParseUint(lo, 10, 16)
	h, err2 := strconv.ParseUint(hi, 10, 16)
	if !ok || err1 != nil || err2 != nil || l == 0 || l > h {
		return [2]uint16{}, fmt.Errorf("--guard-ports %q: want LO-HI, 1 <= LO <= HI <= 65535", s)
	}
	return [2]uint16{uint16(l), uint16(h)}, nil
}

// maxColdDisksHelp describes --max-cold-disks of the agent and the local host.
const maxColdDisksHelp = "start VMs with more virtio-SCSI disks than this in stages (created paused, the rest attached, then run); " +
	"0: only when QEMU's command line would pass the kernel's limit"

func runAgent(ctx context.Context, f *agentFlags, log *slog.Logger) error {
	vt := vmspec.VirtType(f.virtType)
	if vt != vmspec.VirtKVM && vt != vmspec.VirtQEMU {
		return fmt.Errorf("--virt-type: %q is neither kvm nor qemu", f.virtType)
	}
	if err := os.MkdirAll(f.stateDir, 0o755); err != nil {
		return fmt.Errorf("state dir: %w", err)
	}
	hostID, err := loadHostID(f.stateDir, f.hostID)
	if err != nil {
		return err
	}
	guardPorts, err := parseGuardPorts(f.guardPorts)
	if err != nil {
		return err
	}
	creds, err := agentCredentials(ctx, f, hostID, log)
	if err != nil {
		return err
	}
	r, err := agentserver.Start(ctx, agentserver.Config{
		Agent:  agent.Config{HostID: hostID, VirtType: vt, StateDir: f.stateDir, MigrationURI: f.migrationURI, MigrationTrustStorage: f.trustStorage, MaxColdDisks: f.maxColdDisks, LUNEnforcer: f.lunEnforcer, GuardPorts: guardPorts},
		Listen: f.listen, Creds: creds, LibvirtSocket: f.libvirtSocket, LibvirtURI: f.libvirtURI,
	}, log)
	if err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		log.Info("agent stopping")
		r.Stop()
		return nil
	case err := <-r.Done():
		r.Stop()
		return err
	}
}

// agentCredentials chooses transport security from the listen address: a
// unix socket is protected by its file mode, TCP always needs mutual TLS,
// with the given files or with those an engine's enrolment installs (the
// agent waits for it, printing its bootstrap secret, before serving VMs).
func agentCredentials(ctx context.Context, f *agentFlags, hostID string, log *slog.Logger) (credentials.TransportCredentials, error) {
	if strings.HasPrefix(f.listen, "unix:") {
		return insecure.NewCredentials(), nil
	}
	given := f.tlsCert != "" || f.tlsKey != "" || f.tlsCA != ""
	if given {
		if f.tlsCert == "" || f.tlsKey == "" || f.tlsCA == "" {
			return nil, errors.New("--tls-cert, --tls-key and --tls-ca go together (or give none and let the engine enrol the agent)")
		}
		return agentrpc.ServerTLS(f.tlsCert, f.tlsKey, f.tlsCA)
	}
	hostname, _ := os.Hostname()
	files, err := enroll.WaitEnrolled(ctx, enroll.AgentConfig{
		Listen: f.listen, Dir: filepath.Join(f.stateDir, "pki"), SecretFile: filepath.Join(f.stateDir, "bootstrap-secret"),
		HostID: hostID, Hostname: hostname, Out: os.Stdout, Log: log,
	})
	if err != nil {
		return nil, err
	}
	return agentrpc.ServerTLS(files.Cert, files.Key, files.CA)
}

// loadHostID returns the flag's id, or the one kept in the state dir, or a
// new one saved there, so an agent keeps its identity across restarts.
func loadHostID(stateDir, flag string) (string, error) {
	p := filepath.Join(stateDir, "host-id")
	if flag != "" {
		return flag, nil
	}
	if b, err := os.ReadFile(p); err == nil {
		if id := strings.TrimSpace(string(b)); id != "" {
			return id, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read host id: %w", err)
	}
	id := uuid.NewString()
	if err := os.WriteFile(p, []byte(id+"\n"), 0o644); err != nil {
		return "", fmt.Errorf("save host id: %w", err)
	}
	return id, nil
}
