package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/govirt/govirt/internal/engine"
	"github.com/govirt/govirt/internal/model"
	"github.com/govirt/govirt/internal/store/sqlstore"
	"github.com/govirt/govirt/internal/store/sqlstore/sqltest"
)

// permitAll is a test Auth that lets one fixed user do everything, or,
// with deny set, nothing beyond reading.
type permitAll struct{ deny map[string]bool }

func (permitAll) Authenticate(r *http.Request) (Principal, error) {
	if r.Header.Get("Authorization") == "" {
		return Principal{}, ErrUnauthenticated
	}
	return Principal{UserID: "u1", Name: "admin@internal"}, nil
}

func (a permitAll) Allowed(_ context.Context, _ Principal, group string, _ Object) (bool, error) {
	return !a.deny[group], nil
}

func (permitAll) Visible(context.Context, Principal, Object) (bool, error) { return true, nil }

func (permitAll) VisibleAll(_ context.Context, _ Principal, sets [][]Object) ([]bool, error) {
	out := make([]bool, len(sets))
	for i := range out {
		out[i] = true
	}
	return out, nil
}

// vmFixture is the API on a real engine and SQLite database, with a data
// center, a 4.8 cluster and a storage domain, served over real HTTP.
type vmFixture struct {
	srv     *httptest.Server
	eng     *engine.Engine
	cluster model.Cluster
	sd      model.StorageDomain
}

func newVMFixture(t *testing.T, auth Auth) *vmFixture {
	t.Helper()
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, sqltest.SQLite(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	eng := engine.New(engine.Deps{Store: st, Log: log})
	dc, err := eng.AddDataCenter(ctx, model.DataCenter{Name: "Default"})
	if err != nil {
		t.Fatal(err)
	}
	f := &vmFixture{eng: eng}
	if f.cluster, err = eng.AddCluster(ctx, model.Cluster{Name: "Default", DataCenterID: dc.ID, Version: model.Version48}); err != nil {
		t.Fatal(err)
	}
	if f.sd, err = eng.AddStorageDomain(ctx, model.StorageDomain{Name: "local", DataCenterID: dc.ID, Path: "/var/lib/govirt/sd"}); err != nil {
		t.Fatal(err)
	}
	f.srv = httptest.NewServer(New(Deps{Engine: eng, Store: st, Auth: auth, Log: log}))
	t.Cleanup(f.srv.Close)
	return f
}

// do sends a request with credentials; json picks JSON for body and answer.
func (f *vmFixture) do(t *testing.T, method, path, body string, json bool) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+Prefix+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth("admin@internal", "x")
	if json {
		req.Header.Set("Accept", "application/json")
		req.Header.Set("Content-Type", "application/json")
	} else if body != "" {
		req.Header.Set("Content-Type", "application/xml")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func mustContain(t *testing.T, got string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(got, w) {
			t.Errorf("response lacks %q:\n%s", w, got)
		}
	}
}

func idOf(t testing.TB, xmlBody string) string {
	t.Helper()
	i := strings.Index(xmlBody, ` id="`)
	if i < 0 {
		t.Fatalf("no id in %s", xmlBody)
	}
	rest := xmlBody[i+5:]
	return rest[:strings.IndexByte(rest, '"')]
}

func TestVMVirtIOSCSIFlagBothForms(t *testing.T) {
	f := newVMFixture(t, permitAll{})
	st, body := f.do(t, "POST", "/vms", `<vm><name>vm1</name><cluster><name>Default</name></cluster>
		<os><type>debian</type></os><virtio_scsi><enabled>true</enabled></virtio_scsi></vm>`, false)
	if st != http.StatusCreated {
		t.Fatalf("create: %d %s", st, body)
	}
	mustContain(t, body, "<virtio_scsi>", "<enabled>true</enabled>", `<template href="/ovirt-engine/api/templates/00000000-0000-0000-0000-000000000000"`)
	id := idOf(t, body)

	// The 3.3 attribute form toggles it off.
	st, body = f.do(t, "PUT", "/vms/"+id, `<vm><virtio_scsi enabled="false"/></vm>`, false)
	if st != http.StatusOK {
		t.Fatalf("update: %d %s", st, body)
	}
	mustContain(t, body, "<enabled>false</enabled>")

	// JSON: scalars as strings, flag nested.
	st, body = f.do(t, "GET", "/vms/"+id, "", true)
	var vm map[string]any
	if err := json.Unmarshal([]byte(body), &vm); err != nil || st != 200 {
		t.Fatalf("json get: %d %v %s", st, err, body)
	}
	if vs, _ := vm["virtio_scsi"].(map[string]any); vs["enabled"] != "false" || vm["memory"] != "1073741824" {
		t.Errorf("json vm: %s", body)
	}

	// A windows_xp VM asking for it gets the oVirt fault, in JSON too.
	st, body = f.do(t, "POST", "/vms", `{"name":"xp","cluster":{"id":"`+f.cluster.ID+`"},"os":{"type":"windows_xp"},"virtio_scsi":{"enabled":true}}`, true)
	if st != http.StatusBadRequest {
		t.Fatalf("xp: %d %s", st, body)
	}
	mustContain(t, body, `"reason":"Operation Failed"`, `doesn't support VirtIO-SCSI: windows_xp`)
}

func TestDiskAttachmentsOverHTTP(t *testing.T) {
	f := newVMFixture(t, permitAll{})
	_, body := f.do(t, "POST", "/vms", `<vm><name>vm1</name><cluster id="`+f.cluster.ID+`"/><os><type>debian</type></os></vm>`, false)
	vmID := idOf(t, body)
	// A LUN disk (images need a host to create the volume; no host here).
	st, body := f.do(t, "POST", "/vms/"+vmID+"/diskattachments", `<disk_attachment>
		<interface>virtio_scsi</interface><bootable>false</bootable><active>true</active>
		<disk><alias>lun1</alias><sgio>filtered</sgio><lun_storage><type>iscsi</type><logical_units>
		<logical_unit id="36001"><address>127.0.0.1</address><port>3260</port><target>iqn.2026-11.dev.govirt:t</target><lun_mapping>1</lun_mapping></logical_unit>
		</logical_units></lun_storage></disk></disk_attachment>`, false)
	if st != http.StatusCreated {
		t.Fatalf("attach: %d %s", st, body)
	}
	mustContain(t, body, "<interface>virtio_scsi</interface>", "<active>true</active>", `<vm href="/ovirt-engine/api/vms/`+vmID+`"`)
	diskID := idOf(t, body)

	// Deprecated interface inside <disk> is honoured; an image disk with
	// sgio is refused with oVirt's message and leaves nothing behind.
	st, body = f.do(t, "POST", "/vms/"+vmID+"/diskattachments", `<disk_attachment><disk><name>img</name>
		<interface>virtio_scsi</interface><format>cow</format><provisioned_size>1048576</provisioned_size><sgio>unfiltered</sgio>
		<storage_domains><storage_domain id="`+f.sd.ID+`"/></storage_domains></disk></disk_attachment>`, false)
	if st != http.StatusBadRequest {
		t.Fatalf("sgio on image: %d %s", st, body)
	}
	mustContain(t, body, "[Cannot add Virtual Disk. SCSI Generic IO is not supported for image disk.]")
	_, body = f.do(t, "GET", "/disks", "", false)
	if strings.Contains(body, "<name>img</name>") {
		t.Errorf("a refused attach left a disk: %s", body)
	}

	// PUT active=false deactivates (the VM is down: a cold unplug).
	st, body = f.do(t, "PUT", "/vms/"+vmID+"/diskattachments/"+diskID, `<disk_attachment><active>false</active></disk_attachment>`, false)
	if st != http.StatusOK {
		t.Fatalf("deactivate: %d %s", st, body)
	}
	mustContain(t, body, "<active>false</active>")

	// Detach only keeps the disk.
	st, _ = f.do(t, "DELETE", "/vms/"+vmID+"/diskattachments/"+diskID+"?detach_only=true", "", false)
	if st != http.StatusOK {
		t.Fatalf("detach: %d", st)
	}
	st, _ = f.do(t, "GET", "/disks/"+diskID, "", false)
	if st != http.StatusOK {
		t.Errorf("disk gone after detach_only: %d", st)
	}
	st, _ = f.do(t, "GET", "/vms/"+vmID+"/diskattachments/"+diskID, "", false)
	if st != http.StatusNotFound {
		t.Errorf("attachment still there: %d", st)
	}
}

func TestFaults(t *testing.T) {
	f := newVMFixture(t, permitAll{deny: map[string]bool{agConfigureSGIO: true}})
	for _, tt := range []struct {
		method, path, body string
		status             int
		want               string
	}{
		{"GET", "/vms/00000000-0000-0000-0000-00000000abcd", "", 404, "<fault>"},
		{"POST", "/vms", `<vm><name>x</name>`, 400, "<reason>Bad Request</reason>"},
		{"POST", "/vms", `<vm><cluster><name>Default</name></cluster></vm>`, 400, "vm.name is required"},
		{"POST", "/vms", `<vm><name>x</name><cluster><name>nope</name></cluster></vm>`, 404, "cluster nope"},
		{"POST", "/vms/x/start", "", 409, ""},
		{"POST", "/disks", `<disk><alias>l</alias><sgio>unfiltered</sgio><lun_storage><logical_units><logical_unit><address>a</address><target>iqn.x</target><lun_mapping>1</lun_mapping></logical_unit></logical_units></lun_storage></disk>`,
			403, "User is not authorized to perform this action."},
		{"GET", "/nothing/here", "", 404, "<fault>"},
	} {
		st, body := f.do(t, tt.method, tt.path, tt.body, false)
		if tt.path == "/vms/x/start" {
			if st < 400 || st >= 500 {
				t.Errorf("%s %s: %d %s", tt.method, tt.path, st, body)
			}
			continue
		}
		if st != tt.status || !strings.Contains(body, tt.want) {
			t.Errorf("%s %s: %d %s, want %d containing %q", tt.method, tt.path, st, body, tt.status, tt.want)
		}
	}
	// No credentials: 401 with a challenge.
	resp, err := http.Get(f.srv.URL + Prefix + "/vms")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" {
		t.Errorf("anonymous: %d %v", resp.StatusCode, resp.Header)
	}
}

// TestAttachAnswerIsTheRow: the answer to attaching an existing disk is
// built from what the engine wrote, not read back; it must be exactly what
// reading the attachment answers, with and without an address.
func TestAttachAnswerIsTheRow(t *testing.T) {
	f := newAuthFixture(t, nil)
	vm := f.create(f.admin, "/vms", `<vm><name>answer</name><cluster id="`+f.cluster+`"/><memory>268435456</memory>
		<virtio_scsi><enabled>true</enabled></virtio_scsi></vm>`)
	for i, body := range []string{
		`<interface>virtio_scsi</interface><active>true</active>`,
		`<interface>virtio_scsi</interface><active>false</active>`,
		`<interface>virtio</interface><active>true</active><bootable>true</bootable>`,
	} {
		d := f.create(f.admin, "/disks", lunDiskXML(fmt.Sprint(900+i), "filtered"))
		got := f.must(f.admin, http.StatusCreated, "POST", "/vms/"+vm+"/diskattachments",
			`<disk_attachment><disk id="`+d+`"/>`+body+`</disk_attachment>`)
		want := f.must(f.admin, http.StatusOK, "GET", "/vms/"+vm+"/diskattachments/"+d, "")
		if got != want {
			t.Errorf("attach %s answered\n%s\nreading it answers\n%s", body, got, want)
		}
		if i == 0 && !strings.Contains(got, "<address>") {
			t.Errorf("active virtio-scsi attachment answered without its address: %s", got)
		}
	}
}
