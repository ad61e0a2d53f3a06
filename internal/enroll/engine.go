package enroll

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/govirt/govirt/internal/pki"
)

// Result is what the engine learns of an enrolled agent.
type Result struct {
	HostID   string // the agent's own id: the engine's host id
	Hostname string
}

// CertValidity is how long an agent's certificate is valid.
const CertValidity = 5 * 365 * 24 * time.Hour

// Enrol takes the unenrolled agent at target (HOST:PORT) under ca: it checks
// the agent's proof of the secret, signs the agent's key for the host part of
// target, and installs the certificate with the engine's proof.
func Enrol(ctx context.Context, target, secret string, ca *pki.CA) (Result, error) {
	host, _, err := net.SplitHostPort(target)
	if err != nil {
		return Result{}, fmt.Errorf("enroll: address %q: %w", target, err)
	}
	var peer []byte
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{
			MinVersion: tls.VersionTLS13,
			// The agent's certificate is self-signed and throw-away: trust
			// comes from the proofs, which are bound to its fingerprint.
			InsecureSkipVerify: true, //nolint:gosec // checked by the HMAC proof below
			VerifyConnection: func(cs tls.ConnectionState) error {
				if len(cs.PeerCertificates) == 0 {
					return errors.New("agent presented no certificate")
				}
				peer = cs.PeerCertificates[0].Raw
				return nil
			},
		},
		DisableKeepAlives: false,
	}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 15 * time.Second}
	base := "https://" + target

	nonce := make([]byte, 32)
	if _, err := rand.Read(nonce); err != nil {
		return Result{}, err
	}
	var cr csrReply
	if err := post(ctx, hc, base+pathCSR, csrRequest{Nonce: nonce}, &cr); err != nil {
		return Result{}, err
	}
	certFP := fingerprint(peer)
	if !checkProof(cr.Proof, secret, labelCSR, nonce, certFP, cr.CSR, []byte(cr.HostID)) {
		return Result{}, ErrBadSecret
	}
	if cr.HostID == "" {
		return Result{}, fmt.Errorf("%w: the agent sent no host id", ErrNotEnrolling)
	}
	certPEM, err := ca.SignCSR(cr.CSR, true, []string{host}, CertValidity)
	if err != nil {
		return Result{}, fmt.Errorf("enroll: sign the agent's request: %w", err)
	}
	caPEM := ca.CertPEM()
	in := installRequest{Nonce: nonce, Cert: certPEM, CA: caPEM, Proof: proof(secret, labelInstall, nonce, certFP, certPEM, caPEM)}
	if err := post(ctx, hc, base+pathInstall, in, nil); err != nil {
		return Result{}, err
	}
	if !bytes.Equal(fingerprint(peer), certFP) {
		return Result{}, errors.New("enroll: the agent's certificate changed during enrolment")
	}
	return Result{HostID: cr.HostID, Hostname: cr.Hostname}, nil
}

// post sends one JSON request and decodes the reply, mapping the agent's
// refusals to the package's errors.
func post(ctx context.Context, hc *http.Client, url string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		var rec tls.RecordHeaderError
		if errors.As(err, &rec) || isTLSAlert(err) {
			return fmt.Errorf("%w: %v", ErrNotEnrolling, err)
		}
		return fmt.Errorf("enroll: %w", err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, maxRequest))
	switch {
	case resp.StatusCode == http.StatusForbidden:
		return ErrBadSecret
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusConflict:
		return fmt.Errorf("%w: %s", ErrNotEnrolling, resp.Status)
	case resp.StatusCode >= 300:
		var f faultReply
		_ = json.Unmarshal(data, &f)
		return fmt.Errorf("enroll: agent refused: %s: %s", resp.Status, f.Reason)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%w: %v", ErrNotEnrolling, err)
	}
	return nil
}

// isTLSAlert tells a TLS-level refusal (an enrolled agent demands a client
// certificate the enrolment client does not send) from a network failure.
func isTLSAlert(err error) bool {
	var ae tls.AlertError
	var op *net.OpError
	return errors.As(err, &ae) || errors.As(err, &op) && op.Op == "remote error"
}
