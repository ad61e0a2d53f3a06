package api

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/govirt/govirt/internal/authz"
	"github.com/govirt/govirt/internal/engine"
	"github.com/govirt/govirt/internal/store/sqlstore"
	"github.com/govirt/govirt/internal/store/sqlstore/sqltest"
)

const adminPassword = "admin-secret"

// authFixture is the API with the real StoreAuth on a SQLite database that
// authz.Bootstrap prepared, over real HTTP. Its data center, cluster and
// storage domain are created through the API by admin@internal.
type authFixture struct {
	t               testing.TB
	api             *Server
	srv             *httptest.Server
	eng             *engine.Engine
	admin           cred
	dc, cluster, sd string
	dsn             string // the database, for a second process's view
}

// cred is how a request authenticates: Bearer, Basic, or not at all.
type cred struct{ token, user, pass string }

var anonymous = cred{}

func newAuthFixture(t testing.TB, hosts engine.HostDialer) *authFixture {
	t.Helper()
	return newAuthFixtureOn(t, hosts, sqltest.SQLite(t))
}

// newAuthFixtureOn is newAuthFixture on the database at dsn.
func newAuthFixtureOn(t testing.TB, hosts engine.HostDialer, dsn string) *authFixture {
	t.Helper()
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := authz.Bootstrap(ctx, st, adminPassword); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	f := &authFixture{t: t, dsn: dsn, eng: engine.New(engine.Deps{Store: st, Hosts: hosts, Log: log})}
	f.api = New(Deps{Engine: f.eng, Store: f.eng.Store(), Auth: NewStoreAuth(st), Log: log}) // as cmd/govirt wires it
	f.srv = httptest.NewServer(f.api)
	t.Cleanup(f.srv.Close)
	f.admin = f.login("admin@internal", adminPassword)
	f.dc = f.create(f.admin, "/datacenters", `<data_center><name>Default</name></data_center>`)
	f.cluster = f.create(f.admin, "/clusters", `<cluster><name>Default</name><data_center id="`+f.dc+`"/></cluster>`)
	f.sd = f.create(f.admin, "/storagedomains", `<storage_domain><name>sd</name><storage><path>/srv/sd</path></storage>
		<data_centers><data_center id="`+f.dc+`"/></data_centers></storage_domain>`)
	return f
}

// call sends an XML request below the API prefix (or to an absolute path
// such as the SSO endpoints) and returns the status and body.
func (f *authFixture) call(c cred, method, path, body string) (int, string) {
	f.t.Helper()
	if !strings.HasPrefix(path, "/ovirt-engine/") {
		path = Prefix + path
	}
	req, err := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	if err != nil {
		f.t.Fatal(err)
	}
	switch {
	case c.token != "":
		req.Header.Set("Authorization", "Bearer "+c.token)
	case c.user != "":
		req.SetBasicAuth(c.user, c.pass)
	}
	if strings.HasPrefix(body, "<") {
		req.Header.Set("Content-Type", "application/xml")
	} else if body != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// must sends a request and fails the test unless the status is want.
func (f *authFixture) must(c cred, want int, method, path, body string) string {
	f.t.Helper()
	st, got := f.call(c, method, path, body)
	if st != want {
		f.t.Fatalf("%s %s: status %d, want %d: %s", method, path, st, want, got)
	}
	return got
}

// create POSTs body and returns the new object's id.
func (f *authFixture) create(c cred, path, body string) string {
	f.t.Helper()
	return idOf(f.t, f.must(c, http.StatusCreated, "POST", path, body))
}

// token logs in through the SSO endpoint as the SDKs do.
func (f *authFixture) token(user, pass string) (int, map[string]any) {
	f.t.Helper()
	form := url.Values{"grant_type": {"password"}, "scope": {"ovirt-app-api"}, "username": {user}, "password": {pass}}
	st, body := f.call(anonymous, "POST", "/ovirt-engine/sso/oauth/token", form.Encode())
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		f.t.Fatalf("SSO answer is not JSON: %v: %s", err, body)
	}
	return st, m
}

// login returns a Bearer credential, so that later requests skip argon2.
func (f *authFixture) login(user, pass string) cred {
	f.t.Helper()
	st, m := f.token(user, pass)
	tok, _ := m["access_token"].(string)
	if st != http.StatusOK || tok == "" {
		f.t.Fatalf("log in %s: %d %v", user, st, m)
	}
	return cred{token: tok}
}

// addUser creates an internal user through the API and returns its id.
func (f *authFixture) addUser(name, pass string) string {
	f.t.Helper()
	return f.create(f.admin, "/users", `<user><user_name>`+name+`@internal</user_name><domain><name>internal-authz</name></domain><password>`+pass+`</password></user>`)
}

// grant gives a user a role (by name) on the object at objPath ("" for
// the system) through the API, as admin, and returns the permission id.
func (f *authFixture) grant(objPath, role, userID string) string {
	f.t.Helper()
	return f.create(f.admin, objPath+"/permissions", `<permission><role><name>`+role+`</name></role><user id="`+userID+`"/></permission>`)
}

// fault is a request that must fail with status and a body containing
// want.
type fault struct {
	method, path, body string
	status             int
	want               string
}

// faults sends each request as c and checks its fault.
func (f *authFixture) faults(c cred, cases []fault) {
	f.t.Helper()
	for _, tt := range cases {
		if st, got := f.call(c, tt.method, tt.path, tt.body); st != tt.status || !strings.Contains(got, tt.want) {
			f.t.Errorf("%s %s %s: %d %s, want %d containing %q", tt.method, tt.path, tt.body, st, got, tt.status, tt.want)
		}
	}
}

// TestSSOTokens: the password grant answers oVirt's JSON; the token works
// as Bearer until revoked; a wrong password is a JSON 401; Basic works.
func TestSSOTokens(t *testing.T) {
	f := newAuthFixture(t, nil)
	st, m := f.token("admin@internal", adminPassword)
	tok, _ := m["access_token"].(string)
	if st != http.StatusOK || tok == "" || m["token_type"] != "bearer" || m["exp"] == nil || m["scope"] != "ovirt-app-api" {
		t.Fatalf("token: %d %v", st, m)
	}
	f.must(cred{token: tok}, http.StatusOK, "GET", "/vms", "")
	f.must(anonymous, http.StatusOK, "POST", "/ovirt-engine/sso/oauth/revoke", url.Values{"token": {tok}}.Encode())
	f.must(cred{token: tok}, http.StatusUnauthorized, "GET", "/vms", "")

	for _, bad := range [][2]string{{"admin@internal", "wrong"}, {"nobody@internal", "x"}, {"admin@ldap", adminPassword}} {
		if st, m := f.token(bad[0], bad[1]); st != http.StatusUnauthorized || m["error_code"] != "access_denied" || m["error"] == "" {
			t.Errorf("log in %s/%s: %d %v", bad[0], bad[1], st, m)
		}
	}
	f.must(cred{user: "admin@internal", pass: adminPassword}, http.StatusOK, "GET", "/datacenters", "")
	f.must(cred{user: "admin@internal-authz", pass: adminPassword}, http.StatusOK, "GET", "/datacenters", "")
	f.must(cred{user: "admin@internal", pass: "wrong"}, http.StatusUnauthorized, "GET", "/datacenters", "")
}

// TestEveryRouteNeedsCredentials: no route of the table answers without
// valid credentials, whatever its method and object.
func TestEveryRouteNeedsCredentials(t *testing.T) {
	f := newAuthFixture(t, nil)
	fill := strings.NewReplacer("{id}", f.dc, "{did}", f.sd, "{pid}", "1", "{$}", "")
	for _, rt := range f.api.routes() {
		path := fill.Replace(rt.path)
		for _, c := range []cred{anonymous, {token: "not-a-token"}} {
			req, _ := http.NewRequest(rt.method, f.srv.URL+Prefix+path, strings.NewReader("<x/>"))
			if c.token != "" {
				req.Header.Set("Authorization", "Bearer "+c.token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" || !strings.Contains(string(body), "<fault>") {
				t.Errorf("%s %s with %+v: %d %s", rt.method, path, c, resp.StatusCode, body)
			}
		}
	}
}

// TestPasswordChange: a new password works at once and the old one, its
// tokens and its cached Basic login stop at once; users may change their
// own password but nobody else's.
func TestPasswordChange(t *testing.T) {
	f := newAuthFixture(t, nil)
	bob := f.addUser("bob", "old-pass")
	f.grant("/datacenters/"+f.dc, "UserRole", bob)
	oldBasic := cred{user: "bob@internal", pass: "old-pass"}
	f.must(oldBasic, http.StatusOK, "GET", "/vms", "") // now cached
	oldToken := f.login("bob@internal", "old-pass")

	body := f.must(f.admin, http.StatusOK, "PUT", "/users/"+bob, `<user><password>new-pass</password></user>`)
	if strings.Contains(body, "password") || strings.Contains(body, "new-pass") {
		t.Errorf("the password is shown: %s", body)
	}
	f.must(oldBasic, http.StatusUnauthorized, "GET", "/vms", "")
	f.must(oldToken, http.StatusUnauthorized, "GET", "/vms", "")
	if st, _ := f.token("bob@internal", "old-pass"); st != http.StatusUnauthorized {
		t.Errorf("old password still logs in: %d", st)
	}
	newBasic := cred{user: "bob@internal", pass: "new-pass"}
	f.must(newBasic, http.StatusOK, "GET", "/vms", "")

	// Bob changes his own; he may not change admin's.
	f.must(newBasic, http.StatusOK, "PUT", "/users/"+bob, `<user><password>own-pass</password></user>`)
	f.must(newBasic, http.StatusUnauthorized, "GET", "/vms", "")
	own := f.login("bob@internal", "own-pass")
	admin := idOf(t, f.must(f.admin, http.StatusOK, "GET", "/users?search=name%3Dadmin", ""))
	f.must(own, http.StatusForbidden, "PUT", "/users/"+admin, `<user><password>taken</password></user>`)
	f.must(own, http.StatusBadRequest, "PUT", "/users/"+bob, `<user><password></password></user>`)
	f.must(own, http.StatusConflict, "PUT", "/users/"+bob, `<user><user_name>robert@internal</user_name></user>`)
}

// TestLoginNeedsRole: the right password is not enough without a role
// holding LOGIN; a removed user cannot log in either.
func TestLoginNeedsRole(t *testing.T) {
	f := newAuthFixture(t, nil)
	carol := f.addUser("carol", "carol-pass")
	if st, m := f.token("carol@internal", "carol-pass"); st != http.StatusUnauthorized || m["error_code"] != "access_denied" {
		t.Errorf("log in without a role: %d %v", st, m)
	}
	f.must(cred{user: "carol@internal", pass: "carol-pass"}, http.StatusUnauthorized, "GET", "/vms", "")
	f.grant("/clusters/"+f.cluster, "UserRole", carol)
	c := f.login("carol@internal", "carol-pass")
	f.must(c, http.StatusOK, "GET", "/vms", "")
	f.must(f.admin, http.StatusOK, "DELETE", "/users/"+carol, "")
	f.must(c, http.StatusUnauthorized, "GET", "/vms", "")
	if st, _ := f.token("carol@internal", "carol-pass"); st != http.StatusUnauthorized {
		t.Errorf("a removed user logs in: %d", st)
	}
}

// TestUsersAPI: users as oVirt shows them, never with a password; search,
// max and the faults of adds and removals.
func TestUsersAPI(t *testing.T) {
	f := newAuthFixture(t, nil)
	bob := f.addUser("bob", "bob-pass")
	body := f.must(f.admin, http.StatusOK, "GET", "/users/"+bob, "")
	mustContain(t, body, `<user href="/ovirt-engine/api/users/`+bob+`" id="`+bob+`">`, "<name>bob</name>",
		"<user_name>bob@internal</user_name>", "<principal>bob</principal>", "<namespace>*</namespace>",
		`<domain id="696e7465726e616c2d617574687a">`, "<name>internal-authz</name>")
	if strings.Contains(body, "password") {
		t.Errorf("a user shows a password: %s", body)
	}
	f.addUser("bobby", "bobby-pass")
	for query, want := range map[string]int{"": 3, "?search=name%3Dbob%40internal": 1, "?search=name%3Dbob*": 2, "?max=1": 1} {
		if n := strings.Count(f.must(f.admin, http.StatusOK, "GET", "/users"+query, ""), "<user "); n != want {
			t.Errorf("GET /users%s: %d users, want %d", query, n, want)
		}
	}
	f.grant("", "UserRole", bob)
	b := f.login("bob@internal", "bob-pass")
	f.must(b, http.StatusOK, "GET", "/users", "")
	admin := idOf(t, f.must(b, http.StatusOK, "GET", "/users?search=name%3Dadmin", ""))
	f.faults(f.admin, []fault{
		{"POST", "/users", `<user><user_name>bob@internal</user_name><password>p</password></user>`, 409, "The name bob@internal is already in use."},
		{"POST", "/users", `<user><user_name>eve@ldap</user_name><password>p</password></user>`, 400, "unknown authentication profile"},
		{"POST", "/users", `<user><user_name>a b</user_name><password>p</password></user>`, 400, "<fault>"},
		{"POST", "/users", `<user><user_name>eve</user_name></user>`, 400, "User [password] required for add."},
		{"POST", "/users", `<user><user_name>eve</user_name><password/></user>`, 400, "password: empty"},
		{"POST", "/users", `<user><user_name>eve</user_name><password>p</password><domain><name>corp-authz</name></domain></user>`, 404, "domain corp-authz"},
		{"GET", "/users/nobody", "", 404, "Entity not found: user nobody"},
		{"DELETE", "/users/nobody", "", 404, "<fault>"},
		{"DELETE", "/users/" + admin, "", 409, "cannot remove themselves"},
	})
	f.faults(b, []fault{
		{"POST", "/users", `<user><user_name>eve</user_name><password>p</password></user>`, 403, "not authorized"},
		{"DELETE", "/users/" + admin, "", 403, "not authorized"},
	})
	// Who may manage users still cannot remove the last SuperUser.
	f.create(f.admin, "/roles", `<role><name>UserAdmin</name><administrative>true</administrative><permits><permit><name>manipulate_users</name></permit></permits></role>`)
	f.grant("", "UserAdmin", bob)
	mustContain(t, f.must(b, http.StatusConflict, "DELETE", "/users/"+admin, ""), "Cannot remove User. It would leave no SuperUser permission")
	f.must(f.admin, http.StatusOK, "DELETE", "/users/"+bob, "")
	f.must(f.admin, http.StatusNotFound, "GET", "/users/"+bob, "")
}

// TestRolesAPI: predefined roles are listed and read-only; custom roles
// and their permits are added, changed and removed; a granted role stays.
func TestRolesAPI(t *testing.T) {
	f := newAuthFixture(t, nil)
	mustContain(t, f.must(f.admin, http.StatusOK, "GET", "/roles", ""), `<role href="/ovirt-engine/api/roles/`+authz.UserRoleID+`" id="`+authz.UserRoleID+`">`,
		"<name>UserRole</name>", "<mutable>false</mutable>", "<name>SuperUser</name>", "<administrative>true</administrative>")
	mustContain(t, f.must(f.admin, http.StatusOK, "GET", "/roles/"+authz.UserRoleID+"/permits", ""),
		`<permit href="/ovirt-engine/api/roles/`+authz.UserRoleID+`/permits/1300" id="1300">`, "<name>login</name>", "<administrative>false</administrative>")

	role := f.create(f.admin, "/roles", `<role><name>Operator</name><description>runs VMs</description><administrative>false</administrative>
		<permits><permit><name>run_vm</name></permit><permit id="1300"/></permits></role>`)
	base := "/roles/" + role
	mustContain(t, f.must(f.admin, http.StatusOK, "GET", base, ""), "<name>Operator</name>", "<description>runs VMs</description>",
		"<mutable>true</mutable>", `<link href="/ovirt-engine/api/roles/`+role+`/permits" rel="permits">`)
	if n := strings.Count(f.must(f.admin, http.StatusOK, "GET", base+"/permits", ""), "<permit "); n != 2 {
		t.Errorf("custom role has %d permits, want 2", n)
	}
	mustContain(t, f.must(f.admin, http.StatusCreated, "POST", base+"/permits", `<permit><name>STOP_VM</name></permit>`), `id="18"`, "<name>stop_vm</name>")
	f.must(f.admin, http.StatusOK, "GET", base+"/permits/18", "")
	f.must(f.admin, http.StatusOK, "DELETE", base+"/permits/18", "")
	f.must(f.admin, http.StatusNotFound, "GET", base+"/permits/18", "")
	mustContain(t, f.must(f.admin, http.StatusOK, "PUT", base, `<role><name>Operator2</name></role>`), "<name>Operator2</name>", "<description>runs VMs</description>")

	dave := f.addUser("dave", "dave-pass")
	pid := f.grant("", "Operator2", dave)
	f.faults(f.admin, []fault{
		{"POST", "/roles", `<role><name>Operator2</name><permits><permit id="1"/></permits></role>`, 409, "already in use"},
		{"POST", "/roles", `<role><name>x</name></role>`, 400, "Role [permits] required for add."},
		{"POST", "/roles", `<role><name>x</name><permits><permit><name>fly</name></permit></permits></role>`, 400, "Unknown permit fly."},
		{"POST", "/roles", `<role><name>x</name><permits><permit id="9999"/></permits></role>`, 400, "Unknown permit"},
		{"POST", "/roles", `<role><name>x</name><permits><permit><name>create_host</name></permit></permits></role>`, 400, "administrative action group CREATE_HOST"},
		{"POST", base + "/permits", `<permit id="22"/>`, 409, "already holds run_vm"},
		{"POST", base + "/permits", `<permit><name>create_host</name></permit>`, 400, "administrative"},
		{"PUT", "/roles/" + authz.UserRoleID, `<role><name>Mine</name></role>`, 409, "predefined role"},
		{"DELETE", "/roles/" + authz.SuperUserID, "", 409, "predefined role"},
		{"POST", "/roles/" + authz.UserRoleID + "/permits", `<permit id="1"/>`, 409, "predefined role"},
		{"DELETE", base, "", 409, "is granted in 1 permissions"},
		{"GET", "/roles/nope", "", 404, "Entity not found: role nope"},
		{"GET", base + "/permits/1", "", 404, "<fault>"},
	})
	f.must(f.admin, http.StatusOK, "DELETE", base+"/permits/22", "")
	f.must(f.admin, http.StatusConflict, "DELETE", base+"/permits/1300", "") // the last one
	d := f.login("dave@internal", "dave-pass")
	f.must(d, http.StatusForbidden, "POST", "/roles", `<role><name>y</name><permits><permit id="1300"/></permits></role>`)
	f.must(d, http.StatusForbidden, "DELETE", base, "")
	f.must(f.admin, http.StatusOK, "DELETE", "/permissions/"+pid, "")
	f.must(f.admin, http.StatusOK, "DELETE", base, "")
	f.must(f.admin, http.StatusNotFound, "GET", base, "")
}
