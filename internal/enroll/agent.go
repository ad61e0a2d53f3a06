package enroll

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/govirt/govirt/internal/pki"
)

// Files are an enrolled agent's mutual-TLS material.
type Files struct {
	Cert string // the agent's certificate, issued by the engine's CA
	Key  string // its private key, generated on the host (0600)
	CA   string // the engine's CA: only clients it issued get in
}

// FilesIn names the files an enrolment writes into dir.
func FilesIn(dir string) Files {
	return Files{Cert: filepath.Join(dir, "agent.crt"), Key: filepath.Join(dir, "agent.key"), CA: filepath.Join(dir, "engine-ca.crt")}
}

// Enrolled tells whether dir holds a finished enrolment.
func Enrolled(dir string) bool {
	f := FilesIn(dir)
	for _, p := range []string{f.Cert, f.Key, f.CA} {
		if _, err := os.Stat(p); err != nil {
			return false
		}
	}
	return true
}

// AgentConfig is what an unenrolled agent needs to wait for its engine.
type AgentConfig struct {
	Listen     string // HOST:PORT, the address the agent will serve gRPC on
	Dir        string // where Files go
	SecretFile string // keeps the bootstrap secret across restarts until enrolment (0600)
	HostID     string
	Hostname   string
	Out        io.Writer // the secret is printed here for the administrator
	Log        *slog.Logger
}

// WaitEnrolled returns the agent's files once an engine has enrolled it,
// serving the enrolment endpoints on cfg.Listen until then (at once when the
// agent was enrolled before). The listener is closed before it returns, so
// the caller can serve gRPC on the same address.
func WaitEnrolled(ctx context.Context, cfg AgentConfig) (Files, error) {
	if Enrolled(cfg.Dir) {
		return FilesIn(cfg.Dir), nil
	}
	secret, err := loadSecret(cfg.SecretFile)
	if err != nil {
		return Files{}, err
	}
	keyPEM, csrPEM, err := pki.NewKeyAndCSR(cfg.HostID, nil)
	if err != nil {
		return Files{}, err
	}
	boot, err := bootstrapCert(cfg.HostID)
	if err != nil {
		return Files{}, err
	}
	e := &enrollee{cfg: cfg, secret: secret, keyPEM: keyPEM, csrPEM: csrPEM, certFP: fingerprint(boot.Certificate[0]),
		nonces: map[string]bool{}, done: make(chan struct{})}
	lis, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return Files{}, fmt.Errorf("enrolment listen %s: %w", cfg.Listen, err)
	}
	srv := &http.Server{Handler: e.routes(), ReadHeaderTimeout: 10 * time.Second,
		TLSConfig: &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{boot}}}
	errc := make(chan error, 1)
	go func() { errc <- srv.ServeTLS(lis, "", "") }()
	fmt.Fprintf(cfg.Out, "govirt agent %s is not enrolled. Add it to the engine with its address %s and this bootstrap secret (as root_password):\n%s\n",
		cfg.HostID, cfg.Listen, secret)
	cfg.Log.Info("agent waiting for enrolment", "listen", cfg.Listen, "secret_file", cfg.SecretFile)
	select {
	case <-ctx.Done():
		_ = srv.Close()
		return Files{}, ctx.Err()
	case err := <-errc:
		return Files{}, fmt.Errorf("enrolment server: %w", err)
	case <-e.done:
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx) // lets the install reply reach the engine
	if err := os.Remove(cfg.SecretFile); err != nil && !errors.Is(err, os.ErrNotExist) {
		cfg.Log.Warn("bootstrap secret left on disk", "file", cfg.SecretFile, "err", err)
	}
	cfg.Log.Info("agent enrolled")
	return FilesIn(cfg.Dir), nil
}

// loadSecret reads the kept secret or makes and keeps a new one.
func loadSecret(path string) (string, error) {
	if b, err := os.ReadFile(path); err == nil && len(bytes.TrimSpace(b)) > 0 {
		return strings.TrimSpace(string(b)), nil
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("bootstrap secret: %w", err)
	}
	s, err := NewSecret()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", err
	}
	if err := os.WriteFile(path, []byte(s+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("bootstrap secret: %w", err)
	}
	return s, nil
}

// bootstrapCert is a throw-away self-signed certificate for the enrolment
// endpoint; the proofs, not a CA, make it trustworthy.
func bootstrapCert(cn string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: cn + " (enrolment)"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(7 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// enrollee is the agent's side of the exchange.
type enrollee struct {
	cfg            AgentConfig
	secret         string
	keyPEM, csrPEM []byte
	certFP         []byte

	mu        sync.Mutex
	nonces    map[string]bool // nonces a CSR was handed out for
	installed bool
	done      chan struct{}
}

// maxNonces bounds the memory a caller hammering the CSR endpoint can take.
const maxNonces = 64

func (e *enrollee) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+pathCSR, e.serveCSR)
	mux.HandleFunc("POST "+pathInstall, e.serveInstall)
	return mux
}

func (e *enrollee) serveCSR(w http.ResponseWriter, r *http.Request) {
	var req csrRequest
	if err := decode(r, &req); err != nil || len(req.Nonce) < 16 {
		fault(w, http.StatusBadRequest, "a nonce of at least 16 bytes is required")
		return
	}
	e.mu.Lock()
	if len(e.nonces) >= maxNonces {
		e.nonces = map[string]bool{}
	}
	e.nonces[string(req.Nonce)] = true
	e.mu.Unlock()
	reply := csrReply{HostID: e.cfg.HostID, Hostname: e.cfg.Hostname, CSR: e.csrPEM,
		Proof: proof(e.secret, labelCSR, req.Nonce, e.certFP, e.csrPEM, []byte(e.cfg.HostID))}
	writeJSON(w, http.StatusOK, reply)
}

func (e *enrollee) serveInstall(w http.ResponseWriter, r *http.Request) {
	var req installRequest
	if err := decode(r, &req); err != nil {
		fault(w, http.StatusBadRequest, "malformed install request")
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.installed {
		fault(w, http.StatusConflict, "already enrolled")
		return
	}
	if !e.nonces[string(req.Nonce)] || !checkProof(req.Proof, e.secret, labelInstall, req.Nonce, e.certFP, req.Cert, req.CA) {
		e.cfg.Log.Warn("enrolment refused: wrong bootstrap secret or unknown nonce", "remote", r.RemoteAddr)
		fault(w, http.StatusForbidden, "the proof does not match this agent's bootstrap secret")
		return
	}
	if err := checkIssued(req.Cert, req.CA, e.keyPEM); err != nil {
		fault(w, http.StatusBadRequest, err.Error())
		return
	}
	if err := pki.WritePair(e.cfg.Dir, "agent", req.Cert, e.keyPEM); err != nil {
		fault(w, http.StatusInternalServerError, err.Error())
		return
	}
	if err := os.WriteFile(FilesIn(e.cfg.Dir).CA, req.CA, 0o644); err != nil {
		fault(w, http.StatusInternalServerError, err.Error())
		return
	}
	e.installed = true
	w.WriteHeader(http.StatusNoContent)
	close(e.done)
}

// checkIssued makes sure the certificate is for the agent's own key and
// chains to the CA it is installed with.
func checkIssued(certPEM, caPEM, keyPEM []byte) error {
	if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
		return fmt.Errorf("certificate is not for this agent's key: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return errors.New("no CA certificate")
	}
	b, _ := pem.Decode(certPEM)
	cert, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		return err
	}
	_, err = cert.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	return err
}

// maxRequest bounds enrolment request bodies (certificates are small).
const maxRequest = 64 << 10

func decode(r *http.Request, v any) error {
	return json.NewDecoder(io.LimitReader(r.Body, maxRequest)).Decode(v)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func fault(w http.ResponseWriter, status int, reason string) {
	writeJSON(w, status, faultReply{Reason: reason})
}
