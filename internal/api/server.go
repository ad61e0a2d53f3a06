package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/govirt/govirt/internal/apperr"
	"github.com/govirt/govirt/internal/engine"
	"github.com/govirt/govirt/internal/store"
)

// Prefix is where oVirt clients expect the API.
const Prefix = "/ovirt-engine/api"

// Principal is the authenticated caller of a request.
type Principal struct {
	UserID string
	Name   string // user@domain, as audit events name it

	// gen is the store's AuthGeneration when the caller was
	// authenticated (when genKnown): the request is authorized as of it.
	gen      int64
	genKnown bool
}

// at is p authenticated at auth generation gen.
func (p Principal) at(gen int64) Principal {
	p.gen, p.genKnown = gen, true
	return p
}

// Object is what an action group is checked on: "system", "data_center",
// "cluster", "host", "storage_domain", "vm", "disk", with its id.
type Object struct {
	Type string
	ID   string
}

// System is the root of the permission tree.
var System = Object{Type: "system"}

// ErrUnauthenticated: no or bad credentials.
var ErrUnauthenticated = errors.New("not authenticated")

// Auth is what the API needs from users and permissions; the authz package
// implements it.
type Auth interface {
	// Authenticate checks the request's Bearer token or HTTP Basic
	// credentials, or returns ErrUnauthenticated.
	Authenticate(r *http.Request) (Principal, error)
	// Allowed tells whether p holds group on obj, directly or inherited.
	Allowed(ctx context.Context, p Principal, group string, obj Object) (bool, error)
	// Visible tells whether p may see obj at all (any permission on it or
	// above it), to filter collections as oVirt does.
	Visible(ctx context.Context, p Principal, obj Object) (bool, error)
	// VisibleAll answers Visible for whole sets of objects at once (a set
	// is visible when all of it is): collections are filtered with one read
	// of the caller's permissions, not one per item.
	VisibleAll(ctx context.Context, p Principal, sets [][]Object) ([]bool, error)
}

// Deps are what the API is built from.
type Deps struct {
	Engine *engine.Engine
	Store  store.Store
	Auth   Auth
	Log    *slog.Logger
}

// Server is the REST API handler.
type Server struct {
	eng  *engine.Engine
	st   store.Store
	auth Auth
	log  *slog.Logger
	mux  *http.ServeMux
	enc  *bodyEncoder
}

// New builds the API and registers every route of the route table.
func New(d Deps) *Server {
	s := &Server{eng: d.Engine, st: d.Store, auth: d.Auth, log: d.Log, mux: http.NewServeMux(), enc: newBodyEncoder()}
	if s.log == nil {
		s.log = slog.Default()
	}
	for _, rt := range s.routes() {
		s.mux.Handle(rt.method+" "+Prefix+rt.path, s.wrap(rt))
	}
	s.ssoRoutes()
	s.mux.HandleFunc(Prefix+"/", func(w http.ResponseWriter, r *http.Request) {
		if _, err := s.auth.Authenticate(r); err != nil {
			s.writeFault(w, r, apperr.New(apperr.NotAuthenticated, "", ""))
			return
		}
		s.writeFault(w, r, notFoundf("No resource at %s %s.", r.Method, r.URL.Path))
	})
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// call is one request on its way through a handler.
type call struct {
	s   *Server
	r   *http.Request
	ctx context.Context
	p   Principal
	raw []byte // the body, read once so checks and handler can both decode it
}

func (c *call) id(name string) string { return c.r.PathValue(name) }

// decode reads the request body (JSON or XML by Content-Type) into v.
func (c *call) decode(v any) error {
	if c.raw == nil {
		b, err := readBody(c.r)
		if err != nil {
			return err
		}
		c.raw = b
	}
	return decodeBytes(c.r, c.raw, v)
}

// require checks an action group the body decides, such as CREATE_VM on
// the cluster a new VM names (see route.bodyChecks).
func (c *call) require(group string, obj Object) error {
	ok, err := c.s.auth.Allowed(c.ctx, c.p, group, obj)
	if err != nil {
		return err
	}
	if !ok {
		return apperr.New(apperr.UserNotAuthorized, actionOf(c.r.Method), typeOf(obj))
	}
	return nil
}

// visible tells whether the caller may see obj.
func (c *call) visible(obj Object) (bool, error) { return c.s.auth.Visible(c.ctx, c.p, obj) }

// queryBool reads a boolean query parameter such as detach_only.
func (c *call) queryBool(name string) bool {
	v, _ := strconv.ParseBool(c.r.URL.Query().Get(name))
	return v
}

// wrap authenticates, checks the route's action group on its object, runs
// the handler and renders its result or fault.
func (s *Server) wrap(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := s.auth.Authenticate(r)
		if err != nil {
			s.writeFault(w, r, apperr.New(apperr.NotAuthenticated, "", ""))
			return
		}
		c := &call{s: s, r: r, ctx: engine.WithCaller(r.Context(), p.Name), p: p}
		if err := s.authorize(c, rt); err != nil {
			s.writeFault(w, r, err)
			return
		}
		status, body, err := rt.handle(c)
		if err != nil {
			s.writeFault(w, r, err)
			return
		}
		if body == nil {
			w.WriteHeader(status)
			return
		}
		s.enc.write(w, r, status, body)
	})
}

// authorize enforces the route's permission before the handler runs.
func (s *Server) authorize(c *call, rt route) error {
	if rt.group == "" {
		return nil
	}
	obj := System
	if rt.on != nil {
		var err error
		if obj, err = rt.on(c); err != nil {
			return err
		}
	}
	return c.require(rt.group, obj)
}

func actionOf(method string) apperr.Action {
	switch method {
	case http.MethodPost:
		return apperr.ActionAdd
	case http.MethodPut:
		return apperr.ActionUpdate
	case http.MethodDelete:
		return apperr.ActionRemove
	}
	return "view"
}

func typeOf(o Object) apperr.Type {
	switch o.Type {
	case "vm":
		return apperr.TypeVM
	case "disk":
		return apperr.TypeDisk
	case "cluster":
		return apperr.TypeCluster
	case "data_center":
		return apperr.TypeDataCenter
	case "storage_domain":
		return apperr.TypeStorageDomain
	case "host":
		return apperr.TypeHost
	case "system":
		return "System"
	}
	return "object"
}
