package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/govirt/govirt/internal/agent"
	"github.com/govirt/govirt/internal/api"
	"github.com/govirt/govirt/internal/authz"
	"github.com/govirt/govirt/internal/engine"
	"github.com/govirt/govirt/internal/model"
	"github.com/govirt/govirt/internal/store"
	"github.com/govirt/govirt/internal/store/sqlstore"
	"github.com/govirt/govirt/internal/store/sqlstore/sqltest"
	"github.com/govirt/govirt/internal/vmspec"
)

const cliAdminPassword = "admin-secret"

// cliEngine is a real engine on SQLite with the real StoreAuth behind
// httptest, with a data center, the cluster Default and the storage domain
// local, and no hosts unless asked for one. The session file lives in a
// temporary XDG_CONFIG_HOME.
type cliEngine struct {
	t   *testing.T
	url string
	st  *sqlstore.DB
}

// nopHost is a host that does what the engine asks without doing
// anything; calls it does not override panic. nopHosts dials it.
type (
	nopHost  struct{ engine.Host }
	nopHosts struct{}
)

func (nopHosts) Host(context.Context, string) (engine.Host, error) { return nopHost{}, nil }

func (nopHost) StartVM(_ context.Context, vm vmspec.VM) error {
	if vm.Name == "broken" {
		return errors.New("libvirt: out of memory")
	}
	return nil
}
func (nopHost) DestroyVM(context.Context, string) error { return nil }
func (nopHost) CreateVolume(_ context.Context, v agent.Volume) (string, error) {
	return v.VolumeID, nil
}
func (nopHost) RemoveVolume(context.Context, agent.Volume) error { return nil }
func (nopHost) PrepareMigration(context.Context, vmspec.VM) (agent.MigrationTarget, error) {
	return agent.MigrationTarget{URI: "qemu:///nop", DomainXML: "<domain/>"}, nil
}
func (nopHost) MigrateVM(context.Context, string, agent.MigrationTarget) error { return nil }
func (nopHost) FinishIncoming(context.Context, string, bool) error             { return nil }

// newCLIEngine starts an engine; withHost adds the up host h1 that
// nopHost plays.
func newCLIEngine(t *testing.T, withHost bool) *cliEngine {
	t.Helper()
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, sqltest.SQLite(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := authz.Bootstrap(ctx, st, cliAdminPassword); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	eng := engine.New(engine.Deps{Store: st, Hosts: nopHosts{}, Log: log})
	dc, err := eng.AddDataCenter(ctx, model.DataCenter{Name: "Default"})
	if err != nil {
		t.Fatal(err)
	}
	cl, err := eng.AddCluster(ctx, model.Cluster{Name: "Default", DataCenterID: dc.ID, Version: model.Version48})
	if err != nil {
		t.Fatal(err)
	}
	if withHost {
		if _, err := eng.AddHost(ctx, model.Host{Name: "h1", Address: "h1:54321", ClusterID: cl.ID, Status: model.HostUp}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := eng.AddStorageDomain(ctx, model.StorageDomain{Name: "local", DataCenterID: dc.ID, Path: t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api.New(api.Deps{Engine: eng, Store: st, Auth: api.NewStoreAuth(st), Log: log}))
	t.Cleanup(srv.Close)
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	t.Setenv("GOVIRT_URL", "")
	t.Setenv("GOVIRT_TOKEN", "")
	return &cliEngine{t: t, url: srv.URL, st: st}
}

// login runs `govirt login` with the password on standard input.
func (e *cliEngine) login(user, password string) (string, error) {
	e.t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := w.WriteString(password + "\n"); err != nil {
		e.t.Fatal(err)
	}
	w.Close()
	saved := os.Stdin
	os.Stdin = r
	defer func() { os.Stdin = saved; r.Close() }()
	return runCLI(e.t, "login", "--url", e.url+"/ovirt-engine/api", "--user", user)
}

// must runs a command that has to succeed.
func (e *cliEngine) must(args ...string) string {
	e.t.Helper()
	out, err := runCLI(e.t, args...)
	if err != nil {
		e.t.Fatalf("govirt %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// fails runs a command that has to fail with an error containing want.
func (e *cliEngine) fails(want string, args ...string) {
	e.t.Helper()
	out, err := runCLI(e.t, args...)
	if err == nil || !strings.Contains(err.Error(), want) {
		e.t.Errorf("govirt %s: error %v, want one containing %q\n%s", strings.Join(args, " "), err, want, out)
	}
}

// jsonList runs a command with -o json and decodes its array.
func (e *cliEngine) jsonList(args ...string) []map[string]any {
	e.t.Helper()
	var out []map[string]any
	if err := json.Unmarshal([]byte(e.must(append(args, "-o", "json")...)), &out); err != nil {
		e.t.Fatalf("govirt %s -o json: %v", strings.Join(args, " "), err)
	}
	return out
}

// addUser creates an internal user without any permission.
func (e *cliEngine) addUser(name string) {
	e.t.Helper()
	u, err := authz.NewInternalUser(name, "", name+"-pass")
	if err != nil {
		e.t.Fatal(err)
	}
	ctx := context.Background()
	if err := e.st.Tx(ctx, func(tx store.Tx) error { return tx.InsertUser(ctx, u) }); err != nil {
		e.t.Fatal(err)
	}
}

func contains(t *testing.T, got string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(got, w) {
			t.Errorf("output lacks %q:\n%s", w, got)
		}
	}
}

// aligned checks that in a table the cell want of a row starts in the
// column of header's cell col.
func aligned(t *testing.T, out, col, rowPrefix, want string) {
	t.Helper()
	lines := strings.Split(out, "\n")
	for _, l := range lines[1:] {
		if strings.HasPrefix(l, rowPrefix) {
			if h := strings.Index(lines[0], col); h < 0 || h >= len(l) || !strings.HasPrefix(l[h:], want+" ") {
				t.Errorf("row %q lacks %q under %q:\n%s", rowPrefix, want, col, out)
			}
			return
		}
	}
	t.Errorf("no row %q:\n%s", rowPrefix, out)
}
