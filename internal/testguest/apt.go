package testguest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
)

// Debian packages the guest is made of.
const (
	kernelMetaPackage = "linux-image-cloud-amd64"
	agentPackage      = "qemu-guest-agent"
	aptListsDir       = "/var/lib/apt/lists"
)

// packages pins the Debian packages of one build. They are part of the cache
// key, so a kernel or qemu-ga update in the archive rebuilds the guest.
type packages struct {
	ListsHash     string `json:"lists_hash"`
	KernelPackage string `json:"kernel_package"`
	KernelVersion string `json:"kernel_version"`
	AgentVersion  string `json:"agent_version"`
}

// resolvePackages finds the candidate versions. apt-cache takes a second or
// more here (no pkgcache.bin), so the answer is remembered in memoPath for as
// long as apt's package lists stay the same.
func resolvePackages(ctx context.Context, memoPath string) (packages, error) {
	lists, err := aptListsHash()
	if err != nil {
		return packages{}, err
	}
	var memo packages
	if b, err := os.ReadFile(memoPath); err == nil && json.Unmarshal(b, &memo) == nil &&
		memo.ListsHash == lists && memo.KernelVersion != "" {
		return memo, nil
	}
	p, err := queryPackages(ctx)
	if err != nil {
		return packages{}, err
	}
	p.ListsHash = lists
	b, _ := json.Marshal(p)
	if err := writeFileAtomic(memoPath, b); err != nil {
		return packages{}, err
	}
	return p, nil
}

// aptListsHash fingerprints apt's package lists by name, size and mtime.
func aptListsHash() (string, error) {
	entries, err := os.ReadDir(aptListsDir)
	if err != nil {
		return "", fmt.Errorf("reading apt lists (run apt-get update): %w", err)
	}
	h := sha256.New()
	for _, e := range entries {
		info, err := e.Info()
		if err != nil || !info.Mode().IsRegular() {
			continue
		}
		fmt.Fprintf(h, "%s %d %d\n", e.Name(), info.Size(), info.ModTime().UnixNano())
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// queryPackages asks apt-cache for the candidates, running apt-get update
// once when apt knows no candidate (a machine whose lists were never fetched).
func queryPackages(ctx context.Context) (packages, error) {
	p, err := showPackages(ctx)
	if err == nil {
		return p, nil
	}
	if _, uerr := run(ctx, "", "apt-get", "update", "-qq"); uerr != nil {
		return packages{}, fmt.Errorf("%w (and apt-get update failed: %w)", err, uerr)
	}
	return showPackages(ctx)
}

var pinnedDep = regexp.MustCompile(`^(linux-image-\S+)\s+\(=\s*([^)\s]+)\)`)

// showPackages parses `apt-cache show --no-all-versions` of the kernel
// metapackage (whose Depends pins the real image package) and of qemu-ga.
func showPackages(ctx context.Context) (packages, error) {
	out, err := run(ctx, "", "apt-cache", "show", "--no-all-versions", kernelMetaPackage, agentPackage)
	if err != nil {
		return packages{}, err
	}
	var p packages
	for _, rec := range strings.Split(string(out), "\n\n") {
		fields := debFields(rec)
		switch fields["Package"] {
		case kernelMetaPackage:
			m := pinnedDep.FindStringSubmatch(fields["Depends"])
			if m == nil {
				return packages{}, fmt.Errorf("%s: unexpected Depends %q", kernelMetaPackage, fields["Depends"])
			}
			p.KernelPackage, p.KernelVersion = m[1], m[2]
		case agentPackage:
			p.AgentVersion = fields["Version"]
		}
	}
	if p.KernelPackage == "" || p.AgentVersion == "" {
		return packages{}, fmt.Errorf("apt-cache knows no candidate for %s or %s", kernelMetaPackage, agentPackage)
	}
	return p, nil
}

// debFields parses the single-line fields of one deb822 record.
func debFields(rec string) map[string]string {
	fields := map[string]string{}
	for _, line := range strings.Split(rec, "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && !strings.HasPrefix(line, " ") {
			fields[k] = strings.TrimSpace(v)
		}
	}
	return fields
}

// downloadAndExtract fetches the pinned packages into dir and unpacks each
// into dir/<package>, returning those roots by package name.
func downloadAndExtract(ctx context.Context, dir string, p packages) (map[string]string, error) {
	pins := map[string]string{p.KernelPackage: p.KernelVersion, agentPackage: p.AgentVersion}
	args := []string{"-q", "-o", "APT::Sandbox::User=root", "download"}
	for name, ver := range pins {
		args = append(args, name+"="+ver)
	}
	if _, err := run(ctx, dir, "apt-get", args...); err != nil {
		return nil, err
	}
	roots := map[string]string{}
	for name := range pins {
		debs, _ := filepath.Glob(filepath.Join(dir, name+"_*.deb"))
		if len(debs) != 1 {
			return nil, fmt.Errorf("apt-get download left %d files for %s in %s", len(debs), name, dir)
		}
		root := filepath.Join(dir, name)
		if _, err := run(ctx, "", "dpkg-deb", "-x", debs[0], root); err != nil {
			return nil, err
		}
		roots[name] = root
	}
	return roots, nil
}

// run executes a host command and returns its standard output; the error
// carries the command line and its standard error.
func run(ctx context.Context, dir, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err,
			strings.TrimSpace(stderr.String()))
	}
	return stdout.Bytes(), nil
}
