package pki

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func mustCA(t *testing.T) *CA {
	t.Helper()
	ca, err := NewCA("govirt test CA", 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func parse(t *testing.T, certPEM []byte) *x509.Certificate {
	t.Helper()
	c, err := parseCert(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func roots(ca *CA) *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Certificate())
	return p
}

func TestCA(t *testing.T) {
	ca := mustCA(t)
	c := parse(t, ca.CertPEM())
	if !c.IsCA || !c.BasicConstraintsValid || c.MaxPathLen != 0 || !c.MaxPathLenZero {
		t.Errorf("CA constraints: isCA=%v maxPathLen=%d zero=%v", c.IsCA, c.MaxPathLen, c.MaxPathLenZero)
	}
	if c.KeyUsage&x509.KeyUsageCertSign == 0 || c.KeyUsage&x509.KeyUsageCRLSign == 0 {
		t.Errorf("CA key usage %b", c.KeyUsage)
	}
	if err := c.CheckSignatureFrom(c); err != nil {
		t.Errorf("not self-signed: %v", err)
	}
	checkKeyAndSerial(t, c)
	if c.Subject.CommonName != "govirt test CA" || len(c.SubjectKeyId) == 0 {
		t.Errorf("subject %q ski %x", c.Subject.CommonName, c.SubjectKeyId)
	}
	if _, err := NewCA("", time.Hour); !errors.Is(err, ErrInvalid) {
		t.Errorf("nameless CA: %v", err)
	}
	if _, err := NewCA("x", 0); !errors.Is(err, ErrInvalid) {
		t.Errorf("zero validity: %v", err)
	}
}

func checkKeyAndSerial(t *testing.T, c *x509.Certificate) {
	t.Helper()
	pub, ok := c.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		t.Errorf("key %T, want ECDSA P-256", c.PublicKey)
	}
	if c.SerialNumber.Sign() <= 0 || c.SerialNumber.BitLen() > 128 {
		t.Errorf("serial %v", c.SerialNumber)
	}
}

func TestIssueServer(t *testing.T) {
	ca := mustCA(t)
	certPEM, keyPEM, err := ca.IssueServer("host-1", []string{"host1.example", "192.0.2.10", "::1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c := parse(t, certPEM)
	checkKeyAndSerial(t, c)
	if c.IsCA || c.KeyUsage != x509.KeyUsageDigitalSignature {
		t.Errorf("leaf isCA=%v usage=%b", c.IsCA, c.KeyUsage)
	}
	if !slices.Equal(c.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}) {
		t.Errorf("ext key usage %v", c.ExtKeyUsage)
	}
	for _, name := range []string{"host1.example", "192.0.2.10", "::1"} {
		if _, err := c.Verify(x509.VerifyOptions{
			DNSName: name, Roots: roots(ca), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		}); err != nil {
			t.Errorf("verify for %s: %v", name, err)
		}
	}
	if _, err := c.Verify(x509.VerifyOptions{DNSName: "host2.example", Roots: roots(ca)}); err == nil {
		t.Error("verified for a name it does not carry")
	}
	if _, err := c.Verify(x509.VerifyOptions{Roots: roots(ca), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err == nil {
		t.Error("server certificate usable as a client's")
	}
	if _, err := c.Verify(x509.VerifyOptions{Roots: roots(mustCA(t))}); err == nil {
		t.Error("verified against another CA")
	}
	key, err := parseKey(keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	if !key.PublicKey.Equal(c.PublicKey) {
		t.Error("key does not match certificate")
	}
	if _, _, err := ca.IssueServer("h", nil, time.Hour); !errors.Is(err, ErrInvalid) {
		t.Errorf("server certificate without names: %v", err)
	}
}

func TestIssueClient(t *testing.T) {
	ca := mustCA(t)
	certPEM, _, err := ca.IssueClient("engine", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c := parse(t, certPEM)
	checkKeyAndSerial(t, c)
	if c.Subject.CommonName != "engine" || len(c.DNSNames)+len(c.IPAddresses) != 0 {
		t.Errorf("subject %q names %v %v", c.Subject.CommonName, c.DNSNames, c.IPAddresses)
	}
	if _, err := c.Verify(x509.VerifyOptions{Roots: roots(ca), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("verify as client: %v", err)
	}
	if _, err := c.Verify(x509.VerifyOptions{Roots: roots(ca)}); err == nil {
		t.Error("client certificate usable as a server's")
	}
}

func TestValidityClampedToCA(t *testing.T) {
	ca := mustCA(t)
	certPEM, _, err := ca.IssueClient("engine", 10*365*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if c := parse(t, certPEM); c.NotAfter.After(ca.Certificate().NotAfter) {
		t.Errorf("leaf outlives its CA: %v > %v", c.NotAfter, ca.Certificate().NotAfter)
	}
}

func TestSerialsDiffer(t *testing.T) {
	ca := mustCA(t)
	seen := map[string]bool{ca.Certificate().SerialNumber.String(): true}
	for range 20 {
		certPEM, _, err := ca.IssueClient("e", time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		s := parse(t, certPEM).SerialNumber.String()
		if seen[s] {
			t.Fatalf("serial %s repeated", s)
		}
		seen[s] = true
	}
}

func TestLoadCA(t *testing.T) {
	ca := mustCA(t)
	again, err := LoadCA(ca.CertPEM(), ca.KeyPEM())
	if err != nil {
		t.Fatal(err)
	}
	// The reloaded CA signs certificates the original's certificate verifies.
	certPEM, _, err := again.IssueServer("h", []string{"h.example"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := parse(t, certPEM).Verify(x509.VerifyOptions{DNSName: "h.example", Roots: roots(ca)}); err != nil {
		t.Errorf("verify: %v", err)
	}

	other := mustCA(t)
	if _, err := LoadCA(ca.CertPEM(), other.KeyPEM()); !errors.Is(err, ErrInvalid) {
		t.Errorf("mismatched key: %v", err)
	}
	leafPEM, leafKey, err := ca.IssueClient("engine", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := LoadCA(leafPEM, leafKey); !errors.Is(err, ErrInvalid) {
		t.Errorf("leaf loaded as CA: %v", err)
	}
	if _, err := LoadCA([]byte("junk"), ca.KeyPEM()); !errors.Is(err, ErrInvalid) {
		t.Errorf("junk certificate: %v", err)
	}
	if _, err := LoadCA(ca.CertPEM(), []byte("junk")); !errors.Is(err, ErrInvalid) {
		t.Errorf("junk key: %v", err)
	}

	// SEC 1 keys, as openssl writes them, load too.
	der, err := x509.MarshalECPrivateKey(ca.key)
	if err != nil {
		t.Fatal(err)
	}
	sec1 := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
	if _, err := LoadCA(ca.CertPEM(), sec1); err != nil {
		t.Errorf("SEC 1 key: %v", err)
	}
}

func TestCSR(t *testing.T) {
	ca := mustCA(t)
	keyPEM, csrPEM, err := NewKeyAndCSR("host-1", []string{"evil.example", "192.0.2.99"})
	if err != nil {
		t.Fatal(err)
	}
	certPEM, err := ca.SignCSR(csrPEM, true, []string{"host1.example", "192.0.2.10"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c := parse(t, certPEM)
	key, err := parseKey(keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	if !key.PublicKey.Equal(c.PublicKey) || c.Subject.CommonName != "host-1" {
		t.Errorf("certificate not for the CSR's key/name: %q", c.Subject.CommonName)
	}
	// The CA's names win, not the ones the requester asked for.
	if !slices.Equal(c.DNSNames, []string{"host1.example"}) || len(c.IPAddresses) != 1 ||
		!c.IPAddresses[0].Equal(net.ParseIP("192.0.2.10")) {
		t.Errorf("names %v %v", c.DNSNames, c.IPAddresses)
	}
	if _, err := c.Verify(x509.VerifyOptions{DNSName: "host1.example", Roots: roots(ca)}); err != nil {
		t.Errorf("verify: %v", err)
	}

	clientPEM, err := ca.SignCSR(csrPEM, false, nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := parse(t, clientPEM).Verify(x509.VerifyOptions{
		Roots: roots(ca), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}); err != nil {
		t.Errorf("verify client: %v", err)
	}
	if _, err := ca.SignCSR(csrPEM, false, []string{"x"}, time.Hour); !errors.Is(err, ErrInvalid) {
		t.Errorf("client certificate with names: %v", err)
	}

	// A CSR whose signature does not match is refused.
	block, _ := pem.Decode(csrPEM)
	block.Bytes[len(block.Bytes)-3] ^= 0xff
	if _, err := ca.SignCSR(pem.EncodeToMemory(block), true, []string{"h"}, time.Hour); !errors.Is(err, ErrInvalid) {
		t.Errorf("tampered CSR: %v", err)
	}
	if _, err := ca.SignCSR([]byte("junk"), true, []string{"h"}, time.Hour); !errors.Is(err, ErrInvalid) {
		t.Errorf("junk CSR: %v", err)
	}
	if _, _, err := NewKeyAndCSR("", nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("nameless CSR: %v", err)
	}
}

func TestWriteFiles(t *testing.T) {
	ca := mustCA(t)
	dir := filepath.Join(t.TempDir(), "pki")
	if err := ca.WriteFiles(dir); err != nil {
		t.Fatal(err)
	}
	cert, key, err := ca.IssueServer("h", []string{"h"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := WritePair(dir, "agent", cert, key); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]os.FileMode{
		".": 0o700, CACertFile: 0o644, CAKeyFile: 0o600, "agent.crt": 0o644, "agent.key": 0o600,
	} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", name, fi.Mode().Perm(), want)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 4 {
		t.Errorf("files %v, want 4 (no temporaries)", entries)
	}
	again, err := LoadCAFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !again.Certificate().Equal(ca.Certificate()) || string(again.KeyPEM()) != string(ca.KeyPEM()) {
		t.Error("CA changed on the way through files")
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "agent.key")); string(got) != string(key) {
		t.Error("key file content differs")
	}
	// Overwriting keeps the modes even if the old file was looser.
	if err := os.Chmod(filepath.Join(dir, "agent.key"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WritePair(dir, "agent", cert, key); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(filepath.Join(dir, "agent.key")); fi.Mode().Perm() != 0o600 {
		t.Errorf("rewritten key mode %v", fi.Mode().Perm())
	}
	if err := WritePair(dir, "../escape", cert, key); !errors.Is(err, ErrInvalid) {
		t.Errorf("name with a path: %v", err)
	}
}

func TestEnsureEngineKeepsItsCA(t *testing.T) {
	dir := t.TempDir()
	ca1, f, err := EnsureEngine(dir)
	if err != nil {
		t.Fatal(err)
	}
	ca2, _, err := EnsureEngine(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ca1.CertPEM(), ca2.CertPEM()) {
		t.Fatal("a second start made a new CA: every enrolled agent would be lost")
	}
	pair, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(pair.Certificate[0])
	pool := x509.NewCertPool()
	pool.AddCert(ca1.Certificate())
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatalf("engine client certificate: %v", err)
	}
}
