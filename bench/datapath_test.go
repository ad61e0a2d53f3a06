//go:build bench

package bench

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/govirt/govirt/internal/api/ovirt"
	"github.com/govirt/govirt/internal/benchreport"
)

// ioTest is one busybox dd run inside the guest, on DEV.
type ioTest struct {
	name string
	args []string // {dev} is replaced by the device
}

var ioTests = []ioTest{
	{"sequential write 1 MiB", []string{"dd", "if=/dev/zero", "of={dev}", "bs=1M", "count=32", "oflag=direct"}},
	{"sequential read 1 MiB", []string{"dd", "if={dev}", "of=/dev/null", "bs=1M", "count=32", "iflag=direct"}},
	{"write 4 KiB", []string{"dd", "if=/dev/zero", "of={dev}", "bs=4k", "count=1024", "oflag=direct"}},
	{"read 4 KiB", []string{"dd", "if={dev}", "of=/dev/null", "bs=4k", "count=1024", "iflag=direct"}},
}

// scaled is test with its dd moving scale times the bytes.
func (test ioTest) scaled(scale int) ioTest {
	out := ioTest{name: test.name, args: make([]string, len(test.args))}
	for i, a := range test.args {
		if v, ok := strings.CutPrefix(a, "count="); ok && scale > 1 {
			n, _ := strconv.Atoi(v)
			a = fmt.Sprintf("count=%d", n*scale)
		}
		out.args[i] = a
	}
	return out
}

// byteSize writes n as MiB, or KiB below 1 MiB.
func byteSize(n int64) string {
	if n < 1<<20 {
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d MiB", n>>20)
}

// ioBytes is what a dd command moves: bs times count.
func ioBytes(args []string) int64 {
	var bs, count int64
	for _, a := range args {
		k, v, _ := strings.Cut(a, "=")
		switch k {
		case "bs":
			mult := int64(1)
			switch {
			case strings.HasSuffix(v, "M"):
				mult, v = 1<<20, strings.TrimSuffix(v, "M")
			case strings.HasSuffix(v, "k"):
				mult, v = 1<<10, strings.TrimSuffix(v, "k")
			}
			n, _ := strconv.ParseInt(v, 10, 64)
			bs = n * mult
		case "count":
			count, _ = strconv.ParseInt(v, 10, 64)
		}
	}
	return bs * count
}

// dataPath compares VirtIO-SCSI with virtio-blk on raw files of the same
// size in one guest, with and without an I/O thread and multi-queue.
func (s *suite) dataPath(g *guestEnv) {
	for _, cfg := range []struct {
		name    string
		threads int
		multiQ  bool
	}{{"1 I/O thread, multi-queue", 1, true}, {"no I/O thread, one queue", 0, false}}[:s.tier.ioConfigs] {
		for i, test := range ioTests[:s.tier.ioTests] {
			test := test.scaled(s.tier.ioScale)
			id := fmt.Sprintf("guest/4-io-t%d-%d", cfg.threads, i)
			s.run(benchreport.Result{ID: id, Group: "Data path", Name: fmt.Sprintf("%s, %s: VirtIO-SCSI", test.name, cfg.name),
				Note: fmt.Sprintf("%s a run", byteSize(ioBytes(test.args))),
				Unit: "MB/s", Better: benchreport.Higher, BaselineName: "virtio-blk", TargetRatio: 0.95},
				func(ctx context.Context, t *testing.T, r *benchreport.Result) error {
					return g.dataPath(ctx, t, r, cfg.threads, cfg.multiQ, test)
				})
		}
	}
}

// ioVMs caches the data-path VM of each configuration.
type ioVM struct {
	id, name string
	scsi, vd string // guest device paths
}

func (g *guestEnv) ioVM(ctx context.Context, t *testing.T, threads int, multiQ bool) (*ioVM, error) {
	key := fmt.Sprint(threads, multiQ)
	if vm, ok := g.ioVMs[key]; ok {
		return vm, nil
	}
	name := fmt.Sprintf("io-t%d-%d", threads, time.Now().Unix())
	vm, err := g.c.AddVM(ctx, ovirt.VM{Name: ovirt.Str(name), Cluster: &ovirt.Ref{Name: ovirt.Str("Default")}, Memory: ovirt.I(384 << 20),
		OS:         &ovirt.OS{Type: ovirt.Str("debian"), Kernel: &g.img.Kernel, Initrd: &g.img.Initrd, Cmdline: &g.img.Cmdline},
		VirtioSCSI: &ovirt.VirtioSCSI{Enabled: ovirt.B(true)}, IO: &ovirt.IO{Threads: ovirt.I(int64(threads))},
		VirtioSCSIMultiQueuesEnabled: ovirt.B(multiQ)})
	if err != nil {
		return nil, err
	}
	var ids [2]string
	for i, iface := range []string{"virtio_scsi", "virtio"} {
		a, err := g.c.Attach(ctx, vm.ID, ovirt.DiskAttachment{Interface: ovirt.Str(iface), Active: ovirt.B(true), Bootable: ovirt.B(false),
			Disk: &ovirt.Disk{Name: ovirt.Str(fmt.Sprintf("%s-%s", name, iface)), Format: ovirt.Str("raw"), ProvisionedSize: ovirt.I(int64(max(1, g.s.tier.ioScale)) * 64 << 20),
				StorageDomains: &ovirt.StorageDomains{StorageDomains: []ovirt.StorageDomain{{Name: ovirt.Str("local")}}}}})
		if err != nil {
			return nil, fmt.Errorf("%s disk: %w", iface, err)
		}
		ids[i] = a.ID
	}
	_, inv, err := g.startAndSee(ctx, vm.ID, ids[:])
	if err != nil {
		return nil, err
	}
	m := guestBySerial(inv)
	out := &ioVM{id: vm.ID, name: name, scsi: "/dev/" + m[serialOf(ids[0])].Name, vd: "/dev/" + m[serialOf(ids[1])].Name}
	if err := g.waitAgent(ctx, t, vm.ID); err != nil {
		return nil, err
	}
	g.ioVMs[key] = out
	return out, nil
}

// waitAgent waits until the guest agent runs a command: qemu-ga starts
// after the guest's first inventory may already be out.
func (g *guestEnv) waitAgent(ctx context.Context, t *testing.T, vmID string) error {
	ag := g.e.Agent(ctx, t)
	deadline := time.Now().Add(3 * time.Minute)
	for {
		res, err := ag.GuestExec(ctx, vmID, "/bin/busybox", []string{"true"}, nil, time.Minute)
		if err == nil && res.ExitCode == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the guest agent of %s never ran a command: %v", vmID, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// ddScript times dd with the guest's /proc/uptime (10 ms resolution):
// busybox dd prints no timing. It prints "START END" in seconds.
const ddScript = `read a _ </proc/uptime; busybox dd "$@" 2>/dev/null || exit 1; read b _ </proc/uptime; echo "$a $b"`

func (g *guestEnv) dataPath(ctx context.Context, t *testing.T, r *benchreport.Result, threads int, multiQ bool, test ioTest) error {
	vm, err := g.ioVM(ctx, t, threads, multiQ)
	if err != nil {
		return err
	}
	// Where each side's time goes: the guest's vCPU (its own block stack,
	// emulated instruction by instruction under TCG) or QEMU's other
	// threads (device emulation, I/O).
	pid := qemuPID(vm.name)
	var cost [2]qemuCPU
	measured := func(side int, dev string) func() (float64, error) {
		return func() (float64, error) {
			before := qemuCPUOf(pid)
			rate, err := g.ddRate(ctx, t, vm.id, test, dev)
			cost[side] = cost[side].add(qemuCPUOf(pid).sub(before))
			return rate, err
		}
	}
	if err := alternate(g.s.tier.ioRuns, r, measured(0, vm.scsi), measured(1, vm.vd)); err != nil {
		return err
	}
	gib := float64(ioBytes(test.args)) * float64(g.s.tier.ioRuns) / (1 << 30)
	r.Note += fmt.Sprintf("; QEMU CPU seconds per GiB, guest vCPU + other threads: VirtIO-SCSI %.1f + %.1f, virtio-blk %.1f + %.1f",
		cost[0].vcpu/gib, cost[0].other/gib, cost[1].vcpu/gib, cost[1].other/gib)
	return nil
}

// alternate measures govirt's side and the baseline runs times each, one
// after the other, so that both see the same moments of a noisy machine.
func alternate(runs int, r *benchreport.Result, sample, baseline func() (float64, error)) error {
	for range runs {
		for _, side := range []struct {
			measure func() (float64, error)
			out     *[]float64
		}{{sample, &r.Samples}, {baseline, &r.Baseline}} {
			v, err := side.measure()
			if err != nil {
				return err
			}
			*side.out = append(*side.out, v)
		}
	}
	return nil
}

// ddRate runs one dd of test on dev inside the guest of vmID and returns
// the rate the guest measured, in MB/s.
func (g *guestEnv) ddRate(ctx context.Context, t *testing.T, vmID string, test ioTest, dev string) (float64, error) {
	args := make([]string, len(test.args))
	for i, a := range test.args {
		args[i] = strings.ReplaceAll(a, "{dev}", dev)
	}
	res, err := g.e.Agent(ctx, t).GuestExec(ctx, vmID, "/bin/sh", append([]string{"-c", ddScript, "sh"}, args[1:]...), nil, 5*time.Minute)
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(res.Stdout))
	if res.ExitCode != 0 || len(f) != 2 {
		return 0, fmt.Errorf("dd %v: exit %d: %s %s", args, res.ExitCode, res.Stdout, res.Stderr)
	}
	start, _ := strconv.ParseFloat(f[0], 64)
	end, _ := strconv.ParseFloat(f[1], 64)
	secs := end - start
	if secs <= 0 {
		return 0, fmt.Errorf("dd %v: %s: too fast to time", args, res.Stdout)
	}
	return float64(ioBytes(args)) / secs / 1e6, nil
}

func TestIOTestScaled(t *testing.T) {
	for _, tt := range []struct {
		scale int
		want  []string
	}{
		{0, []string{"32 MiB", "32 MiB", "4 MiB", "4 MiB"}},
		{1, []string{"32 MiB", "32 MiB", "4 MiB", "4 MiB"}},
		{8, []string{"256 MiB", "256 MiB", "32 MiB", "32 MiB"}},
	} {
		for i, test := range ioTests {
			sc := test.scaled(tt.scale)
			if got := byteSize(ioBytes(sc.args)); got != tt.want[i] {
				t.Errorf("%s scaled %d: %s, want %s", test.name, tt.scale, got, tt.want[i])
			}
			if sc.name != test.name || len(sc.args) != len(test.args) || sc.args[0] != "dd" {
				t.Errorf("%s scaled %d: %v", test.name, tt.scale, sc)
			}
		}
	}
	if ioTests[0].args[4] != "count=32" {
		t.Errorf("scaling changed the table: %v", ioTests[0].args)
	}
	if got := byteSize(512 << 10); got != "512 KiB" {
		t.Errorf("byteSize(512 KiB) = %s", got)
	}
}
