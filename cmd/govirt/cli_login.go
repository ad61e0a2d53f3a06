package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/govirt/govirt/internal/client"
)

func newLoginCmd(f *cliFlags) *cobra.Command {
	var user string
	var passwordStdin bool
	cmd := &cobra.Command{
		Use:   "login --url URL [--user USER@PROFILE] [--password-stdin]",
		Short: "Log in to an engine and keep the session in ~/.config/govirt/session.json",
		Long: `login asks the engine's SSO endpoint for a token and stores it, with the
engine's URL, in $XDG_CONFIG_HOME/govirt/session.json (~/.config/govirt by
default, mode 0600). The other verbs use it until it expires (12 hours).

The password is read from standard input: with --password-stdin, or when
standard input is not a terminal, as its first line; otherwise after a
prompt, without echo.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := f.settings()
			if err != nil {
				return err
			}
			pw, err := readPassword(cmd, user, passwordStdin)
			if err != nil {
				return err
			}
			opts, err := f.options(cmd, s)
			if err != nil {
				return err
			}
			c, err := client.Login(cmd.Context(), s.URL, user, pw, opts...)
			if err != nil {
				return err
			}
			if s.CAFile != "" {
				if s.CAFile, err = filepath.Abs(s.CAFile); err != nil {
					return err
				}
			}
			saved := session{URL: c.URL(), Token: c.Token(), User: user, Insecure: s.Insecure, CAFile: s.CAFile, Expires: c.Expiry()}
			p, err := saved.save()
			if err != nil {
				return fmt.Errorf("saving the session: %w", err)
			}
			until := ""
			if !saved.Expires.IsZero() {
				until = ", valid until " + saved.Expires.Local().Format(time.DateTime)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Logged in to %s as %s%s.\nSession saved in %s.\n", c.URL(), user, until, p)
			return nil
		},
	}
	cmd.Flags().StringVarP(&user, "user", "u", "admin@internal", "user name with its profile")
	cmd.Flags().BoolVar(&passwordStdin, "password-stdin", false, "read the password from standard input")
	return cmd
}

func newLogoutCmd(f *cliFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "logout",
		Short: "Revoke the session's token and forget it",
		Args:  cobra.NoArgs,
		RunE: f.run(func(ctx context.Context, c *client.Client, cmd *cobra.Command, _ []string) error {
			if err := c.Logout(ctx); err != nil {
				return err
			}
			saved, err := loadSession()
			if err == nil && saved.URL == c.URL() && saved.Token == c.Token() {
				p, _ := sessionPath()
				err = os.Remove(p)
			}
			if err != nil {
				return fmt.Errorf("the token is revoked, but the session file stays: %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Logged out of %s.\n", c.URL())
			return nil
		}),
	}
}

// readPassword reads a password from the command's standard input: after a
// prompt without echo on a terminal, else its first line.
func readPassword(cmd *cobra.Command, user string, fromStdin bool) (string, error) {
	in := cmd.InOrStdin()
	var pw string
	var err error
	if fh, ok := in.(*os.File); ok && !fromStdin && isTerminal(fh) {
		fmt.Fprintf(cmd.ErrOrStderr(), "Password for %s: ", user)
		pw, err = readSecret(cmd.Context(), fh)
		fmt.Fprintln(cmd.ErrOrStderr())
	} else {
		pw, err = readLine(in)
	}
	if err != nil {
		return "", fmt.Errorf("reading the password: %w", err)
	}
	if pw == "" {
		return "", errors.New("no password given")
	}
	return pw, nil
}

// readLine reads one line without its line ending; a last line without
// one counts.
func readLine(r io.Reader) (string, error) {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		if errors.Is(err, io.EOF) {
			return "", nil
		}
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}
