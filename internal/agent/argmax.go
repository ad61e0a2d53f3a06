package agent

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// libvirtdPIDFiles are where the daemon that runs QEMU writes its pid:
// the monolithic libvirtd (Debian 12's default) or the modular virtqemud.
var libvirtdPIDFiles = []string{"/run/libvirtd.pid", "/run/virtqemud.pid"}

// hostArgBytes is the kernel's limit on the arguments of the QEMU processes
// libvirtd starts: QEMU inherits libvirtd's stack rlimit, so it is read
// from libvirtd's /proc/PID/limits. An agent that cannot read it (another
// user, another PID namespace) falls back to its own rlimit, which on a
// host set up by systemd is the same default.
func hostArgBytes() int {
	for _, f := range libvirtdPIDFiles {
		pid, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", strings.TrimSpace(string(pid)), "limits"))
		if err != nil {
			continue
		}
		if stack, err := parseStackLimit(string(b)); err == nil {
			return argMaxForStack(stack)
		}
	}
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_STACK, &r); err != nil {
		return argMaxForStack(kernelStackLim)
	}
	if r.Cur == ^uint64(0) { // RLIM_INFINITY
		return argMaxForStack(0)
	}
	return argMaxForStack(r.Cur)
}

// parseStackLimit reads the soft "Max stack size" of a /proc/PID/limits
// file; 0 means unlimited.
func parseStackLimit(limits string) (uint64, error) {
	sc := bufio.NewScanner(strings.NewReader(limits))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "Max stack size")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			break
		}
		if f[0] == "unlimited" {
			return 0, nil
		}
		v, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("stack limit %q: %w", f[0], err)
		}
		return v, nil
	}
	return 0, fmt.Errorf("no stack limit in /proc limits")
}
