package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"net"
	"time"
)

// NewKeyAndCSR is the agent's half of enrolment: a fresh key that never
// leaves the host, and a certificate signing request for the engine's CA.
// hosts (DNS names, IPs) say which names the agent would like; the CA decides
// (see SignCSR).
func NewKeyAndCSR(commonName string, hosts []string) (keyPEM, csrPEM []byte, err error) {
	if commonName == "" {
		return nil, nil, fmt.Errorf("%w: a CSR needs a common name", ErrInvalid)
	}
	key, err := newKey()
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.CertificateRequest{Subject: pkix.Name{CommonName: commonName}}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: create CSR: %w", err)
	}
	keyPEM, err = encodeKey(key)
	if err != nil {
		return nil, nil, err
	}
	return keyPEM, pem.EncodeToMemory(&pem.Block{Type: pemCSR, Bytes: der}), nil
}

// SignCSR is the CA's half of enrolment: it checks that the request is signed
// by the key it carries (the requester holds that key) and issues a server
// (server true) or client certificate for it with the CSR's common name.
// The names in a server certificate are hosts, as the engine decided them;
// the names the CSR asks for are ignored, since a host must not be able to
// claim another host's name. Only ECDSA P-256 keys are accepted, as the rest
// of govirt's PKI uses.
func (ca *CA) SignCSR(csrPEM []byte, server bool, hosts []string, validity time.Duration) ([]byte, error) {
	block, _ := pem.Decode(csrPEM)
	if block == nil || block.Type != pemCSR {
		return nil, fmt.Errorf("%w: no PEM certificate request", ErrInvalid)
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("%w: CSR signature: %w", ErrInvalid, err)
	}
	pub, ok := csr.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		return nil, fmt.Errorf("%w: CSR key is not ECDSA P-256", ErrInvalid)
	}
	return ca.issue(pub, csr.Subject.CommonName, server, hosts, validity)
}
