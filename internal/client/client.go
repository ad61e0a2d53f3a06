// Package client is a small client of govirt's own REST API (oVirt's
// /ovirt-engine/api): it logs in through the SSO token endpoint, speaks
// XML with the wire types of internal/api/ovirt and returns API faults as
// *Fault, so that callers can show oVirt's detail text.
package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/govirt/govirt/internal/api/ovirt"
)

// The engine's paths below the base URL.
const (
	apiPath    = "/ovirt-engine/api"
	tokenPath  = "/ovirt-engine/sso/oauth/token"
	revokePath = "/ovirt-engine/sso/oauth/revoke"
)

// maxResponse bounds what the client reads of one answer.
const maxResponse = 64 << 20

// Client is an authenticated session with one engine. It is safe for
// concurrent use.
type Client struct {
	base   string // scheme://host[:port][/prefix], without /ovirt-engine/…
	token  string
	expiry time.Time
	hc     *http.Client
	log    *slog.Logger
}

// Option configures a Client.
type Option func(*options) error

type options struct {
	insecure bool
	caFile   string
	hc       *http.Client
	log      *slog.Logger
	timeout  time.Duration
}

// WithInsecure skips verifying the engine's TLS certificate.
func WithInsecure(insecure bool) Option {
	return func(o *options) error { o.insecure = insecure; return nil }
}

// WithCAFile trusts the CA certificates (PEM) in path instead of the
// system's, as the oVirt SDKs' ca_file does; "" keeps the system's.
func WithCAFile(path string) Option {
	return func(o *options) error { o.caFile = path; return nil }
}

// WithHTTPClient uses hc as it is; the TLS options are then ignored.
func WithHTTPClient(hc *http.Client) Option {
	return func(o *options) error { o.hc = hc; return nil }
}

// WithLogger logs every request at debug level.
func WithLogger(log *slog.Logger) Option {
	return func(o *options) error { o.log = log; return nil }
}

// WithTimeout bounds each request (default: none beyond the context's).
func WithTimeout(d time.Duration) Option {
	return func(o *options) error { o.timeout = d; return nil }
}

// New returns a client of the engine at baseURL (https://engine.example,
// with or without /ovirt-engine/api) that authenticates with token.
func New(baseURL, token string, opts ...Option) (*Client, error) {
	base, err := NormalizeURL(baseURL)
	if err != nil {
		return nil, err
	}
	o := options{}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	hc := o.hc
	if hc == nil {
		if hc, err = httpClient(o); err != nil {
			return nil, err
		}
	}
	log := o.log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Client{base: base, token: token, hc: hc, log: log}, nil
}

// NormalizeURL reduces an engine URL to scheme://host[:port][/prefix], the
// form sessions are stored and compared in.
func NormalizeURL(raw string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("engine URL %q: want http(s)://HOST[:PORT]", raw)
	}
	p := strings.TrimRight(u.Path, "/")
	p = strings.TrimSuffix(p, apiPath)
	p = strings.TrimSuffix(p, "/ovirt-engine")
	return u.Scheme + "://" + u.Host + p, nil
}

func httpClient(o options) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: o.insecure} // only when asked for
	if o.caFile != "" {
		pem, err := os.ReadFile(o.caFile)
		if err != nil {
			return nil, fmt.Errorf("CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s holds no PEM certificate", o.caFile)
		}
		cfg.RootCAs = pool
	}
	tr.TLSClientConfig = cfg
	return &http.Client{Transport: tr, Timeout: o.timeout}, nil
}

// Login asks the SSO endpoint for a token with user@profile and password
// (the OAuth password grant the oVirt SDKs use) and returns a client that
// uses it.
func Login(ctx context.Context, baseURL, user, password string, opts ...Option) (*Client, error) {
	c, err := New(baseURL, "", opts...)
	if err != nil {
		return nil, err
	}
	form := url.Values{"grant_type": {"password"}, "scope": {"ovirt-app-api"}, "username": {user}, "password": {password}}
	var answer struct {
		Token string `json:"access_token"`
		Exp   string `json:"exp"`
	}
	if err := c.sso(ctx, tokenPath, form, &answer); err != nil {
		return nil, err
	}
	if answer.Token == "" {
		return nil, errors.New("the SSO endpoint answered without an access_token")
	}
	c.token = answer.Token
	if ms, err := strconv.ParseInt(answer.Exp, 10, 64); err == nil {
		c.expiry = time.UnixMilli(ms)
	}
	return c, nil
}

// Logout revokes the client's token.
func (c *Client) Logout(ctx context.Context) error {
	return c.sso(ctx, revokePath, url.Values{"token": {c.token}}, nil)
}

// URL is the engine's base URL in normalized form.
func (c *Client) URL() string { return c.base }

// Token is the session's access token.
func (c *Client) Token() string { return c.token }

// Expiry is when a token from Login expires (zero if unknown).
func (c *Client) Expiry() time.Time { return c.expiry }

// sso posts a form to an SSO endpoint and decodes its JSON answer.
func (c *Client) sso(ctx context.Context, path string, form url.Values, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	body, err := c.send(req)
	if err != nil || out == nil {
		return err
	}
	return json.Unmarshal(body, out)
}

// do sends one API request: in (if not nil) as XML, the answer into out
// (if not nil). path is below /ovirt-engine/api.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := xml.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	u := c.base + apiPath + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/xml")
	if in != nil {
		req.Header.Set("Content-Type", "application/xml")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	b, err := c.send(req)
	if err != nil || out == nil {
		return err
	}
	if err := xml.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s %s: decoding the answer: %w", method, path, err)
	}
	return nil
}

// send runs a request and returns the body of a 2xx answer, or a *Fault.
func (c *Client) send(req *http.Request) ([]byte, error) {
	start := time.Now()
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	c.log.Debug("api request", "method", req.Method, "path", req.URL.Path, "status", resp.StatusCode, "took", time.Since(start))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 300 {
		return nil, faultOf(resp.StatusCode, body)
	}
	return body, nil
}

// Fault is an error answer of the API (oVirt's <fault>) or of the SSO
// endpoint (its error_code and error).
type Fault struct {
	Status int    // HTTP status
	Reason string // "Operation Failed", or the SSO error_code
	Detail string // oVirt's detail text, e.g. "[Cannot run VM. …]"
}

func (f *Fault) Error() string {
	reason := f.Reason
	if reason == "" {
		reason = http.StatusText(f.Status)
	}
	if f.Detail == "" {
		return fmt.Sprintf("%s (HTTP %d)", reason, f.Status)
	}
	return fmt.Sprintf("%s: %s (HTTP %d)", reason, f.Detail, f.Status)
}

// IsStatus tells whether err is a *Fault with HTTP status code.
func IsStatus(err error, code int) bool {
	var f *Fault
	return errors.As(err, &f) && f.Status == code
}

// faultOf reads an error answer in whichever form it came.
func faultOf(status int, body []byte) *Fault {
	f := &Fault{Status: status}
	text := strings.TrimSpace(string(body))
	var x ovirt.Fault
	var sso struct {
		Code  string `json:"error_code"`
		Error string `json:"error"`
	}
	switch {
	case strings.HasPrefix(text, "<") && xml.Unmarshal(body, &x) == nil:
		f.Reason, f.Detail = x.Reason, x.Detail
	case strings.HasPrefix(text, "{") && json.Unmarshal(body, &sso) == nil && sso.Error != "":
		f.Reason, f.Detail = sso.Code, sso.Error
	case strings.HasPrefix(text, "{") && json.Unmarshal(body, &x) == nil:
		f.Reason, f.Detail = x.Reason, x.Detail
	default:
		if len(text) > 500 {
			text = text[:500] + "…"
		}
		f.Detail = text
	}
	return f
}
