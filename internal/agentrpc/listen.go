package agentrpc

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Listen opens the agent's listening socket. addr is "unix:/path" (or
// "unix:///path") for an engine on the same host, "tcp:host:port" or plain
// "host:port" for a remote one.
//
// A unix socket is created with mode 0600 before it becomes visible under its
// name (bound under a temporary name, chmod-ed, then renamed), so there is no
// moment at which another user could connect; a missing parent directory is
// created with mode 0700. A socket left behind by a crashed agent is replaced,
// but a live one (something accepts connections) or a file that is not a
// socket is refused.
func Listen(addr string) (net.Listener, error) {
	switch {
	case strings.HasPrefix(addr, "unix:"):
		path := strings.TrimPrefix(strings.TrimPrefix(addr, "unix:"), "//")
		if path == "" {
			return nil, fmt.Errorf("agentrpc: listen %q: empty socket path", addr)
		}
		return listenUnix(path)
	case strings.HasPrefix(addr, "tcp:"):
		addr = strings.TrimPrefix(addr, "tcp:")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("agentrpc: listen: %w", err)
	}
	return ln, nil
}

func listenUnix(path string) (net.Listener, error) {
	dir := filepath.Dir(path)
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("agentrpc: listen: %w", err)
		}
	}
	if err := checkStale(path); err != nil {
		return nil, err
	}

	var rnd [4]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return nil, fmt.Errorf("agentrpc: listen: %w", err)
	}
	tmp := filepath.Join(dir, ".sock-"+hex.EncodeToString(rnd[:]))
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: tmp, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("agentrpc: listen: %w", err)
	}
	ln.SetUnlinkOnClose(false) // the socket moves; unixListener.Close removes it
	fail := func(err error) (net.Listener, error) {
		_ = ln.Close()
		_ = os.Remove(tmp)
		return nil, fmt.Errorf("agentrpc: listen %s: %w", path, err)
	}
	if err := os.Chmod(tmp, 0o600); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fail(err)
	}
	fi, err := os.Lstat(path)
	if err != nil {
		return fail(err)
	}
	return &unixListener{UnixListener: ln, path: path, file: fi}, nil
}

// checkStale refuses to take over path unless it is absent or a socket no
// one listens on any more.
func checkStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("agentrpc: listen: %w", err)
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("agentrpc: listen %s: exists and is not a socket", path)
	}
	conn, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		_ = conn.Close()
		return fmt.Errorf("agentrpc: listen %s: another process is listening there", path)
	}
	return nil
}

// unixListener removes its socket file on Close, but only while the file is
// still the one it created: a successor that took the name over keeps its own.
type unixListener struct {
	*net.UnixListener
	path string
	file fs.FileInfo
	once sync.Once
}

// Addr reports the socket's final name rather than the temporary one it was
// bound under.
func (l *unixListener) Addr() net.Addr { return &net.UnixAddr{Name: l.path, Net: "unix"} }

// Close stops listening and removes the socket file.
func (l *unixListener) Close() error {
	err := l.UnixListener.Close()
	l.once.Do(func() {
		if cur, serr := os.Lstat(l.path); serr == nil && os.SameFile(cur, l.file) {
			_ = os.Remove(l.path)
		}
	})
	if err != nil {
		return fmt.Errorf("agentrpc: close listener: %w", err)
	}
	return nil
}
