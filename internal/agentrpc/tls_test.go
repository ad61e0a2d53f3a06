package agentrpc

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/govirt/govirt/internal/pki"
)

// pkiDir is one CA's files as an engine and an agent would have them.
type pkiDir struct {
	dir string
	ca  *pki.CA
}

func (p pkiDir) file(name string) string { return filepath.Join(p.dir, name) }

// newPKI makes a CA with a server certificate for 127.0.0.1/localhost
// ("agent") and a client certificate ("engine") in a temporary directory.
func newPKI(t *testing.T, name string) pkiDir {
	t.Helper()
	ca, err := pki.NewCA(name, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	p := pkiDir{dir: t.TempDir(), ca: ca}
	if err := ca.WriteFiles(p.dir); err != nil {
		t.Fatal(err)
	}
	cert, key, err := ca.IssueServer("agent", []string{"127.0.0.1", "localhost"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := pki.WritePair(p.dir, "agent", cert, key); err != nil {
		t.Fatal(err)
	}
	cert, key, err = ca.IssueClient("engine", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := pki.WritePair(p.dir, "engine", cert, key); err != nil {
		t.Fatal(err)
	}
	return p
}

// tlsServer serves svc over mutual TLS on 127.0.0.1 and returns its address.
func tlsServer(t *testing.T, p pkiDir, svc Service) string {
	t.Helper()
	creds, err := ServerTLS(p.file("agent.crt"), p.file("agent.key"), p.file(pki.CACertFile))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := Listen("tcp:127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serve(t, ln, svc, creds)
	return ln.Addr().String()
}

func engineCreds(t *testing.T, p pkiDir, serverName string) credentials.TransportCredentials {
	t.Helper()
	creds, err := ClientTLS(p.file("engine.crt"), p.file("engine.key"), p.file(pki.CACertFile), serverName)
	if err != nil {
		t.Fatal(err)
	}
	return creds
}

func tlsClient(t *testing.T, svc Service) *Client {
	t.Helper()
	p := newPKI(t, "govirt-ca")
	addr := tlsServer(t, p, svc)
	c, err := Dial(testCtx(t), addr, engineCreds(t, p, ""))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// refused dials with creds and expects the first call to fail.
func refused(t *testing.T, addr string, creds credentials.TransportCredentials) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	c, err := Dial(ctx, addr, creds)
	if err == nil {
		_ = c.Close()
		t.Fatal("connection accepted")
	}
	t.Logf("refused as expected: %v", err)
}

func TestMTLSRefusals(t *testing.T) {
	p := newPKI(t, "govirt-ca")
	addr := tlsServer(t, p, newFake())

	t.Run("client certificate from another CA", func(t *testing.T) {
		other := newPKI(t, "rogue-ca")
		// Trusts the real CA, so only the server's check can refuse it.
		creds, err := ClientTLS(other.file("engine.crt"), other.file("engine.key"), p.file(pki.CACertFile), "")
		if err != nil {
			t.Fatal(err)
		}
		refused(t, addr, creds)
	})
	t.Run("no client certificate", func(t *testing.T) {
		pool := x509.NewCertPool()
		pool.AddCert(p.ca.Certificate())
		refused(t, addr, credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS13, RootCAs: pool}))
	})
	t.Run("server certificate from another CA", func(t *testing.T) {
		other := newPKI(t, "rogue-ca")
		creds, err := ClientTLS(p.file("engine.crt"), p.file("engine.key"), other.file(pki.CACertFile), "")
		if err != nil {
			t.Fatal(err)
		}
		refused(t, addr, creds)
	})
	t.Run("server name not in certificate", func(t *testing.T) {
		refused(t, addr, engineCreds(t, p, "other-host.example"))
	})
	t.Run("plain text", func(t *testing.T) {
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		if _, err := NewClient(conn).Ping(ctx); err == nil {
			t.Fatal("plain-text client accepted")
		}
	})
	t.Run("TLS 1.2 client", func(t *testing.T) {
		cert, err := tls.LoadX509KeyPair(p.file("engine.crt"), p.file("engine.key"))
		if err != nil {
			t.Fatal(err)
		}
		pool := x509.NewCertPool()
		pool.AddCert(p.ca.Certificate())
		refused(t, addr, credentials.NewTLS(&tls.Config{
			MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS12,
			Certificates: []tls.Certificate{cert}, RootCAs: pool,
		}))
	})
	t.Run("the right client still works", func(t *testing.T) {
		c, err := Dial(testCtx(t), addr, engineCreds(t, p, "localhost"))
		if err != nil {
			t.Fatal(err)
		}
		_ = c.Close()
	})
}

func TestTLSFileErrors(t *testing.T) {
	p := newPKI(t, "govirt-ca")
	missing := filepath.Join(p.dir, "missing")
	if _, err := ServerTLS(missing, p.file("agent.key"), p.file(pki.CACertFile)); err == nil {
		t.Error("ServerTLS accepted a missing certificate")
	}
	if _, err := ClientTLS(p.file("engine.crt"), p.file("engine.key"), missing, ""); err == nil {
		t.Error("ClientTLS accepted a missing CA")
	}
	notPEM := filepath.Join(p.dir, "junk")
	if err := os.WriteFile(notPEM, []byte("junk"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ServerTLS(p.file("agent.crt"), p.file("agent.key"), notPEM); err == nil {
		t.Error("ServerTLS accepted a CA file without certificates")
	}
}

// TestServerOptionsPlain: nil credentials give a server a unix-socket client
// can use without TLS.
func TestServerOptionsPlain(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serve(t, ln, newFake(), nil)
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := NewClient(conn).Ping(testCtx(t)); err != nil {
		t.Fatal(err)
	}
}
