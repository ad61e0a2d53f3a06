// Package portal serves govirt's web admin portal: the single-page app built
// from web/ into dist/ and embedded in the binary. It is a client of the
// REST API like any other; this package only serves files.
package portal

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"
)

//go:embed all:dist
var dist embed.FS

// APIPrefix is what Mount hands to the API: oVirt's /ovirt-engine/ tree
// (API, SSO and services).
const APIPrefix = "/ovirt-engine/"

// Mount serves api below /ovirt-engine/ and the portal everywhere else.
func Mount(api http.Handler) http.Handler { return withHandler(api, New()) }

func withHandler(api http.Handler, portal *Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle(APIPrefix, api)
	mux.Handle("/", portal)
	return mux
}

// notBuilt is the page served when dist holds no build: a clean clone
// compiles without npm, and says how to get the portal.
const notBuilt = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>govirt</title></head>
<body><h1>govirt</h1><p>The web portal is not built into this binary: run <code>make portal</code>
(npm, then go build). The REST API is at <a href="/ovirt-engine/api">/ovirt-engine/api</a>.</p></body></html>
`

// Handler serves the embedded files with caching headers and falls back to
// index.html for the app's own routes (/vms/123), as a single-page app needs.
type Handler struct {
	files fs.FS
	mu    sync.Mutex
	etags map[string]string
	gz    map[string][]byte // gzip of compressible files, made on first request
}

// New serves the embedded build.
func New() *Handler {
	sub, err := fs.Sub(dist, "dist")
	if err != nil {
		panic(err) // the embed pattern guarantees the directory
	}
	return NewFS(sub)
}

// NewFS serves files from fsys: tests serve a build of their own.
func NewFS(fsys fs.FS) *Handler {
	return &Handler{files: fsys, etags: map[string]string{}, gz: map[string][]byte{}}
}

// Built tells whether the files hold a portal build (its index.html).
func (h *Handler) Built() bool {
	_, err := fs.Stat(h.files, "index.html")
	return err == nil
}

// Target is how a request path is answered: which file, and how long
// browsers may keep it.
type Target struct {
	File         string // path inside the build; "" when not found
	CacheControl string
}

// Cache policies. Hashed assets never change under one name; index.html
// must be revalidated so that a new build is picked up at once.
const (
	CacheImmutable  = "public, max-age=31536000, immutable"
	CacheRevalidate = "no-cache"
)

// Resolve decides what answers path given whether a file exists: files under
// assets/ are content-hashed, other files revalidate, and paths without an
// extension are the app's routes (index.html). Missing files with an
// extension are 404s, so a broken asset link shows as one.
func Resolve(p string, exists func(string) bool) Target {
	name := strings.TrimPrefix(path.Clean("/"+p), "/")
	switch {
	case name == "" || name == "index.html":
		return Target{"index.html", CacheRevalidate}
	case exists(name) && strings.HasPrefix(name, "assets/"):
		return Target{name, CacheImmutable}
	case exists(name):
		return Target{name, CacheRevalidate}
	case path.Ext(name) == "":
		return Target{"index.html", CacheRevalidate}
	}
	return Target{}
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if !h.Built() {
		w.Header().Set("Cache-Control", CacheRevalidate)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(notBuilt))
		return
	}
	t := Resolve(r.URL.Path, func(name string) bool {
		st, err := fs.Stat(h.files, name)
		return err == nil && !st.IsDir()
	})
	if t.File == "" {
		http.NotFound(w, r)
		return
	}
	b, err := fs.ReadFile(h.files, t.File)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Cache-Control", t.CacheControl)
	if t.File == "index.html" {
		w.Header().Set("X-Frame-Options", "DENY")
	}
	etag := h.etag(t.File, b)
	if Compressible(t.File) {
		w.Header().Set("Vary", "Accept-Encoding")
		if AcceptsGzip(r.Header.Get("Accept-Encoding")) {
			h.serveGzip(w, r, t.File, etag, b)
			return
		}
	}
	w.Header().Set("ETag", etag)
	// ServeContent sets the type by extension, answers If-None-Match with
	// 304 and handles ranges.
	http.ServeContent(w, r, t.File, time.Time{}, bytes.NewReader(b))
}

// etag is a strong validator of a file's content, computed once per file.
func (h *Handler) etag(name string, b []byte) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if e, ok := h.etags[name]; ok {
		return e
	}
	sum := sha256.Sum256(b)
	e := `"` + hex.EncodeToString(sum[:12]) + `"`
	h.etags[name] = e
	return e
}

// Compressible tells whether a file is text worth gzipping (the bundle's
// CSS is about 1 MB, a tenth of that gzipped); fonts are compressed already.
func Compressible(name string) bool {
	switch path.Ext(name) {
	case ".html", ".css", ".js", ".svg", ".json", ".map":
		return true
	}
	return false
}

// AcceptsGzip reads an Accept-Encoding header: gzip listed without q=0.
func AcceptsGzip(header string) bool {
	for _, part := range strings.Split(header, ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(coding), "gzip") && strings.TrimSpace(coding) != "*" {
			continue
		}
		q := strings.ReplaceAll(strings.TrimSpace(params), " ", "")
		return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
	}
	return false
}

// serveGzip answers with the file gzipped, compressed once and kept. Its
// ETag differs from the identity encoding's, as RFC 9110 asks.
func (h *Handler) serveGzip(w http.ResponseWriter, r *http.Request, name, etag string, b []byte) {
	h.mu.Lock()
	z, ok := h.gz[name]
	h.mu.Unlock()
	if !ok {
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		_, _ = zw.Write(b)
		_ = zw.Close()
		z = buf.Bytes()
		h.mu.Lock()
		h.gz[name] = z
		h.mu.Unlock()
	}
	etag = strings.TrimSuffix(etag, `"`) + `-gz"`
	w.Header().Set("ETag", etag)
	if match := r.Header.Get("If-None-Match"); match != "" && strings.Contains(match, etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	ctype := mime.TypeByExtension(path.Ext(name))
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Content-Encoding", "gzip")
	w.Header().Set("Content-Length", strconv.Itoa(len(z)))
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(z)
}
