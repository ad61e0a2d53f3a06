package api

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/govirt/govirt/internal/authz"
)

// TokenTTL is how long an SSO access token lives.
const TokenTTL = 12 * time.Hour

// ssoRoutes registers oVirt's SSO endpoints: the OAuth password grant the
// SDKs use to log in, and token revocation (logout).
func (s *Server) ssoRoutes() {
	s.mux.HandleFunc("POST /ovirt-engine/sso/oauth/token", s.ssoToken)
	s.mux.HandleFunc("POST /ovirt-engine/sso/oauth/revoke", s.ssoRevoke)
	s.mux.HandleFunc("/ovirt-engine/services/sso-logout", s.ssoRevoke)
}

func ssoError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error_code": code, "error": msg})
}

func (s *Server) ssoToken(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		ssoError(w, http.StatusBadRequest, "invalid_request", "The request is not a valid form.")
		return
	}
	if gt := r.Form.Get("grant_type"); gt != "password" {
		ssoError(w, http.StatusBadRequest, "unsupported_grant_type", "Only grant_type=password is supported.")
		return
	}
	u, err := authz.CheckLogin(r.Context(), s.st, r.Form.Get("username"), r.Form.Get("password"))
	if err != nil {
		ssoError(w, http.StatusUnauthorized, "access_denied", "Cannot authenticate user: the user name or password is incorrect.")
		return
	}
	token, exp, err := authz.IssueToken(r.Context(), s.st, u.ID, TokenTTL)
	if err != nil {
		s.log.Error("issue token", "err", err)
		ssoError(w, http.StatusInternalServerError, "server_error", "The token could not be issued.")
		return
	}
	scope := r.Form.Get("scope")
	if scope == "" {
		scope = "ovirt-app-api"
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(map[string]string{
		"access_token": token,
		"token_type":   "bearer",
		"scope":        scope,
		"exp":          strconv.FormatInt(exp.UnixMilli(), 10),
		"expires_in":   strconv.FormatInt(int64(time.Until(exp).Seconds()), 10),
	})
}

// ssoRevoke ends a token's session. Revoking an unknown token succeeds, as
// RFC 7009 asks, so a client cannot probe tokens.
func (s *Server) ssoRevoke(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		ssoError(w, http.StatusBadRequest, "invalid_request", "The request is not a valid form.")
		return
	}
	token := r.Form.Get("token")
	if token == "" {
		ssoError(w, http.StatusBadRequest, "invalid_request", "token is required.")
		return
	}
	if err := authz.Revoke(r.Context(), s.st, token); err != nil {
		s.log.Warn("revoke token", "err", err)
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte("{}\n"))
}
