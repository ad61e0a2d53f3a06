package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/govirt/govirt/internal/client"
)

// The client verbs (login, vm, disk, role, permission) talk to an engine
// over its REST API with a token that `govirt login` keeps in the session
// file.

// cliFlags are the connection and output settings of every client verb.
type cliFlags struct {
	g        *globalFlags
	url      string
	token    string
	insecure bool
	caFile   string
	output   string
}

// newCLICommands returns the client verbs, to register on the root.
func newCLICommands(g *globalFlags) []*cobra.Command {
	f := &cliFlags{g: g}
	cmds := []*cobra.Command{newLoginCmd(f), newLogoutCmd(f), newVMCmd(f), newDiskCmd(f), newHostCmd(f), newRoleCmd(f), newPermissionCmd(f)}
	for _, c := range cmds {
		pf := c.PersistentFlags()
		pf.StringVar(&f.url, "url", "", "engine URL, e.g. https://engine.example (default: $GOVIRT_URL, then the session's)")
		pf.StringVar(&f.token, "token", "", "access token (default: $GOVIRT_TOKEN, then the session's)")
		pf.BoolVar(&f.insecure, "insecure", false, "do not verify the engine's TLS certificate")
		pf.StringVar(&f.caFile, "ca-file", "", "CA certificate (PEM) to verify the engine with")
		pf.StringVarP(&f.output, "output", "o", "table", "output format: table or json")
	}
	return cmds
}

// session is what `govirt login` stores.
type session struct {
	URL      string    `json:"url"`
	Token    string    `json:"token"`
	User     string    `json:"user,omitempty"`
	Insecure bool      `json:"insecure,omitempty"`
	CAFile   string    `json:"ca_file,omitempty"`
	Expires  time.Time `json:"expires,omitzero"`
}

// sessionPath is $XDG_CONFIG_HOME/govirt/session.json, by default
// ~/.config/govirt/session.json.
func sessionPath() (string, error) {
	dir := os.Getenv("XDG_CONFIG_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("session file: %w", err)
		}
		dir = filepath.Join(home, ".config")
	}
	return filepath.Join(dir, "govirt", "session.json"), nil
}

// loadSession reads the session file; a missing one is an empty session.
func loadSession() (session, error) {
	var s session
	p, err := sessionPath()
	if err != nil {
		return s, err
	}
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return s, err
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("%s: %w", p, err)
	}
	return s, nil
}

// save writes the session file readable by its owner only.
func (s session) save() (string, error) {
	p, err := sessionPath()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return "", err
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), ".session-*.json")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return "", err
	}
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	return p, os.Rename(tmp.Name(), p)
}

// settings merges flags, environment and the session file, in that order.
// The session's token goes only to the engine it was issued by.
func (f *cliFlags) settings() (session, error) {
	saved, err := loadSession()
	if err != nil {
		return session{}, err
	}
	s := session{URL: cmp.Or(f.url, os.Getenv("GOVIRT_URL"), saved.URL), Insecure: f.insecure, CAFile: f.caFile}
	if s.URL == "" {
		return s, errors.New("no engine: run `govirt login --url URL` (or set GOVIRT_URL and GOVIRT_TOKEN)")
	}
	if s.URL, err = client.NormalizeURL(s.URL); err != nil {
		return s, err
	}
	s.Token = cmp.Or(f.token, os.Getenv("GOVIRT_TOKEN"))
	if saved.URL == s.URL {
		s.Token = cmp.Or(s.Token, saved.Token)
		s.Insecure = s.Insecure || saved.Insecure
		s.CAFile = cmp.Or(s.CAFile, saved.CAFile)
		s.User = saved.User
	}
	return s, nil
}

// options are the client options of these settings.
func (f *cliFlags) options(cmd *cobra.Command, s session) ([]client.Option, error) {
	log, err := f.g.logger(cmd.ErrOrStderr())
	if err != nil {
		return nil, err
	}
	return []client.Option{client.WithInsecure(s.Insecure), client.WithCAFile(s.CAFile), client.WithLogger(log)}, nil
}

// connect returns a client of the engine with the session's token.
func (f *cliFlags) connect(cmd *cobra.Command) (*client.Client, error) {
	s, err := f.settings()
	if err != nil {
		return nil, err
	}
	if s.Token == "" {
		return nil, fmt.Errorf("not logged in to %s: run `govirt login`", s.URL)
	}
	opts, err := f.options(cmd, s)
	if err != nil {
		return nil, err
	}
	return client.New(s.URL, s.Token, opts...)
}

// verb is the body of a client command.
type verb func(ctx context.Context, c *client.Client, cmd *cobra.Command, args []string) error

// run adapts a verb to cobra: it connects, runs it, and adds a hint to
// a refused token.
func (f *cliFlags) run(fn verb) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		if f.output != "table" && f.output != "json" {
			return fmt.Errorf("--output: %q is neither table nor json", f.output)
		}
		c, err := f.connect(cmd)
		if err != nil {
			return err
		}
		err = fn(cmd.Context(), c, cmd, args)
		if client.IsStatus(err, http.StatusUnauthorized) {
			return fmt.Errorf("%w; the session may have expired: run `govirt login`", err)
		}
		return err
	}
}
