//go:build bench

package bench

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/govirt/govirt/internal/benchreport"
)

// describeMachine reads what the report says about the host.
func describeMachine(t *testing.T) benchreport.Machine {
	t.Helper()
	m := benchreport.Machine{CPUs: runtime.NumCPU(), Go: runtime.Version(), VirtType: "qemu"}
	m.CPU = procField("/proc/cpuinfo", "model name")
	if kb, err := strconv.Atoi(strings.Fields(procField("/proc/meminfo", "MemTotal") + " 0")[0]); err == nil {
		m.MemoryMB = kb / 1024
	}
	m.Kernel = firstLine(t, "uname", "-sr")
	m.QEMU = firstLine(t, "qemu-system-x86_64", "--version")
	m.Libvirt = firstLine(t, "libvirtd", "--version")
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		m.Load = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	return m
}

// procField returns the value of the first "key: value" line of a /proc file.
func procField(path, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

func firstLine(t *testing.T, name string, args ...string) string {
	out, err := exec.CommandContext(context.Background(), name, args...).Output()
	if err != nil {
		t.Logf("%s: %v", name, err)
		return "unknown"
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return line
}
