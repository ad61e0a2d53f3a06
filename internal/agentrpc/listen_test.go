package agentrpc

import (
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestListenUnix(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run", "govirt")
	sock := filepath.Join(dir, "agent.sock")
	for _, addr := range []string{"unix:" + sock, "unix://" + sock} {
		ln, err := Listen(addr)
		if err != nil {
			t.Fatalf("%s: %v", addr, err)
		}
		fi, err := os.Lstat(sock)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Type() != fs.ModeSocket || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: socket mode %v, want socket 0600", addr, fi.Mode())
		}
		if ln.Addr().String() != sock {
			t.Errorf("Addr = %v", ln.Addr())
		}
		di, err := os.Stat(dir)
		if err != nil {
			t.Fatal(err)
		}
		if di.Mode().Perm() != 0o700 {
			t.Errorf("parent dir mode %v, want 0700", di.Mode().Perm())
		}
		conn, err := net.Dial("unix", sock)
		if err != nil {
			t.Fatalf("connect: %v", err)
		}
		_ = conn.Close()
		if err := ln.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Lstat(sock); !os.IsNotExist(err) {
			t.Errorf("socket left after Close: %v", err)
		}
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		t.Errorf("left behind: %s", e.Name())
	}
}

func TestListenStaleAndLive(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "agent.sock")

	// A socket of a crashed agent: bound, then abandoned without unlinking.
	stale, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	stale.SetUnlinkOnClose(false)
	_ = stale.Close()

	ln, err := Listen("unix:" + sock)
	if err != nil {
		t.Fatalf("stale socket not replaced: %v", err)
	}
	defer ln.Close()

	if _, err := Listen("unix:" + sock); err == nil || !strings.Contains(err.Error(), "listening") {
		t.Errorf("second listener on a live socket: %v", err)
	}
}

func TestListenRefusesNonSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agent.sock")
	if err := os.WriteFile(path, []byte("precious"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Listen("unix:" + path); err == nil {
		t.Fatal("regular file replaced by a socket")
	}
	if b, _ := os.ReadFile(path); string(b) != "precious" {
		t.Error("regular file changed")
	}
	if _, err := Listen("unix:"); err == nil {
		t.Error("empty path accepted")
	}
}

func TestListenTCP(t *testing.T) {
	for _, addr := range []string{"tcp:127.0.0.1:0", "127.0.0.1:0"} {
		ln, err := Listen(addr)
		if err != nil {
			t.Fatalf("%s: %v", addr, err)
		}
		if ln.Addr().Network() != "tcp" {
			t.Errorf("%s: network %s", addr, ln.Addr().Network())
		}
		_ = ln.Close()
	}
}
