package api

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/govirt/govirt/internal/api/ovirt"
	"github.com/govirt/govirt/internal/apperr"
	"github.com/govirt/govirt/internal/store"
)

// statusOf is the one table from an error's kind to an HTTP status, as
// oVirt's ErrorMessageHelper maps its error types.
var statusOf = map[apperr.Kind]int{
	apperr.KindBadParameter:     http.StatusBadRequest,
	apperr.KindConstraint:       http.StatusBadRequest,
	apperr.KindNotSupported:     http.StatusBadRequest,
	apperr.KindConflict:         http.StatusConflict,
	apperr.KindNoPermission:     http.StatusForbidden,
	apperr.KindNoAuthentication: http.StatusUnauthorized,
	apperr.KindNotFound:         http.StatusNotFound,
}

// httpError is a fault the API itself raises (not the engine).
type httpError struct {
	status int
	reason string
	detail string
}

func (e *httpError) Error() string { return e.detail }

func notFoundf(format string, args ...any) error {
	return &httpError{http.StatusNotFound, "Operation Failed", fmt.Sprintf(format, args...)}
}

func badRequestf(format string, args ...any) error {
	return &httpError{http.StatusBadRequest, "Bad Request", fmt.Sprintf(format, args...)}
}

// writeFault renders err as an oVirt fault. Errors that are neither the
// engine's user-facing errors nor the API's own are internal: they are
// logged and answered with a generic 500, never with their text.
func (s *Server) writeFault(w http.ResponseWriter, r *http.Request, err error) {
	status, fault := faultOf(err)
	if status == http.StatusInternalServerError {
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="RESTAPI"`)
	}
	s.enc.write(w, r, status, fault)
}

func faultOf(err error) (int, ovirt.Fault) {
	var ae *apperr.Error
	var he *httpError
	switch {
	case errors.As(err, &ae):
		st, ok := statusOf[ae.Kind]
		if !ok {
			st = http.StatusBadRequest
		}
		return st, ovirt.Fault{Reason: "Operation Failed", Detail: "[" + ae.Error() + "]"}
	case errors.As(err, &he):
		return he.status, ovirt.Fault{Reason: he.reason, Detail: he.detail}
	case errors.Is(err, errBadBody):
		return http.StatusBadRequest, ovirt.Fault{Reason: "Bad Request", Detail: err.Error()}
	// Safety nets: a constraint the database enforced, or a row gone
	// meanwhile, is the request's problem, never a server error.
	case errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrReferenced):
		return http.StatusConflict, ovirt.Fault{Reason: "Operation Failed", Detail: "[The request conflicts with the current state of the objects it names.]"}
	case errors.Is(err, store.ErrNotFound):
		return http.StatusNotFound, ovirt.Fault{Reason: "Operation Failed", Detail: "[An object the request names does not exist.]"}
	}
	return http.StatusInternalServerError, ovirt.Fault{Reason: "Internal Error", Detail: "The server failed to handle the request; see the engine log."}
}
