// Package enroll takes a new host agent under the engine's CA without
// trusting the network in between. The agent prints a one-time bootstrap
// secret; the administrator gives it to the engine (POST /hosts with
// root_password, as oVirt clients send it). Over a TLS connection the agent
// terminates with a throw-away certificate, each side proves it knows the
// secret with an HMAC bound to a fresh engine nonce and to that certificate,
// so neither a stranger nor a man in the middle can enrol an agent or make an
// engine trust one. The engine then signs the agent's CSR; from then on the
// agent speaks only mutual TLS with certificates of the engine's CA.
package enroll

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"strings"
)

// Errors the engine can tell apart.
var (
	// ErrBadSecret: the agent and the engine hold different secrets (a typo,
	// an agent that was restarted with a new state dir, or a man in the
	// middle).
	ErrBadSecret = errors.New("enroll: the bootstrap secret does not match the agent's")
	// ErrNotEnrolling: the address answers, but not as an agent waiting for
	// enrolment (already enrolled with some CA, or not a govirt agent).
	ErrNotEnrolling = errors.New("enroll: the agent is not waiting for enrolment")
)

// Paths of the enrolment endpoints an unenrolled agent serves.
const (
	pathCSR     = "/govirt/enroll/v1/csr"
	pathInstall = "/govirt/enroll/v1/install"
)

// Labels keep a proof for one step from being replayed as the other.
const (
	labelCSR     = "govirt-enroll-csr"
	labelInstall = "govirt-enroll-install"
)

// NewSecret returns a bootstrap secret: 160 random bits in base32 groups of
// four, easy to read aloud and far beyond guessing.
func NewSecret() (string, error) {
	b := make([]byte, 20)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	s := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b)
	var groups []string
	for len(s) > 4 {
		groups = append(groups, s[:4])
		s = s[4:]
	}
	return strings.Join(append(groups, s), "-"), nil
}

// normalize lets an administrator type the secret in any case, with or
// without the dashes.
func normalize(secret string) string {
	return strings.ToUpper(strings.NewReplacer("-", "", " ", "").Replace(strings.TrimSpace(secret)))
}

// proof is HMAC-SHA256 under the secret of the label and each part, every
// part length-prefixed so that no two different sequences collide.
func proof(secret, label string, parts ...[]byte) []byte {
	m := hmac.New(sha256.New, []byte(normalize(secret)))
	m.Write([]byte(label))
	var n [8]byte
	for _, p := range parts {
		binary.BigEndian.PutUint64(n[:], uint64(len(p)))
		m.Write(n[:])
		m.Write(p)
	}
	return m.Sum(nil)
}

// checkProof compares in constant time.
func checkProof(got []byte, secret, label string, parts ...[]byte) bool {
	return hmac.Equal(got, proof(secret, label, parts...))
}

// fingerprint is the SHA-256 of a certificate's DER bytes.
func fingerprint(der []byte) []byte {
	s := sha256.Sum256(der)
	return s[:]
}

type csrRequest struct {
	Nonce []byte `json:"nonce"`
}

type csrReply struct {
	HostID   string `json:"host_id"`
	Hostname string `json:"hostname"`
	CSR      []byte `json:"csr"`
	Proof    []byte `json:"proof"`
}

type installRequest struct {
	Nonce []byte `json:"nonce"`
	Cert  []byte `json:"cert"`
	CA    []byte `json:"ca"`
	Proof []byte `json:"proof"`
}

type faultReply struct {
	Reason string `json:"reason"`
}
