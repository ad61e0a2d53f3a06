package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/govirt/govirt/internal/api/ovirt"
	"github.com/govirt/govirt/internal/engine"
	"github.com/govirt/govirt/internal/model"
	"github.com/govirt/govirt/internal/store/sqlstore"
	"github.com/govirt/govirt/internal/store/sqlstore/sqltest"
)

// The fuzz targets send arbitrary bodies to the real handler (no network)
// on a real engine and SQLite database and check that the API never
// answers 5xx nor panics, that every refusal is a fault in the encoding
// asked for, and that a refusal (4xx) leaves the store as it was. One
// fixture serves every input of a target: an input that succeeds changes
// the state the next ones meet, which is fine, since the store is compared
// only around each request.

// fuzzFixture is the API on a real engine with an up host (whose agent
// accepts everything), a down VM with an image disk and a LUN attached, and
// a running VM with an image disk attached.
type fuzzFixture struct {
	api          *Server
	db           *sql.DB   // the test's own connections to the database
	watch        *sql.Conn // one of them, for PRAGMA data_version
	tables       []string  // what a fingerprint counts
	down, up     string    // the VMs
	img, lun     string    // attached to down
	upImg        string    // attached to up
	cluster, sd  string
	jsonRequests bool
	log          *lockedBuffer // the engine's warnings and errors
}

// lockedBuffer collects log lines, which handlers may write concurrently.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// take returns what was logged since the last call.
func (b *lockedBuffer) take() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.buf.String()
	b.buf.Reset()
	return s
}

func newFuzzFixture(tb testing.TB, useJSON bool) *fuzzFixture {
	tb.Helper()
	ctx := context.Background()
	dsn := sqltest.SQLite(tb)
	st, err := sqlstore.Open(ctx, dsn, nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	fx := &fuzzFixture{log: &lockedBuffer{}, jsonRequests: useJSON}
	log := slog.New(slog.NewTextHandler(fx.log, &slog.HandlerOptions{Level: slog.LevelWarn}))
	eng := engine.New(engine.Deps{Store: st, Hosts: nopHosts{}, Log: log})
	fx.api = New(Deps{Engine: eng, Store: st, Auth: permitAll{}, Log: log})
	dc, err := eng.AddDataCenter(ctx, model.DataCenter{Name: "Default"})
	must(tb, err)
	cl, err := eng.AddCluster(ctx, model.Cluster{Name: "Default", DataCenterID: dc.ID, Version: model.Version48})
	must(tb, err)
	sd, err := eng.AddStorageDomain(ctx, model.StorageDomain{Name: "sd", DataCenterID: dc.ID, Path: "/srv/sd"})
	must(tb, err)
	h, err := eng.AddHost(ctx, model.Host{Name: "h1", Address: "h1:54321", ClusterID: cl.ID})
	must(tb, err)
	must(tb, eng.SetHostStatus(ctx, h.ID, model.HostUp))
	fx.cluster, fx.sd = cl.ID, sd.ID

	setup := func(method, path, body string) string {
		rec := fx.serveAs(false, method, path, body)
		if rec.Code >= 300 {
			tb.Fatalf("fixture: %s %s: %d %s", method, path, rec.Code, rec.Body)
		}
		var out struct {
			ID string `xml:"id,attr"`
		}
		_ = xml.Unmarshal(rec.Body.Bytes(), &out)
		return out.ID
	}
	attach := func(vm string, disk string) string {
		return setup("POST", "/vms/"+vm+"/diskattachments", `<disk_attachment><interface>virtio_scsi</interface><active>true</active>`+disk+`</disk_attachment>`)
	}
	image := `<disk><alias>img</alias><format>cow</format><provisioned_size>1048576</provisioned_size><storage_domains><storage_domain id="` + sd.ID + `"/></storage_domains></disk>`
	fx.down = setup("POST", "/vms", vmXML("down", cl.ID))
	fx.img = attach(fx.down, image)
	fx.lun = attach(fx.down, `<disk><alias>lun</alias><sgio>filtered</sgio><lun_storage><logical_units><logical_unit id="lun-fixture">
		<address>127.0.0.1</address><target>iqn.2026-11.dev.govirt:fuzz</target><lun_mapping>1</lun_mapping></logical_unit></logical_units></lun_storage></disk>`)
	fx.up = setup("POST", "/vms", vmXML("up", cl.ID))
	fx.upImg = attach(fx.up, image)
	setup("POST", "/vms/"+fx.up+"/start", "")

	path := strings.TrimPrefix(dsn, "sqlite:")
	if fx.db, err = sql.Open("sqlite", path); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { fx.db.Close() })
	if fx.watch, err = fx.db.Conn(ctx); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { fx.watch.Close() })
	rows, err := fx.db.Query(`SELECT name FROM sqlite_master WHERE type = 'table'
		AND name NOT LIKE 'sqlite_%' AND name NOT IN ('audit_log', 'goose_db_version') ORDER BY name`)
	must(tb, err)
	defer rows.Close()
	for rows.Next() {
		var name string
		must(tb, rows.Scan(&name))
		fx.tables = append(fx.tables, name)
	}
	must(tb, rows.Err())
	return fx
}

func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

// serveAs runs one request through the handler, in JSON or XML.
func (fx *fuzzFixture) serveAs(useJSON bool, method, path, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, Prefix+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Basic YWRtaW5AaW50ZXJuYWw6eA==")
	if useJSON {
		req.Header.Set("Accept", "application/json")
		req.Header.Set("Content-Type", "application/json")
	} else if body != "" {
		req.Header.Set("Content-Type", "application/xml")
	}
	rec := httptest.NewRecorder()
	fx.api.ServeHTTP(rec, req)
	return rec
}

// querier is a connection pool or a transaction.
type querier interface {
	QueryRow(query string, args ...any) *sql.Row
	Query(query string, args ...any) (*sql.Rows, error)
}

// fingerprint sums up the store as q sees it: the row count of every table
// but the audit log, and the rows of the fixture's VMs, their devices and
// attachments, and its disks.
func (fx *fuzzFixture) fingerprint(t *testing.T, q querier) string {
	t.Helper()
	var b strings.Builder
	for _, table := range fx.tables {
		var n int
		if err := q.QueryRow(`SELECT count(*) FROM ` + table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s=%d ", table, n)
	}
	for _, sel := range []struct {
		sql  string
		args []any
	}{
		{`SELECT * FROM vms WHERE id IN (?, ?) ORDER BY id`, []any{fx.down, fx.up}},
		{`SELECT * FROM vm_devices WHERE vm_id IN (?, ?) ORDER BY vm_id, id`, []any{fx.down, fx.up}},
		{`SELECT * FROM disk_attachments WHERE vm_id IN (?, ?) ORDER BY vm_id, disk_id`, []any{fx.down, fx.up}},
		{`SELECT * FROM disks WHERE id IN (?, ?, ?) ORDER BY id`, []any{fx.img, fx.lun, fx.upImg}},
	} {
		rows, err := q.Query(sel.sql, sel.args...)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "\n%v", vals)
		}
		rows.Close()
	}
	return b.String()
}

// dataVersion changes whenever another connection commits (SQLite's
// PRAGMA data_version): an unchanged one proves nothing was written.
func (fx *fuzzFixture) dataVersion(t *testing.T) int64 {
	t.Helper()
	var v int64
	if err := fx.watch.QueryRowContext(context.Background(), `PRAGMA data_version`).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// check sends body and applies the target's properties to the answer. To
// stay cheap it only takes a snapshot (a read transaction, which in WAL
// mode keeps seeing the state it began with) and compares fingerprints of
// before and after only when a refused request was followed by a commit.
func (fx *fuzzFixture) check(t *testing.T, method, path string, body []byte) {
	t.Helper()
	snap, err := fx.db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = snap.Rollback() }()
	var n int
	if err := snap.QueryRow(`SELECT count(*) FROM vms`).Scan(&n); err != nil { // starts the snapshot
		t.Fatal(err)
	}
	version := fx.dataVersion(t)
	fx.log.take()
	rec := fx.serveAs(fx.jsonRequests, method, path, string(body))
	name := fmt.Sprintf("%s %s with body %q", method, path, clip(string(body)))
	if rec.Code >= 500 {
		t.Fatalf("%s: server error %d: %s\nengine log: %s", name, rec.Code, clip(rec.Body.String()), fx.log.take())
	}
	if rec.Code < 400 {
		return
	}
	var f ovirt.Fault
	if fx.jsonRequests {
		err = json.Unmarshal(rec.Body.Bytes(), &f)
	} else {
		err = xml.Unmarshal(rec.Body.Bytes(), &f)
	}
	if err != nil || f.Reason == "" {
		t.Errorf("%s: status %d without a fault (%v): %s", name, rec.Code, err, clip(rec.Body.String()))
	}
	if fx.dataVersion(t) == version {
		return
	}
	if before, after := fx.fingerprint(t, snap), fx.fingerprint(t, fx.db); after != before {
		t.Fatalf("%s: refused with %d %s, yet the store changed:\nbefore: %s\nafter:  %s", name, rec.Code, clip(rec.Body.String()), before, after)
	}
}

func clip(s string) string {
	if len(s) > 600 {
		return s[:600] + fmt.Sprintf("…(%d bytes, sha256 %x)", len(s), sha256.Sum256([]byte(s)))
	}
	return s
}

// fuzzVM creates a VM from the body and applies it as an update to both
// fixture VMs.
func fuzzVM(f *testing.F, useJSON bool) {
	fx := newFuzzFixture(f, useJSON)
	f.Fuzz(func(t *testing.T, body []byte) {
		fx.check(t, "POST", "/vms", body)
		fx.check(t, "PUT", "/vms/"+fx.down, body)
		fx.check(t, "PUT", "/vms/"+fx.up, body)
	})
}

// fuzzDiskAttachment adds an attachment from the body to both VMs and
// applies it as an update to an attachment of each.
func fuzzDiskAttachment(f *testing.F, useJSON bool) {
	fx := newFuzzFixture(f, useJSON)
	f.Fuzz(func(t *testing.T, body []byte) {
		fx.check(t, "POST", "/vms/"+fx.down+"/diskattachments", body)
		fx.check(t, "PUT", "/vms/"+fx.down+"/diskattachments/"+fx.lun, body)
		fx.check(t, "POST", "/vms/"+fx.up+"/diskattachments", body)
		fx.check(t, "PUT", "/vms/"+fx.up+"/diskattachments/"+fx.upImg, body)
	})
}

// fuzzDisk creates a floating disk from the body and applies it as an
// update to an image disk and to a LUN, both attached.
func fuzzDisk(f *testing.F, useJSON bool) {
	fx := newFuzzFixture(f, useJSON)
	f.Fuzz(func(t *testing.T, body []byte) {
		fx.check(t, "POST", "/disks", body)
		fx.check(t, "PUT", "/disks/"+fx.img, body)
		fx.check(t, "PUT", "/disks/"+fx.lun, body)
	})
}

func FuzzXMLVM(f *testing.F)             { fuzzVM(f, false) }
func FuzzJSONVM(f *testing.F)            { fuzzVM(f, true) }
func FuzzXMLDiskAttachment(f *testing.F) { fuzzDiskAttachment(f, false) }
func FuzzJSONDiskAttachment(f *testing.F) {
	fuzzDiskAttachment(f, true)
}
func FuzzXMLDisk(f *testing.F)  { fuzzDisk(f, false) }
func FuzzJSONDisk(f *testing.F) { fuzzDisk(f, true) }

// TestFuzzFixture: the fixture sees what changes the store: PRAGMA
// data_version moves with a commit, a snapshot keeps the old state, and the
// fingerprint tells the two apart; a refusal passes check.
func TestFuzzFixture(t *testing.T) {
	fx := newFuzzFixture(t, false)
	snap, err := fx.db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = snap.Rollback() }()
	before := fx.fingerprint(t, snap)
	version := fx.dataVersion(t)
	if rec := fx.serveAs(false, "PUT", "/vms/"+fx.down, `<vm><description>changed</description></vm>`); rec.Code != http.StatusOK {
		t.Fatalf("update: %d %s", rec.Code, rec.Body)
	}
	if fx.dataVersion(t) == version {
		t.Errorf("PRAGMA data_version does not see a commit")
	}
	if fx.fingerprint(t, snap) != before {
		t.Errorf("the snapshot does not keep the state it began with")
	}
	if fx.fingerprint(t, fx.db) == before {
		t.Errorf("the fingerprint does not see a change of the VM")
	}
	fx.check(t, "PUT", "/vms/"+fx.down, []byte(`<vm><virtio_scsi_multi_queues>0</virtio_scsi_multi_queues></vm>`))
}
