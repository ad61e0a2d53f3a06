//go:build bench

package bench

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// clockTicks is the kernel's USER_HZ, the unit of /proc/PID/stat times
// (100 on Linux's supported architectures).
const clockTicks = 100

// cpuSeconds is the user plus system CPU time a process has used, from
// /proc/PID/stat (fields 14 and 15), or -1 when it cannot be read.
func cpuSeconds(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
	return statCPU(string(b))
}

// statCPU is cpuSeconds's parse of a /proc/PID/stat line.
func statCPU(s string) float64 {
	// The command name (field 2) may hold spaces and ')'; the fields after
	// the last ')' are the third on.
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return -1
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return -1
	}
	u, err1 := strconv.ParseFloat(f[11], 64)
	k, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return -1
	}
	return (u + k) / clockTicks
}

// systemLibvirtd is the pid of root's libvirtd, or 0.
func systemLibvirtd() int {
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		comm, err := os.ReadFile(filepath.Join(d, "comm"))
		if err != nil || strings.TrimSpace(string(comm)) != "libvirtd" {
			continue
		}
		st, err := os.Stat(d)
		if err != nil {
			continue
		}
		if sys, ok := st.Sys().(*syscall.Stat_t); ok && sys.Uid == 0 {
			pid, _ := strconv.Atoi(filepath.Base(d))
			return pid
		}
	}
	return 0
}

// qemuPID is the pid of the QEMU libvirtd runs for domain name, or 0.
func qemuPID(name string) int {
	b, err := os.ReadFile(filepath.Join("/run/libvirt/qemu", name+".pid"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// qemuCPU is CPU seconds of a QEMU process: its vCPU threads ("CPU n/TCG",
// "CPU n/KVM") and the rest.
type qemuCPU struct{ vcpu, other float64 }

func (a qemuCPU) add(b qemuCPU) qemuCPU { return qemuCPU{a.vcpu + b.vcpu, a.other + b.other} }
func (a qemuCPU) sub(b qemuCPU) qemuCPU { return qemuCPU{a.vcpu - b.vcpu, a.other - b.other} }

// qemuCPUOf reads pid's threads from /proc; zero when pid is 0 or gone.
func qemuCPUOf(pid int) qemuCPU {
	var out qemuCPU
	if pid == 0 {
		return out
	}
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/[0-9]*", pid))
	for _, task := range tasks {
		b, err := os.ReadFile(filepath.Join(task, "stat"))
		if err != nil {
			continue
		}
		secs := statCPU(string(b))
		if secs < 0 {
			continue
		}
		comm, _ := os.ReadFile(filepath.Join(task, "comm"))
		if strings.HasPrefix(string(comm), "CPU ") {
			out.vcpu += secs
		} else {
			out.other += secs
		}
	}
	return out
}

// cpuMeter accounts the CPU time of govirt's engine (with its local
// agent) and of libvirtd over a boot, so a boot ratio can be told apart
// from the management layer's own work.
type cpuMeter struct {
	pids   [2]int
	before [2]float64
}

func newCPUMeter(enginePID int) *cpuMeter {
	m := &cpuMeter{pids: [2]int{enginePID, systemLibvirtd()}}
	for i, p := range m.pids {
		m.before[i] = cpuSeconds(p)
	}
	return m
}

// String is the CPU seconds used since the meter started.
func (m *cpuMeter) String() string {
	var parts []string
	for i, name := range []string{"govirt", "libvirtd"} {
		now := cpuSeconds(m.pids[i])
		if now < 0 || m.before[i] < 0 {
			parts = append(parts, name+" CPU unknown")
			continue
		}
		parts = append(parts, fmt.Sprintf("%s CPU %.1f s", name, now-m.before[i]))
	}
	return strings.Join(parts, ", ")
}

func TestStatCPU(t *testing.T) {
	for _, tt := range []struct {
		line string
		want float64
	}{
		{"2854 (libvirtd) S 1 2854 2854 0 -1 4194560 97 0 0 0 1234 56 0 0 20 0 19 0 7 1 2 3", 12.90},
		{"7 (a b) c)) R 1 7 7 0 -1 0 0 0 0 0 5 5 0 0", 0.10},
		{"7 (short) R 1 2", -1},
		{"garbage", -1},
	} {
		if got := statCPU(tt.line); math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("statCPU(%q) = %v, want %v", tt.line, got, tt.want)
		}
	}
	if got := cpuSeconds(os.Getpid()); got < 0 {
		t.Errorf("cpuSeconds(self) = %v", got)
	}
}
