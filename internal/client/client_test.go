package client

import (
	"context"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestNormalizeURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://engine.example":                         "https://engine.example",
		"https://engine.example/":                        "https://engine.example",
		"https://engine.example:8443/ovirt-engine/api/":  "https://engine.example:8443",
		"http://127.0.0.1:8080/ovirt-engine":             "http://127.0.0.1:8080",
		" https://proxy.example/virt/ovirt-engine/api  ": "https://proxy.example/virt",
	} {
		if got, err := NormalizeURL(in); err != nil || got != want {
			t.Errorf("NormalizeURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "engine.example", "ftp://engine.example", "https://"} {
		if _, err := NormalizeURL(bad); err == nil {
			t.Errorf("NormalizeURL(%q) accepted", bad)
		}
	}
}

func TestFaultForms(t *testing.T) {
	for _, tt := range []struct {
		status int
		body   string
		want   Fault
		text   string
	}{
		{409, `<?xml version="1.0"?><fault><reason>Operation Failed</reason><detail>[Cannot run VM.]</detail></fault>`,
			Fault{409, "Operation Failed", "[Cannot run VM.]"}, "Operation Failed: [Cannot run VM.] (HTTP 409)"},
		{404, `{"reason":"Operation Failed","detail":"Entity not found: vm x"}`,
			Fault{404, "Operation Failed", "Entity not found: vm x"}, "Operation Failed: Entity not found: vm x (HTTP 404)"},
		{401, `{"error_code":"access_denied","error":"Cannot authenticate user."}`,
			Fault{401, "access_denied", "Cannot authenticate user."}, "access_denied: Cannot authenticate user. (HTTP 401)"},
		{502, "bad gateway\n", Fault{502, "", "bad gateway"}, "Bad Gateway: bad gateway (HTTP 502)"},
		{500, "", Fault{500, "", ""}, "Internal Server Error (HTTP 500)"},
	} {
		got := faultOf(tt.status, []byte(tt.body))
		if *got != tt.want || got.Error() != tt.text {
			t.Errorf("faultOf(%d, %q) = %+v %q; want %+v %q", tt.status, tt.body, *got, got.Error(), tt.want, tt.text)
		}
	}
}

// fakeEngine answers the SSO token endpoint and a few API paths, over TLS.
func fakeEngine(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("POST /ovirt-engine/sso/oauth/token", func(w http.ResponseWriter, r *http.Request) {
		if r.FormValue("password") != "pw" {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error_code":"access_denied","error":"Cannot authenticate user."}`))
			return
		}
		_, _ = w.Write([]byte(`{"access_token":"tok-` + r.FormValue("username") + `","exp":"1893456000000"}`))
	})
	mux.HandleFunc("GET /ovirt-engine/api/vms", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok-admin@internal" {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`<fault><reason>Operation Failed</reason><detail>not authenticated</detail></fault>`))
			return
		}
		_, _ = w.Write([]byte(`<vms><vm id="11111111-1111-1111-1111-111111111111"><name>web1</name><cluster id="c"><name>x</name></cluster></vm>
			<vm id="22222222-2222-2222-2222-222222222222"><name>web1</name></vm><vm id="33333333-3333-3333-3333-333333333333"><name>web10</name></vm></vms>`))
	})
	mux.HandleFunc("GET /ovirt-engine/api/vms/{id}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") != "33333333-3333-3333-3333-333333333333" {
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`<fault><reason>Operation Failed</reason><detail>Entity not found</detail></fault>`))
			return
		}
		_, _ = w.Write([]byte(`<vm id="33333333-3333-3333-3333-333333333333"><name>web10</name></vm>`))
	})
	srv := httptest.NewTLSServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestLoginTLS(t *testing.T) {
	srv := fakeEngine(t)
	ctx := context.Background()
	if _, err := Login(ctx, srv.URL, "admin@internal", "pw"); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("login without trusting the certificate: %v", err)
	}
	c, err := Login(ctx, srv.URL+"/ovirt-engine/api", "admin@internal", "pw", WithInsecure(true))
	if err != nil || c.Token() != "tok-admin@internal" || c.Expiry().Year() != 2030 || c.URL() != srv.URL {
		t.Fatalf("insecure login: %v %+v", err, c)
	}
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Login(ctx, srv.URL, "admin@internal", "pw", WithCAFile(ca)); err != nil {
		t.Errorf("login with --ca-file: %v", err)
	}
	_, err = Login(ctx, srv.URL, "admin@internal", "wrong", WithCAFile(ca))
	var f *Fault
	if !errors.As(err, &f) || f.Status != 401 || f.Detail != "Cannot authenticate user." {
		t.Errorf("wrong password: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "empty.pem"), []byte("nothing"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{filepath.Join(dir, "missing.pem"), filepath.Join(dir, "empty.pem")} {
		if _, err := New(srv.URL, "", WithCAFile(bad)); err == nil {
			t.Errorf("CA file %s accepted", bad)
		}
	}
}

func TestResolve(t *testing.T) {
	srv := fakeEngine(t)
	ctx := context.Background()
	c, err := New(srv.URL, "tok-admin@internal", WithHTTPClient(srv.Client()))
	if err != nil {
		t.Fatal(err)
	}
	if id, err := c.Resolve(ctx, VMs, "web10"); err != nil || id != "33333333-3333-3333-3333-333333333333" {
		t.Errorf("web10: %q %v", id, err)
	}
	if _, err := c.Resolve(ctx, VMs, "web1"); err == nil || err.Error() != `2 VMs are named "web1": give the id` {
		t.Errorf("web1: %v", err)
	}
	if id, err := c.Resolve(ctx, VMs, "33333333-3333-3333-3333-333333333333"); err != nil || id != "33333333-3333-3333-3333-333333333333" {
		t.Errorf("by id: %q %v", id, err)
	}
	for _, missing := range []string{"nope", "44444444-4444-4444-4444-444444444444"} {
		if _, err := c.Resolve(ctx, VMs, missing); err == nil || err.Error() != `no VM named "`+missing+`"` {
			t.Errorf("%s: %v", missing, err)
		}
	}
	names, err := c.Names(ctx, VMs)
	if err != nil || names["33333333-3333-3333-3333-333333333333"] != "web10" || len(names) != 3 {
		t.Errorf("Names: %v %v", names, err)
	}
	c2, _ := New(srv.URL, "stale", WithHTTPClient(srv.Client()))
	if _, err := c2.ListVMs(ctx, ""); !IsStatus(err, http.StatusUnauthorized) {
		t.Errorf("stale token: %v", err)
	}
}
