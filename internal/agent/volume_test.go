package agent

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestVolumePath(t *testing.T) {
	dir := t.TempDir()
	if err := os.Symlink("/etc/passwd", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	good := []struct{ dir, id, want string }{
		{"/sd", "vol1", "/sd/vol1"},
		{"/var/lib/govirt/sd", "0b7f3a10-1111-4c2d-8e9f-000000000001", "/var/lib/govirt/sd/0b7f3a10-1111-4c2d-8e9f-000000000001"},
		{"/sd", "a.b_c-d", "/sd/a.b_c-d"},
	}
	for _, tt := range good {
		got, err := VolumePath(tt.dir, tt.id)
		if err != nil || got != tt.want {
			t.Errorf("VolumePath(%q, %q) = %q, %v; want %q", tt.dir, tt.id, got, err, tt.want)
		}
	}
	bad := []struct{ dir, id string }{
		{"/sd", "../x"}, {"/sd", ".."}, {"/sd", "."}, {"/sd", ""}, {"/sd", "a/b"}, {"/sd", ".hidden"},
		{"sd", "x"}, {"/sd/", "x"}, {"/sd/../etc", "x"}, {"/", "etc"}, {"", "x"},
		{dir, "link"},
	}
	for _, tt := range bad {
		if _, err := VolumePath(tt.dir, tt.id); !errors.Is(err, ErrPathEscape) {
			t.Errorf("VolumePath(%q, %q) error = %v, want ErrPathEscape", tt.dir, tt.id, err)
		}
	}
}
