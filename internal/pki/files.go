package pki

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// File names WriteFiles and LoadCAFiles use in a CA directory.
const (
	CACertFile = "ca.crt"
	CAKeyFile  = "ca.key"
)

// Modes of written files: certificates are public, keys are the owner's only.
const (
	certMode fs.FileMode = 0o644
	keyMode  fs.FileMode = 0o600
	dirMode  fs.FileMode = 0o700
)

// WriteFiles stores the CA in dir as ca.crt and ca.key (mode 0600), creating
// dir with mode 0700 if needed.
func (ca *CA) WriteFiles(dir string) error {
	return WritePair(dir, "ca", ca.certPEM, ca.keyPEM)
}

// LoadCAFiles reads the CA WriteFiles stored in dir.
func LoadCAFiles(dir string) (*CA, error) {
	certPEM, err := os.ReadFile(filepath.Join(dir, CACertFile))
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	keyPEM, err := os.ReadFile(filepath.Join(dir, CAKeyFile))
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	return LoadCA(certPEM, keyPEM)
}

// WritePair stores a certificate and its key as dir/name.crt (0644) and
// dir/name.key (0600), creating dir with mode 0700 if needed. Each file is
// written under a temporary name and renamed, so a crash never leaves a
// truncated key, and the key is never readable by others, not even briefly.
func WritePair(dir, name string, certPEM, keyPEM []byte) error {
	if name == "" || filepath.Base(name) != name {
		return fmt.Errorf("%w: file name %q", ErrInvalid, name)
	}
	if err := os.MkdirAll(dir, dirMode); err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	// The key first: a certificate without its key is useless, a key
	// without its certificate is merely incomplete.
	if err := writeFile(filepath.Join(dir, name+".key"), keyPEM, keyMode); err != nil {
		return err
	}
	return writeFile(filepath.Join(dir, name+".crt"), certPEM, certMode)
}

// writeFile replaces path atomically with data, with exactly mode (the umask
// can only take bits away, so the mode is set explicitly).
func writeFile(path string, data []byte, mode fs.FileMode) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = os.Remove(tmp)
		}
	}()
	// CreateTemp makes the file 0600; chmod before any byte is written.
	if err := f.Chmod(mode); err != nil {
		_ = f.Close()
		return fmt.Errorf("pki: %w", err)
	}
	_, werr := f.Write(data)
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		return fmt.Errorf("pki: write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	return nil
}
