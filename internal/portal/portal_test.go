package portal

import (
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"
)

func TestResolve(t *testing.T) {
	have := map[string]bool{"index.html": true, "assets/app-3f2a.js": true, "favicon.svg": true}
	exists := func(n string) bool { return have[n] }
	for _, tt := range []struct {
		path string
		want Target
	}{
		{"/", Target{"index.html", CacheRevalidate}},
		{"/index.html", Target{"index.html", CacheRevalidate}},
		{"/assets/app-3f2a.js", Target{"assets/app-3f2a.js", CacheImmutable}},
		{"/favicon.svg", Target{"favicon.svg", CacheRevalidate}},
		{"/vms", Target{"index.html", CacheRevalidate}},
		{"/vms/1234/disks", Target{"index.html", CacheRevalidate}},
		{"/assets/gone-0000.js", Target{}},
		{"/../../etc/passwd", Target{"index.html", CacheRevalidate}}, // cleaned: no way out of the build
		{"/../secret.txt", Target{}},
		{"/a/../assets/app-3f2a.js", Target{"assets/app-3f2a.js", CacheImmutable}},
	} {
		if got := Resolve(tt.path, exists); got != tt.want {
			t.Errorf("Resolve(%q) = %+v, want %+v", tt.path, got, tt.want)
		}
	}
}

func TestHandler(t *testing.T) {
	h := NewFS(fstest.MapFS{
		"index.html":         {Data: []byte("<!doctype html><title>app</title>")},
		"assets/app-3f2a.js": {Data: []byte("console.log(1)")},
	})
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("api")) })
	srv := httptest.NewServer(withHandler(api, h))
	defer srv.Close()
	get := func(path string, hdr ...string) *http.Response {
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	r := get("/vms/42")
	if r.StatusCode != 200 || r.Header.Get("Cache-Control") != CacheRevalidate || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") {
		t.Errorf("SPA route: %d %v", r.StatusCode, r.Header)
	}
	if r2 := get("/", "If-None-Match", r.Header.Get("ETag")); r2.StatusCode != http.StatusNotModified {
		t.Errorf("revalidation with the ETag: %d, want 304", r2.StatusCode)
	}
	if r := get("/assets/app-3f2a.js"); r.Header.Get("Cache-Control") != CacheImmutable || !strings.Contains(r.Header.Get("Content-Type"), "javascript") {
		t.Errorf("asset: %v", r.Header)
	}
	if r := get("/assets/missing-1.js"); r.StatusCode != 404 {
		t.Errorf("missing asset: %d", r.StatusCode)
	}
	if r := get("/ovirt-engine/api/vms"); r.StatusCode != 200 || r.Header.Get("Cache-Control") != "" {
		t.Errorf("API through the mount: %d %v", r.StatusCode, r.Header)
	}
	req, _ := http.NewRequest("POST", srv.URL+"/vms", nil)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST to the portal: %v %v", resp, err)
	}
}

func TestNotBuilt(t *testing.T) {
	h := NewFS(fstest.MapFS{"README": {Data: []byte("x")}})
	if h.Built() {
		t.Fatal("a directory without index.html counts as built")
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/vms", nil))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "make portal") {
		t.Errorf("unbuilt portal: %d %s", rec.Code, rec.Body)
	}
}

func TestAcceptsGzip(t *testing.T) {
	for h, want := range map[string]bool{
		"":                      false,
		"gzip":                  true,
		"gzip, deflate, br":     true,
		"br;q=1.0, gzip;q=0.8":  true,
		"GZIP":                  true,
		"gzip;q=0":              false,
		"deflate, gzip; q=0.0 ": false,
		"identity":              false,
		"*":                     true,
	} {
		if got := AcceptsGzip(h); got != want {
			t.Errorf("AcceptsGzip(%q) = %v, want %v", h, got, want)
		}
	}
}

func TestGzip(t *testing.T) {
	css := strings.Repeat(".pf-v6-c-table { color: red; }\n", 2000)
	h := NewFS(fstest.MapFS{"index.html": {Data: []byte("<!doctype html>")}, "assets/style-1.css": {Data: []byte(css)}})
	req := httptest.NewRequest("GET", "/assets/style-1.css", nil)
	req.Header.Set("Accept-Encoding", "gzip, deflate")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Header().Get("Content-Encoding") != "gzip" || rec.Header().Get("Vary") != "Accept-Encoding" || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/css") {
		t.Fatalf("gzip answer headers: %v", rec.Header())
	}
	zr, err := gzip.NewReader(rec.Body)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(zr)
	if string(got) != css || rec.Body.Len() >= len(css)/10 {
		t.Fatalf("gzip body: %d bytes decompress to %d (want %d)", rec.Body.Len(), len(got), len(css))
	}
	req.Header.Set("If-None-Match", rec.Header().Get("ETag"))
	rec2 := httptest.NewRecorder()
	h.ServeHTTP(rec2, req)
	if rec2.Code != http.StatusNotModified {
		t.Fatalf("revalidating the gzip answer: %d", rec2.Code)
	}
	plain := httptest.NewRecorder()
	h.ServeHTTP(plain, httptest.NewRequest("GET", "/assets/style-1.css", nil))
	if plain.Header().Get("Content-Encoding") != "" || plain.Body.String() != css || plain.Header().Get("ETag") == rec.Header().Get("ETag") {
		t.Fatalf("identity answer: %v", plain.Header())
	}
}
