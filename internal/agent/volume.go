package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/govirt/govirt/internal/vmspec"
)

// VolumePath joins a storage domain directory and a volume id, refusing
// anything that would leave the domain: relative or unclean directories,
// ids that are not plain file names, and symlinks in place of the volume.
func VolumePath(domainDir, volumeID string) (string, error) {
	if !filepath.IsAbs(domainDir) || filepath.Clean(domainDir) != domainDir || domainDir == "/" {
		return "", fmt.Errorf("%w: storage domain directory %q must be an absolute clean path", ErrPathEscape, domainDir)
	}
	if !vmspec.VolumeIDPattern.MatchString(volumeID) || volumeID == "." || volumeID == ".." {
		return "", fmt.Errorf("%w: volume id %q", ErrPathEscape, volumeID)
	}
	p := filepath.Join(domainDir, volumeID)
	if filepath.Dir(p) != domainDir {
		return "", fmt.Errorf("%w: %q", ErrPathEscape, p)
	}
	if fi, err := os.Lstat(p); err == nil && fi.Mode()&os.ModeSymlink != 0 {
		return "", fmt.Errorf("%w: %s is a symlink", ErrPathEscape, p)
	}
	return p, nil
}

// CreateVolume creates an image volume with qemu-img inside its storage
// domain and returns its path. It refuses to overwrite an existing volume.
func (a *Agent) CreateVolume(ctx context.Context, v Volume) (string, error) {
	p, err := VolumePath(v.DomainDir, v.VolumeID)
	if err != nil {
		return "", err
	}
	if v.Format != vmspec.FormatRaw && v.Format != vmspec.FormatQCOW2 {
		return "", fmt.Errorf("%w: format %q", vmspec.ErrInvalid, v.Format)
	}
	if v.SizeBytes == 0 {
		return "", fmt.Errorf("%w: volume size 0", vmspec.ErrInvalid)
	}
	// QEMU runs as libvirt-qemu and must traverse the domain directory.
	if err := os.MkdirAll(v.DomainDir, 0o755); err != nil {
		return "", fmt.Errorf("create storage domain directory: %w", err)
	}
	if _, err := os.Lstat(p); err == nil {
		return "", fmt.Errorf("%w: volume %s exists", vmspec.ErrInvalid, v.VolumeID)
	}
	tmp := p + ".creating"
	_ = os.Remove(tmp)
	cmd := exec.CommandContext(ctx, "qemu-img", "create", "-q", "-f", string(v.Format), tmp, strconv.FormatUint(v.SizeBytes, 10))
	if out, err := cmd.CombinedOutput(); err != nil {
		_ = os.Remove(tmp)
		return "", fmt.Errorf("qemu-img create %s: %w: %s", v.VolumeID, err, strings.TrimSpace(string(out)))
	}
	if err := os.Chmod(tmp, 0o644); err != nil {
		_ = os.Remove(tmp)
		return "", err
	}
	// Renaming last means a crash never leaves a half-made volume under its real name.
	if err := os.Rename(tmp, p); err != nil {
		_ = os.Remove(tmp)
		return "", err
	}
	a.log.Info("volume created", "volume", v.VolumeID, "format", v.Format, "bytes", v.SizeBytes)
	return p, nil
}

// RemoveVolume deletes a volume; removing a missing volume succeeds, so the
// engine can retry after a crash.
func (a *Agent) RemoveVolume(_ context.Context, v Volume) error {
	p, err := VolumePath(v.DomainDir, v.VolumeID)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove volume %s: %w", v.VolumeID, err)
	}
	return nil
}
