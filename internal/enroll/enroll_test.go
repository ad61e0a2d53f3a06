package enroll

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/govirt/govirt/internal/pki"
)

func TestProofBindsEveryPart(t *testing.T) {
	base := proof("ABCD-EFGH", labelCSR, []byte("n"), []byte("fp"))
	cases := []struct {
		name string
		got  []byte
		same bool
	}{
		{"same inputs", proof("ABCD-EFGH", labelCSR, []byte("n"), []byte("fp")), true},
		{"secret typed in lower case without dashes", proof(" abcdefgh ", labelCSR, []byte("n"), []byte("fp")), true},
		{"other secret", proof("ABCD-EFGX", labelCSR, []byte("n"), []byte("fp")), false},
		{"other label", proof("ABCD-EFGH", labelInstall, []byte("n"), []byte("fp")), false},
		{"other nonce", proof("ABCD-EFGH", labelCSR, []byte("m"), []byte("fp")), false},
		{"parts moved across the boundary", proof("ABCD-EFGH", labelCSR, []byte("nf"), []byte("p")), false},
	}
	for _, c := range cases {
		if got := bytes.Equal(base, c.got); got != c.same {
			t.Errorf("%s: equal=%v, want %v", c.name, got, c.same)
		}
	}
}

func TestNewSecretIsLongAndReadable(t *testing.T) {
	a, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewSecret()
	if a == b || len(normalize(a)) != 32 || strings.Trim(a, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567-") != "" {
		t.Fatalf("secrets %q %q: want 32 base32 characters in dashed groups, different each time", a, b)
	}
}

// waitingAgent runs WaitEnrolled on a free loopback port and returns its
// address, its printed secret and the channel WaitEnrolled's outcome comes on.
func waitingAgent(t *testing.T) (addr, secret, dir string, done <-chan error) {
	t.Helper()
	dir = t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr = l.Addr().String()
	l.Close()
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ch := make(chan error, 1)
	go func() {
		_, err := WaitEnrolled(ctx, AgentConfig{Listen: addr, Dir: filepath.Join(dir, "pki"), SecretFile: filepath.Join(dir, "bootstrap-secret"),
			HostID: "host-1", Hostname: "node1", Out: pw, Log: slog.New(slog.DiscardHandler)})
		pw.Close()
		ch <- err
	}()
	buf := make([]byte, 4096)
	var out []byte
	for !bytes.Contains(out, []byte("root_password):\n")) || !bytes.HasSuffix(out, []byte("\n")) || bytes.Count(out, []byte("\n")) < 2 {
		n, err := pr.Read(buf)
		if err != nil {
			t.Fatalf("agent output %q: %v", out, err)
		}
		out = append(out, buf[:n]...)
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return addr, lines[len(lines)-1], dir, ch
}

func newCA(t *testing.T) *pki.CA {
	t.Helper()
	ca, err := pki.NewCA("test engine CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func TestEnrolInstallsCertificateOfTheEnginesCA(t *testing.T) {
	addr, secret, dir, done := waitingAgent(t)
	ca := newCA(t)
	res, err := Enrol(context.Background(), addr, strings.ToLower(secret), ca)
	if err != nil {
		t.Fatal(err)
	}
	if res.HostID != "host-1" || res.Hostname != "node1" {
		t.Errorf("result %+v", res)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("agent did not finish enrolment")
	}
	f := FilesIn(filepath.Join(dir, "pki"))
	pair, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(pair.Certificate[0])
	pool := x509.NewCertPool()
	pool.AddCert(ca.Certificate())
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, DNSName: "127.0.0.1"}); err != nil {
		t.Errorf("agent certificate does not verify for 127.0.0.1 under the engine CA: %v", err)
	}
	if st, _ := os.Stat(f.Key); st.Mode().Perm() != 0o600 {
		t.Errorf("agent key mode %v", st.Mode().Perm())
	}
	if _, err := os.Stat(filepath.Join(dir, "bootstrap-secret")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("bootstrap secret still on disk: %v", err)
	}
	// Enrolled: a restart does not wait again, and the port is free.
	if _, err := WaitEnrolled(context.Background(), AgentConfig{Dir: filepath.Join(dir, "pki")}); err != nil {
		t.Fatal(err)
	}
	if l, err := net.Listen("tcp", addr); err != nil {
		t.Errorf("enrolment listener still open: %v", err)
	} else {
		l.Close()
	}
}

func TestWrongSecretChangesNothing(t *testing.T) {
	addr, secret, dir, done := waitingAgent(t)
	ca := newCA(t)
	if _, err := Enrol(context.Background(), addr, "AAAA-BBBB-CCCC-DDDD-EEEE-FFFF-GGGG-HHHH", ca); !errors.Is(err, ErrBadSecret) {
		t.Fatalf("wrong secret: %v, want ErrBadSecret", err)
	}
	if Enrolled(filepath.Join(dir, "pki")) {
		t.Fatal("a wrong secret enrolled the agent")
	}
	if _, err := Enrol(context.Background(), addr, secret, ca); err != nil {
		t.Fatalf("right secret after a wrong one: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// A forged install (no knowledge of the secret) is refused by the agent.
func TestForgedInstallRefused(t *testing.T) {
	addr, _, dir, _ := waitingAgent(t)
	ca := newCA(t)
	certPEM, _, err := ca.IssueServer("evil", []string{"127.0.0.1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // test
	nonce := bytes.Repeat([]byte{7}, 32)
	if err := post(context.Background(), hc, "https://"+addr+pathCSR, csrRequest{Nonce: nonce}, &csrReply{}); err != nil {
		t.Fatal(err)
	}
	err = post(context.Background(), hc, "https://"+addr+pathInstall,
		installRequest{Nonce: nonce, Cert: certPEM, CA: ca.CertPEM(), Proof: bytes.Repeat([]byte{1}, 32)}, nil)
	if !errors.Is(err, ErrBadSecret) {
		t.Fatalf("forged install: %v, want ErrBadSecret", err)
	}
	if Enrolled(filepath.Join(dir, "pki")) {
		t.Fatal("forged install enrolled the agent")
	}
}

// A man in the middle that terminates TLS with its own certificate and
// relays to the real agent cannot make the engine enrol it, even though the
// engine holds the right secret: the agent's proof names the agent's
// certificate, not the one the engine sees.
func TestManInTheMiddleDetected(t *testing.T) {
	addr, secret, dir, _ := waitingAgent(t)
	mitm := startRelay(t, addr)
	if _, err := Enrol(context.Background(), mitm, secret, newCA(t)); !errors.Is(err, ErrBadSecret) {
		t.Fatalf("enrolment through a TLS-terminating relay: %v, want ErrBadSecret", err)
	}
	if Enrolled(filepath.Join(dir, "pki")) {
		t.Fatal("the relay got the agent enrolled")
	}
}

// startRelay terminates TLS with its own certificate and forwards requests
// to target over a new TLS connection.
func startRelay(t *testing.T, target string) string {
	t.Helper()
	cert, err := bootstrapCert("mitm")
	if err != nil {
		t.Fatal(err)
	}
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	up := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // test
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, _ := http.NewRequestWithContext(r.Context(), r.Method, "https://"+target+r.URL.Path, r.Body)
		resp, err := up.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
	})}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = srv.Serve(l) }()
	t.Cleanup(func() { srv.Close(); wg.Wait() })
	return l.Addr().String()
}

func TestCheckIssuedRefusesOtherKey(t *testing.T) {
	ca := newCA(t)
	keyPEM, _, err := pki.NewKeyAndCSR("a", nil)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, _, _ := ca.IssueServer("b", []string{"127.0.0.1"}, time.Hour)
	if err := checkIssued(certPEM, ca.CertPEM(), keyPEM); err == nil {
		t.Fatal("a certificate for another key was accepted")
	}
	if b, _ := pem.Decode(certPEM); b == nil {
		t.Fatal("test certificate is not PEM")
	}
}
