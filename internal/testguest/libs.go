package testguest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"sort"
	"strings"
)

// hostProgram is a program copied from the host into the guest at the same
// path, with the shared libraries it needs.
type hostProgram struct {
	guest string // absolute path in the guest
	host  string // absolute path on the host
}

// hostPrograms finds busybox and the sg3-utils programs on the host. The guest
// paths are fixed because tests run them by path through guest-exec.
func hostPrograms() ([]hostProgram, error) {
	want := []struct{ guest, name, pkg string }{
		{"/bin/busybox", "busybox", "busybox-static"},
		{"/usr/bin/sg_inq", "sg_inq", "sg3-utils"},
		{"/usr/bin/sg_persist", "sg_persist", "sg3-utils"},
		{"/usr/bin/sg_turs", "sg_turs", "sg3-utils"},
		{"/usr/bin/sg_raw", "sg_raw", "sg3-utils"},
		{"/usr/bin/sg_vpd", "sg_vpd", "sg3-utils"},
		{"/usr/bin/sg_readcap", "sg_readcap", "sg3-utils"},
	}
	var progs []hostProgram
	for _, w := range want {
		p, err := exec.LookPath(w.name)
		if err != nil {
			return nil, fmt.Errorf("%s not found on the host (install Debian package %s, see scripts/host-setup.sh): %w",
				w.name, w.pkg, err)
		}
		progs = append(progs, hostProgram{guest: w.guest, host: p})
	}
	return progs, nil
}

// sharedLibs lists the libraries and dynamic loader that ldd resolves for
// prog against the host's libraries; the guest gets them at the same paths.
// A statically linked program needs none.
func sharedLibs(ctx context.Context, prog string) ([]string, error) {
	out, err := exec.CommandContext(ctx, "ldd", prog).CombinedOutput()
	if bytes.Contains(out, []byte("not a dynamic executable")) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("ldd %s: %w: %s", prog, err, bytes.TrimSpace(out))
	}
	return parseLdd(prog, out)
}

// parseLdd extracts library paths from ldd's output and fails on any library
// the host lacks, naming it so the missing package can be installed.
func parseLdd(prog string, out []byte) ([]string, error) {
	var libs, missing []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		name, target, arrow := strings.Cut(line, "=>")
		switch {
		case arrow && strings.HasPrefix(strings.TrimSpace(target), "not found"):
			missing = append(missing, strings.TrimSpace(name))
		case arrow && strings.HasPrefix(strings.TrimSpace(target), "/"):
			libs = append(libs, strings.Fields(target)[0])
		case !arrow && strings.HasPrefix(line, "/"):
			libs = append(libs, strings.Fields(line)[0])
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%s needs libraries the host lacks (install their Debian packages): %s",
			prog, strings.Join(missing, ", "))
	}
	sort.Strings(libs)
	return libs, nil
}
