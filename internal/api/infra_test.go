package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/govirt/govirt/internal/model"
	"github.com/govirt/govirt/internal/store/sqlstore/sqltest"
)

func TestMain(m *testing.M) { sqltest.Main(m) }

// scopedAuth is a caller who may see and do things only on the objects
// allowed so far: none at first. It proves that writes are refused and
// reads filtered until the real authz is plugged in.
type scopedAuth struct {
	mu   sync.Mutex
	objs map[Object]bool
}

func (a *scopedAuth) allow(objs ...Object) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.objs == nil {
		a.objs = map[Object]bool{}
	}
	for _, o := range objs {
		a.objs[o] = true
	}
}

func (a *scopedAuth) has(o Object) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.objs[o]
}

func (*scopedAuth) Authenticate(*http.Request) (Principal, error) {
	return Principal{UserID: "u2", Name: "bob@internal"}, nil
}

func (a *scopedAuth) Allowed(_ context.Context, _ Principal, _ string, o Object) (bool, error) {
	return a.has(o), nil
}

func (a *scopedAuth) Visible(_ context.Context, _ Principal, o Object) (bool, error) {
	return a.has(o), nil
}

func (a *scopedAuth) VisibleAll(_ context.Context, _ Principal, sets [][]Object) ([]bool, error) {
	out := make([]bool, len(sets))
	for i, set := range sets {
		out[i] = true
		for _, o := range set {
			out[i] = out[i] && a.has(o)
		}
	}
	return out, nil
}

// expect sends a request and fails the test unless the status is want.
func (f *vmFixture) expect(t *testing.T, want int, method, path, body string, json bool) string {
	t.Helper()
	st, got := f.do(t, method, path, body, json)
	if st != want {
		t.Fatalf("%s %s: status %d, want %d: %s", method, path, st, want, got)
	}
	return got
}

// jsonOf decodes a JSON answer.
func jsonOf(t *testing.T, body string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("not JSON: %v: %s", err, body)
	}
	return m
}

// infraCases create one object of each collection named {name}, in XML and
// in JSON; want is what its XML must show besides id, href and name.
var infraCases = []struct {
	coll, elem, xml, json string
	want                  []string
}{
	{"datacenters", "data_center",
		`<data_center><name>{name}</name><description>first</description></data_center>`,
		`{"name":"{name}","description":"first","version":{"major":"4","minor":7}}`,
		[]string{"<description>first</description>", "<local>false</local>", "<status>up</status>", "<major>4</major>"}},
	{"clusters", "cluster",
		`<cluster><name>{name}</name><data_center><name>Default</name></data_center><version><major>4</major><minor>8</minor></version></cluster>`,
		`{"name":"{name}","data_center":{"id":"{dc}"}}`,
		[]string{`<data_center href="/ovirt-engine/api/datacenters/{dc}" id="{dc}">`, "<major>4</major>", "<minor>8</minor>"}},
	{"hosts", "host",
		`<host><name>{name}</name><address>agent.example</address><port>54321</port><cluster><name>Default</name></cluster></host>`,
		`{"name":"{name}","address":"agent.example:54321","cluster":{"id":"{cl}"}}`,
		[]string{"<address>agent.example</address>", "<port>54321</port>", "<status>connecting</status>", `<cluster href="/ovirt-engine/api/clusters/{cl}" id="{cl}">`}},
	{"storagedomains", "storage_domain",
		`<storage_domain><name>{name}</name><type>data</type><storage><type>localfs</type><path>/srv/{name}</path></storage>
		<data_centers><data_center><name>Default</name></data_center></data_centers></storage_domain>`,
		`{"name":"{name}","type":"data","storage":{"type":"localfs","path":"/srv/{name}"},"data_centers":{"data_center":[{"id":"{dc}"}]}}`,
		[]string{"<type>data</type>", "<type>localfs</type>", "<path>/srv/", `<data_centers>`,
			`<data_center href="/ovirt-engine/api/datacenters/{dc}" id="{dc}">`, `<link href="/ovirt-engine/api/storagedomains/{id}/disks" rel="disks">`}},
}

// TestInfraLifecycle creates, reads, lists, renames and removes one object
// of each collection, once in XML and once in JSON.
func TestInfraLifecycle(t *testing.T) {
	f := newVMFixture(t, permitAll{})
	for _, tc := range infraCases {
		for _, useJSON := range []bool{false, true} {
			name := fmt.Sprintf("%s-%v", tc.elem, useJSON)
			t.Run(name, func(t *testing.T) {
				fill := strings.NewReplacer("{name}", name, "{dc}", f.cluster.DataCenterID, "{cl}", f.cluster.ID).Replace
				body := fill(tc.xml)
				if useJSON {
					body = fill(tc.json)
				}
				created := f.expect(t, http.StatusCreated, "POST", "/"+tc.coll, body, useJSON)
				var id string
				if useJSON {
					m := jsonOf(t, created)
					id, _ = m["id"].(string)
					if m["name"] != name || m["href"] != Prefix+"/"+tc.coll+"/"+id {
						t.Errorf("JSON create: %s", created)
					}
				} else {
					id = idOf(t, created)
				}
				self := Prefix + "/" + tc.coll + "/" + id
				wants := []string{fmt.Sprintf(`<%s href="%s" id="%s">`, tc.elem, self, id), "<name>" + name + "</name>"}
				for _, w := range tc.want {
					wants = append(wants, strings.ReplaceAll(fill(w), "{id}", id))
				}
				mustContain(t, f.expect(t, http.StatusOK, "GET", "/"+tc.coll+"/"+id, "", false), wants...)
				mustContain(t, f.expect(t, http.StatusOK, "GET", "/"+tc.coll+"?search=name%3D"+name, "", false), wants[0])

				// A PUT of the name alone keeps everything else.
				renamed := f.expect(t, http.StatusOK, "PUT", "/"+tc.coll+"/"+id, "<"+tc.elem+"><name>"+name+"-2</name></"+tc.elem+">", false)
				mustContain(t, renamed, append([]string{"<name>" + name + "-2</name>"}, wants[2:]...)...)

				if got := f.expect(t, http.StatusOK, "DELETE", "/"+tc.coll+"/"+id, "", false); got != "" {
					t.Errorf("DELETE answered a body: %s", got)
				}
				f.expect(t, http.StatusNotFound, "GET", "/"+tc.coll+"/"+id, "", false)
			})
		}
	}
}

// TestInfraSearchAndMax: search=name=… with * and case-insensitively, max
// after the search, and a 400 for what is not supported.
func TestInfraSearchAndMax(t *testing.T) {
	f := newVMFixture(t, permitAll{})
	for _, n := range []string{"alpha1", "alpha2", "beta"} {
		f.expect(t, http.StatusCreated, "POST", "/datacenters", "<data_center><name>"+n+"</name></data_center>", false)
	}
	count := func(query string) int {
		return strings.Count(f.expect(t, http.StatusOK, "GET", "/datacenters"+query, "", false), "<data_center ")
	}
	for query, want := range map[string]int{
		"":                            4, // with Default
		"?search=name%3Dalpha*":       2,
		"?search=name%3DALPHA1":       1,
		"?search=name%3Dalpha*&max=1": 1,
		"?max=0":                      4,
		"?search=name%3Dgamma":        0,
	} {
		if got := count(query); got != want {
			t.Errorf("GET /datacenters%s: %d data centers, want %d", query, got, want)
		}
	}
	// JSON writes scalars as strings, as oVirt does.
	dcs, _ := jsonOf(t, f.expect(t, http.StatusOK, "GET", "/datacenters?search=name%3Dalpha1", "", true))["data_center"].([]any)
	if len(dcs) != 1 {
		t.Fatalf("JSON search: %v", dcs)
	}
	dc := dcs[0].(map[string]any)
	if v, _ := dc["version"].(map[string]any); dc["local"] != "false" || v["major"] != "4" || v["minor"] != "8" {
		t.Errorf("JSON data center: %v", dc)
	}
	f.expect(t, http.StatusBadRequest, "GET", "/datacenters?search=status%3Dup", "", false)
	f.expect(t, http.StatusBadRequest, "GET", "/hosts?max=-1", "", false)

	// An empty collection is an empty element, in JSON an empty list.
	mustContain(t, f.expect(t, http.StatusOK, "GET", "/hosts", "", false), "<hosts></hosts>")
	if m := jsonOf(t, f.expect(t, http.StatusOK, "GET", "/hosts", "", true)); len(m) > 1 {
		t.Errorf("empty hosts in JSON: %v", m)
	}
}

// TestInfraFaults: missing ids, bad bodies and refused changes are 4xx
// faults with oVirt's statuses, never a 5xx.
func TestInfraFaults(t *testing.T) {
	f := newVMFixture(t, permitAll{})
	dc, cl := f.cluster.DataCenterID, f.cluster.ID
	const unknown = "00000000-0000-0000-0000-00000000abcd"
	for _, tt := range []struct {
		method, path, body string
		json               bool
		status             int
		want               string
	}{
		{"GET", "/datacenters/" + unknown, "", false, 404, "Entity not found: data center " + unknown},
		{"GET", "/clusters/" + unknown, "", false, 404, "<fault>"},
		{"GET", "/hosts/" + unknown, "", true, 404, `"reason":"Operation Failed"`},
		{"GET", "/storagedomains/" + unknown, "", false, 404, "<fault>"},
		{"GET", "/storagedomains/" + unknown + "/disks", "", false, 404, "<fault>"},
		{"PUT", "/clusters/" + unknown, "<cluster><name>x</name></cluster>", false, 404, "<fault>"},
		{"DELETE", "/hosts/" + unknown, "", false, 404, "does not exist"},
		{"POST", "/datacenters", "<data_center><name>x", false, 400, "<reason>Bad Request</reason>"},
		{"POST", "/datacenters", `{"name":`, true, 400, `"reason":"Bad Request"`},
		{"POST", "/datacenters", "", false, 400, "empty"},
		{"POST", "/datacenters", "<data_center><description>d</description></data_center>", false, 400, "Data Center [name] required for add."},
		{"POST", "/datacenters", "<data_center><name>a b</name></data_center>", false, 400, "The name must be"},
		{"POST", "/datacenters", "<data_center><name>Default</name></data_center>", false, 409, "The name Default is already in use."},
		{"POST", "/clusters", "<cluster><name>c</name></cluster>", false, 400, "Cluster [data_center.id|name] required for add."},
		{"POST", "/clusters", "<cluster><data_center><name/></data_center></cluster>", false, 400, "Cluster [name, data_center.id|name]"},
		{"POST", "/clusters", "<cluster><name>c</name><data_center><name>nope</name></data_center></cluster>", false, 404, "Entity not found: data center nope"},
		{"POST", "/clusters", `<cluster><name>c</name><data_center id="` + unknown + `"/></cluster>`, false, 404, "does not exist"},
		{"POST", "/clusters", `<cluster><name>c</name><data_center id="` + dc + `"/><version><major>9</major><minor>9</minor></version></cluster>`, false, 400, "Compatibility version 9.9 is not supported."},
		{"POST", "/clusters", `{"name":"c","data_center":{"id":"` + dc + `"},"version":{"major":"four"}}`, true, 400, `"reason":"Bad Request"`},
		{"PUT", "/clusters/" + cl, `<cluster><version><minor>99</minor></version></cluster>`, false, 400, "Compatibility version 4.99 is not supported."},
		{"PUT", "/clusters/" + cl, `<cluster><data_center id="` + unknown + `"/></cluster>`, false, 409, "Attempt to set immutable field: data_center."},
		{"POST", "/hosts", "<host><name>h</name><cluster><name>Default</name></cluster></host>", false, 400, "Host [address] required for add."},
		{"PUT", "/hosts/" + unknown, "<host><name>h</name></host>", false, 404, "<fault>"},
		{"POST", "/storagedomains", `<storage_domain><name>s</name><storage><path>/srv/s</path></storage></storage_domain>`, false, 400, "StorageDomain [data_centers.data_center.id|name] required for add."},
		{"POST", "/storagedomains", `<storage_domain><name>s</name><data_centers><data_center id="` + dc + `"/></data_centers></storage_domain>`, false, 400, "StorageDomain [storage.path] required for add."},
		{"POST", "/storagedomains", `<storage_domain><name>s</name><type>iso</type></storage_domain>`, false, 400, "Only data storage domains"},
		{"POST", "/storagedomains", `<storage_domain><name>s</name><storage><type>nfs</type></storage></storage_domain>`, false, 400, "Only storage of type localfs"},
		{"POST", "/storagedomains", `<storage_domain><name>s</name><storage><path>relative</path></storage><data_centers><data_center id="` + dc + `"/></data_centers></storage_domain>`, false, 400, "absolute"},
		{"POST", "/storagedomains", `<storage_domain><name>s</name><storage><path>/srv/s</path></storage><data_centers><data_center id="` + dc + `"/><data_center id="` + unknown + `"/></data_centers></storage_domain>`, false, 400, "exactly one data center"},
		{"PUT", "/storagedomains/" + f.sd.ID, `<storage_domain><storage><path>/elsewhere</path></storage></storage_domain>`, false, 409, "storage.path"},
		{"GET", "/storagedomains/" + f.sd.ID + "/disks?search=name%3Dx", "", false, 400, "<fault>"},
		{"DELETE", "/datacenters/" + dc, "", false, 409, "The data center still has clusters or storage domains."},
		{"DELETE", "/storagedomains/" + unknown, "", false, 404, "<fault>"},
		{"GET", "/operatingsystems/rhel_8x64", "", false, 404, "Entity not found: operating system rhel_8x64"},
		{"GET", "/events?from=x", "", false, 400, "from must be"},
		{"GET", "/events?max=x", "", false, 400, "max must be"},
		{"GET", "/events?search=severity%3Dalert", "", false, 400, "Only name="},
		{"GET", "/events?search=name%3Dx", "", false, 400, "Events cannot be searched"},
		{"GET", "/no/such/thing", "", false, 404, "No resource at GET"},
	} {
		st, body := f.do(t, tt.method, tt.path, tt.body, tt.json)
		if st != tt.status || !strings.Contains(body, tt.want) {
			t.Errorf("%s %s %s: %d %s, want %d containing %q", tt.method, tt.path, tt.body, st, body, tt.status, tt.want)
		}
	}
}

// TestInfraPermissions: a caller without permissions may not write, sees
// empty collections and gets 404 for objects that exist; one who may see a
// single object sees just that one, and max counts only what it sees.
func TestInfraPermissions(t *testing.T) {
	a := &scopedAuth{}
	f := newVMFixture(t, a)
	dc, cl := f.cluster.DataCenterID, f.cluster.ID
	for _, path := range []string{"/datacenters", "/clusters", "/storagedomains", "/events"} {
		if body := f.expect(t, http.StatusOK, "GET", path, "", false); strings.Contains(body, " id=") {
			t.Errorf("GET %s shows what the caller may not see: %s", path, body)
		}
	}
	f.expect(t, http.StatusNotFound, "GET", "/datacenters/"+dc, "", false)
	f.expect(t, http.StatusNotFound, "GET", "/storagedomains/"+f.sd.ID+"/disks", "", false)
	f.expect(t, http.StatusForbidden, "POST", "/datacenters", "<data_center><name>x</name></data_center>", false)
	f.expect(t, http.StatusForbidden, "PUT", "/datacenters/"+dc, "<data_center><name>x</name></data_center>", false)
	f.expect(t, http.StatusForbidden, "DELETE", "/clusters/"+cl, "", false)
	// CREATE_CLUSTER is checked on the data center the body names; by name,
	// an invisible one is not found.
	f.expect(t, http.StatusForbidden, "POST", "/clusters", `<cluster><name>c</name><data_center id="`+dc+`"/></cluster>`, false)
	f.expect(t, http.StatusNotFound, "POST", "/clusters", `<cluster><name>c</name><data_center><name>Default</name></data_center></cluster>`, false)
	f.expect(t, http.StatusForbidden, "POST", "/hosts", `<host><name>h</name><address>a:1</address><cluster id="`+cl+`"/></host>`, false)
	f.expect(t, http.StatusForbidden, "POST", "/storagedomains", `<storage_domain><name>s</name><storage><path>/srv/s</path></storage><data_centers><data_center id="`+dc+`"/></data_centers></storage_domain>`, false)

	// A cluster that sorts first stays hidden: max counts what is shown.
	if _, err := f.eng.AddCluster(context.Background(), model.Cluster{Name: "A-hidden", DataCenterID: dc}); err != nil {
		t.Fatal(err)
	}
	a.allow(Object{"data_center", dc}, Object{"cluster", cl})
	body := f.expect(t, http.StatusOK, "GET", "/clusters?max=1", "", false)
	if strings.Count(body, "<cluster ") != 1 || !strings.Contains(body, `id="`+cl+`"`) {
		t.Errorf("visible clusters: %s", body)
	}
	f.expect(t, http.StatusCreated, "POST", "/clusters", `<cluster><name>c</name><data_center><name>Default</name></data_center></cluster>`, false)
}

// TestRootAndOperatingSystems: the root names the product as API 4.5 and
// links the collections; operating systems carry oVirt's numeric ids.
func TestRootAndOperatingSystems(t *testing.T) {
	f := newVMFixture(t, permitAll{})
	for _, path := range []string{"", "/"} {
		mustContain(t, f.expect(t, http.StatusOK, "GET", path, "", false), "<api>",
			`<link href="/ovirt-engine/api/datacenters" rel="datacenters">`,
			`<link href="/ovirt-engine/api/vms?search={query}" rel="vms/search">`,
			`<link href="/ovirt-engine/api/operatingsystems" rel="operatingsystems">`,
			"<product_info>", "<name>govirt</name>", "<vendor>govirt</vendor>", "<major>4</major>", "<minor>5</minor>", "<time>")
	}
	root := jsonOf(t, f.expect(t, http.StatusOK, "GET", "", "", true))
	pi, _ := root["product_info"].(map[string]any)
	v, _ := pi["version"].(map[string]any)
	if v["major"] != "4" || v["minor"] != "5" {
		t.Errorf("JSON product_info: %v", root["product_info"])
	}
	if _, err := time.Parse(time.RFC3339, root["time"].(string)); err != nil {
		t.Errorf("root time: %v", err)
	}

	mustContain(t, f.expect(t, http.StatusOK, "GET", "/operatingsystems", "", false), "<operating_systems>",
		`<operating_system href="/ovirt-engine/api/operatingsystems/33" id="33">`, "<name>rhel_8x64</name>",
		"<description>Red Hat Enterprise Linux 8.x x64</description>")
	os := jsonOf(t, f.expect(t, http.StatusOK, "GET", "/operatingsystems/1", "", true))
	if os["id"] != "1" || os["name"] != "windows_xp" {
		t.Errorf("JSON operating system: %v", os)
	}
	f.expect(t, http.StatusNotFound, "GET", "/operatingsystems/4242", "", false)
}

// TestEvents: the audit log newest first with oVirt's codes, from and max,
// and only what a restricted caller may see.
func TestEvents(t *testing.T) {
	a := &scopedAuth{}
	f := newVMFixture(t, a)
	a.allow(Object{"cluster", f.cluster.ID})
	host := idOf(t, f.expect(t, http.StatusCreated, "POST", "/hosts", `<host><name>h1</name><address>h1:54321</address><cluster id="`+f.cluster.ID+`"/></host>`, false))
	if body := f.expect(t, http.StatusOK, "GET", "/events", "", false); strings.Contains(body, "<event ") {
		t.Errorf("events shown before the caller may see their objects: %s", body)
	}

	// Someone who may see only the host sees only its event.
	a.allow(Object{"host", host})
	body := f.expect(t, http.StatusOK, "GET", "/events?max=5", "", false)
	mustContain(t, body, "<events>", "<code>42</code>", "<severity>normal</severity>", "<origin>govirt</origin>",
		"<description>Host h1 was added by bob@internal.</description>",
		`<host href="/ovirt-engine/api/hosts/`+host+`" id="`+host+`">`, "<name>bob@internal</name>")
	if n := strings.Count(body, "<event "); n != 1 {
		t.Errorf("restricted caller sees %d events: %s", n, body)
	}

	// Who may see the system sees them all, newest first.
	a.allow(System)
	body = f.expect(t, http.StatusOK, "GET", "/events?max=1", "", false)
	if n := strings.Count(body, "<event "); n != 1 {
		t.Errorf("max=1 gave %d events", n)
	}
	newest := idOf(t, body)
	evs, _ := jsonOf(t, f.expect(t, http.StatusOK, "GET", "/events", "", true))["event"].([]any)
	var codes []string
	for _, e := range evs {
		code, _ := e.(map[string]any)["code"].(string) // oVirt's JSON writes numbers as strings
		codes = append(codes, code)
	}
	if strings.Join(codes, ",") != "42,956,809,950" {
		t.Errorf("event codes newest first: %v", codes)
	}
	if len(evs) > 0 && evs[0].(map[string]any)["id"] != newest {
		t.Errorf("newest event %v, want id %s", evs[0], newest)
	}
	if body := f.expect(t, http.StatusOK, "GET", "/events?from="+newest, "", false); strings.Contains(body, "<event ") {
		t.Errorf("events after the newest: %s", body)
	}
	if n := eventCode("SOMETHING_NEW"); n < 200000 || n > 299999 {
		t.Errorf("an unknown code hashes to %d, outside govirt's range", n)
	}
}
