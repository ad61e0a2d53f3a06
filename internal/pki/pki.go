// Package pki is govirt's private certificate authority: the engine runs one
// CA and issues the certificates with which it and its host agents
// authenticate each other over mutual TLS. Keys are ECDSA P-256 (small, fast,
// supported everywhere TLS 1.3 is), serial numbers are random 128-bit and
// every certificate carries exactly the key usages its role needs, so a
// client certificate cannot serve as a server's or sign others.
package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"time"
)

// backdate is how far NotBefore lies in the past, so that a host whose clock
// is a little behind the engine's accepts a certificate issued just now.
const backdate = 5 * time.Minute

// PEM block types this package writes.
const (
	pemCertificate = "CERTIFICATE"
	pemPrivateKey  = "PRIVATE KEY" // PKCS #8
	pemCSR         = "CERTIFICATE REQUEST"
)

// ErrInvalid marks input this package refuses: unparsable PEM, a key that
// does not match its certificate, a certificate that is not a CA, a CSR whose
// signature is wrong, a request that makes no sense.
var ErrInvalid = errors.New("pki: invalid input")

// CA is a certificate authority: its certificate and the key that signs.
type CA struct {
	cert    *x509.Certificate
	certPEM []byte
	key     *ecdsa.PrivateKey
	keyPEM  []byte
}

// NewCA creates a self-signed CA valid for validity from now. It may sign
// end-entity certificates only (path length 0): govirt has no intermediate
// CAs, and forbidding them limits what a stolen leaf key could do.
func NewCA(commonName string, validity time.Duration) (*CA, error) {
	if commonName == "" || validity <= 0 {
		return nil, fmt.Errorf("%w: a CA needs a common name and a positive validity", ErrInvalid)
	}
	key, err := newKey()
	if err != nil {
		return nil, err
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	ski, err := subjectKeyID(&key.PublicKey)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
		SubjectKeyId:          ski,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("pki: create CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("pki: parse CA certificate: %w", err)
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return nil, err
	}
	return &CA{cert: cert, certPEM: encodeCert(der), key: key, keyPEM: keyPEM}, nil
}

// LoadCA restores a CA from the PEM its CertPEM and KeyPEM produced. It
// checks that the certificate is a CA and that the key is the certificate's,
// so a mixed-up file pair fails here and not at the first handshake.
func LoadCA(certPEM, keyPEM []byte) (*CA, error) {
	cert, err := parseCert(certPEM)
	if err != nil {
		return nil, err
	}
	if !cert.IsCA || cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return nil, fmt.Errorf("%w: certificate %q is not a CA", ErrInvalid, cert.Subject.CommonName)
	}
	key, err := parseKey(keyPEM)
	if err != nil {
		return nil, err
	}
	pub, ok := cert.PublicKey.(*ecdsa.PublicKey)
	if !ok || !pub.Equal(&key.PublicKey) {
		return nil, fmt.Errorf("%w: the key does not belong to CA certificate %q", ErrInvalid, cert.Subject.CommonName)
	}
	// Re-encode rather than keep the caller's bytes: a file may hold several
	// PEM blocks or comments, and CertPEM/KeyPEM promise exactly one.
	canonical, err := encodeKey(key)
	if err != nil {
		return nil, err
	}
	return &CA{cert: cert, certPEM: encodeCert(cert.Raw), key: key, keyPEM: canonical}, nil
}

// Certificate is the CA's parsed certificate, for building trust pools.
func (ca *CA) Certificate() *x509.Certificate { return ca.cert }

// CertPEM is the CA certificate, which every engine and agent trusts.
func (ca *CA) CertPEM() []byte { return append([]byte(nil), ca.certPEM...) }

// KeyPEM is the CA's private key (PKCS #8). Only the engine keeps it.
func (ca *CA) KeyPEM() []byte { return append([]byte(nil), ca.keyPEM...) }

// IssueServer issues an agent's server certificate for the DNS names and IP
// addresses in hosts (at least one: TLS clients check the name they dialed
// against these, never against the common name), with a fresh key.
func (ca *CA) IssueServer(commonName string, hosts []string, validity time.Duration) (certPEM, keyPEM []byte, err error) {
	return ca.issueWithNewKey(commonName, true, hosts, validity)
}

// IssueClient issues a client certificate (the engine's) with a fresh key;
// the common name identifies the client to the agents.
func (ca *CA) IssueClient(commonName string, validity time.Duration) (certPEM, keyPEM []byte, err error) {
	return ca.issueWithNewKey(commonName, false, nil, validity)
}

func (ca *CA) issueWithNewKey(commonName string, server bool, hosts []string, validity time.Duration) (certPEM, keyPEM []byte, err error) {
	key, err := newKey()
	if err != nil {
		return nil, nil, err
	}
	certPEM, err = ca.issue(&key.PublicKey, commonName, server, hosts, validity)
	if err != nil {
		return nil, nil, err
	}
	keyPEM, err = encodeKey(key)
	if err != nil {
		return nil, nil, err
	}
	return certPEM, keyPEM, nil
}

// issue signs a leaf certificate for pub. Server certificates get the
// serverAuth extended key usage and the hosts as subject alternative names;
// client certificates get clientAuth and no names. Validity is cut at the
// CA's own expiry, since nothing would verify beyond it anyway.
func (ca *CA) issue(pub crypto.PublicKey, commonName string, server bool, hosts []string, validity time.Duration) ([]byte, error) {
	if commonName == "" || validity <= 0 {
		return nil, fmt.Errorf("%w: a certificate needs a common name and a positive validity", ErrInvalid)
	}
	if server && len(hosts) == 0 {
		return nil, fmt.Errorf("%w: a server certificate needs at least one host name or IP", ErrInvalid)
	}
	if !server && len(hosts) > 0 {
		return nil, fmt.Errorf("%w: a client certificate names no hosts", ErrInvalid)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	ski, err := subjectKeyID(pub)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageDigitalSignature, // ECDSA: signing only, no key encipherment
		BasicConstraintsValid: true,
		IsCA:                  false,
		SubjectKeyId:          ski,
	}
	if tmpl.NotAfter.After(ca.cert.NotAfter) {
		tmpl.NotAfter = ca.cert.NotAfter
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		for _, h := range hosts {
			if ip := net.ParseIP(h); ip != nil {
				tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
			} else {
				tmpl.DNSNames = append(tmpl.DNSNames, h)
			}
		}
	} else {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, pub, ca.key)
	if err != nil {
		return nil, fmt.Errorf("pki: sign certificate for %q: %w", commonName, err)
	}
	return encodeCert(der), nil
}

func newKey() (*ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("pki: generate key: %w", err)
	}
	return key, nil
}

// newSerial draws a random 128-bit serial; RFC 5280 wants serials positive,
// so zero is redrawn.
func newSerial() (*big.Int, error) {
	limit := new(big.Int).Lsh(big.NewInt(1), 128)
	for {
		n, err := rand.Int(rand.Reader, limit)
		if err != nil {
			return nil, fmt.Errorf("pki: serial number: %w", err)
		}
		if n.Sign() > 0 {
			return n, nil
		}
	}
}

// subjectKeyID is the SHA-256 of the public key, truncated to 160 bits (RFC
// 7093 method 1), so chains can be built by key identifier.
func subjectKeyID(pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("pki: marshal public key: %w", err)
	}
	sum := sha256.Sum256(der)
	return sum[:20], nil
}

func encodeCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: pemCertificate, Bytes: der})
}

func encodeKey(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("pki: marshal key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: pemPrivateKey, Bytes: der}), nil
}

func parseCert(certPEM []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(certPEM)
	if block == nil || block.Type != pemCertificate {
		return nil, fmt.Errorf("%w: no PEM certificate", ErrInvalid)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return cert, nil
}

// parseKey reads an ECDSA private key from PEM, PKCS #8 (what this package
// writes) or SEC 1 ("EC PRIVATE KEY", what openssl ecparam writes).
func parseKey(keyPEM []byte) (*ecdsa.PrivateKey, error) {
	block, _ := pem.Decode(keyPEM)
	if block == nil {
		return nil, fmt.Errorf("%w: no PEM private key", ErrInvalid)
	}
	switch block.Type {
	case pemPrivateKey:
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		ek, ok := k.(*ecdsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("%w: private key is %T, want ECDSA", ErrInvalid, k)
		}
		return ek, nil
	case "EC PRIVATE KEY":
		k, err := x509.ParseECPrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		return k, nil
	default:
		return nil, fmt.Errorf("%w: PEM block %q is not a private key", ErrInvalid, block.Type)
	}
}
