package pki

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// EngineFiles are the engine's PKI files in its state directory.
type EngineFiles struct {
	CACert, CAKey string // the CA that signs agents and the engine's client certificate
	Cert, Key     string // the engine's client certificate, presented to agents
}

// Validity of what EnsureEngine creates.
const (
	engineCAValidity   = 20 * 365 * 24 * time.Hour
	engineCertValidity = 5 * 365 * 24 * time.Hour
)

// EnsureEngine loads the engine's CA from dir, creating it and the engine's
// client certificate on first start, so that every later start (and every
// enrolled agent) keeps trusting the same CA.
func EnsureEngine(dir string) (*CA, EngineFiles, error) {
	f := EngineFiles{CACert: filepath.Join(dir, CACertFile), CAKey: filepath.Join(dir, CAKeyFile),
		Cert: filepath.Join(dir, "engine.crt"), Key: filepath.Join(dir, "engine.key")}
	ca, err := LoadCAFiles(dir)
	if errors.Is(err, os.ErrNotExist) {
		if ca, err = NewCA("govirt engine CA", engineCAValidity); err != nil {
			return nil, f, err
		}
		if err = ca.WriteFiles(dir); err != nil {
			return nil, f, err
		}
		// A new CA invalidates any client certificate of an older one.
		_ = os.Remove(f.Cert)
	}
	if err != nil {
		return nil, f, fmt.Errorf("engine CA in %s: %w", dir, err)
	}
	if _, err := os.Stat(f.Cert); errors.Is(err, os.ErrNotExist) {
		certPEM, keyPEM, err := ca.IssueClient("govirt-engine", engineCertValidity)
		if err != nil {
			return nil, f, err
		}
		if err := WritePair(dir, "engine", certPEM, keyPEM); err != nil {
			return nil, f, err
		}
	}
	return ca, f, nil
}
