package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(append(args, "--log-level", "error"))
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

func TestConfigGetSet(t *testing.T) {
	dir := t.TempDir()
	out, err := runCLI(t, "config", "get", "VirtIOScsiEnabled", "--state-dir", dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"3.2      false  (default)", "3.3      true   (default)", "4.8      true   (default)"} {
		if !strings.Contains(out, want) {
			t.Errorf("config get lacks %q:\n%s", want, out)
		}
	}
	if _, err := runCLI(t, "config", "set", "VirtIOScsiEnabled=false", "--version", "4.8", "--state-dir", dir); err != nil {
		t.Fatal(err)
	}
	out, err = runCLI(t, "config", "get", "VirtIOScsiEnabled", "--version", "4.8", "--state-dir", dir)
	if err != nil || !strings.Contains(out, "4.8      false") || strings.Contains(out, "(default)") {
		t.Errorf("after set: %v\n%s", err, out)
	}
	for _, bad := range [][]string{
		{"config", "set", "VirtIOScsiEnabled=maybe", "--version", "4.8"},
		{"config", "set", "VirtIOScsiEnabled=true", "--version", "9.1"},
		{"config", "set", "NoSuchKey=true", "--version", "4.8"},
		{"config", "set", "VirtIOScsiEnabled=true"},
	} {
		if _, err := runCLI(t, append(bad, "--state-dir", dir)...); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}
