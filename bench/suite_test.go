//go:build bench

// Package bench is govirt's benchmark suite: the control plane on SQLite and
// PostgreSQL, address allocation, and real guests booted and hot-plugged
// through the API against raw virsh with the same domain XML. It is built
// only with -tags bench, so `go test ./...` leaves it out; `make bench` runs
// it and writes docs/PERFORMANCE.md. Results go to a JSON file as each
// measurement finishes: a second run skips what is done (resumable), and
// -budget stops starting new measurements when the time is up.
package bench

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/govirt/govirt/internal/benchreport"
	"github.com/govirt/govirt/internal/store/sqlstore/sqltest"
)

var (
	flagTier    = flag.String("tier", "quick", "quick (a few minutes, CI) or full")
	flagOut     = flag.String("out", "", "write the Markdown report here (empty: none)")
	flagResults = flag.String("results", "", "results JSON file (default: bench/results-TIER.json)")
	flagBudget  = flag.Duration("budget", 10*time.Minute, "start no new measurement after this much time")
	flagOnly    = flag.String("only", "", "run only measurements whose id starts with this")
	flagMerge   = flag.String("merge", "", "comma-separated results files to add to -results (a split run)")
	flagReport  = flag.Bool("report-only", false, "measure nothing, only write -out from the results")
	flagMax     = flag.Int("max-disks", 0, "disks of the one guest that reaches the per-VM maximum, instead of the tier's (a rehearsal)")
)

func TestMain(m *testing.M) { sqltest.Main(m) }

// tier holds the counts of one tier.
type tier struct {
	name string
	runs int // runs per figure
	// control plane
	attachDisks int // disks attached to a stopped VM, one API call each
	listVMs     int // VMs created for the list and search figures
	// guests
	bootDisks  []int // disks per boot figure
	hotplugs   int   // sequential hot-plugs
	concurrent int   // concurrent hot-plugs (0: none)
	allocDisks int   // disks addressed by the allocation figures
	stagedBoot int   // disks of the boot forced through the agent's staged start (0: none)
	maxDisks   int   // disks of the one guest that reaches the per-VM maximum (0: none)
	// ioConfigs and ioTests cap the data-path matrix (configurations,
	// then dd tests of each).
	ioConfigs, ioTests int
	// ioScale multiplies the bytes each dd moves (and its disks' size):
	// the guest times dd to 10 ms, so a transfer of 160 ms is timed to 6%.
	// ioRuns is how many runs each side of a data-path row gets.
	ioScale, ioRuns int
}

var tiers = map[string]tier{
	"quick": {name: "quick", runs: 3, attachDisks: 300, listVMs: 500, bootDisks: []int{64}, hotplugs: 10,
		allocDisks: 16383, ioConfigs: 1, ioTests: 2, ioScale: 1, ioRuns: 3, stagedBoot: 32},
	"full": {name: "full", runs: 3, attachDisks: 1000, listVMs: 10000, bootDisks: []int{256, 1000, 4096}, hotplugs: 100,
		concurrent: 32, allocDisks: 16383, ioConfigs: 2, ioTests: 4, ioScale: 8, ioRuns: 5, stagedBoot: 256, maxDisks: 16383},
}

// suite runs measurements and records them.
type suite struct {
	t        *testing.T
	tier     tier
	file     *benchreport.File
	deadline time.Time
	// expected counts the measurements under each engine's id prefix.
	expected map[string]int
}

// measurement is one figure's run: it fills r's samples (and baseline).
type measurement func(ctx context.Context, t *testing.T, r *benchreport.Result) error

// run measures r.ID unless it is done, filtered out or over budget. A
// failure is recorded (and fails the suite) so the next run tries again.
func (s *suite) run(r benchreport.Result, fn measurement) {
	s.t.Helper()
	if !strings.HasPrefix(r.ID, *flagOnly) {
		return
	}
	if old, ok := s.file.Results[r.ID]; ok && old.Done() {
		s.t.Logf("%s: done in an earlier run, kept", r.ID)
		return
	}
	if time.Now().After(s.deadline) {
		r.Err = fmt.Sprintf("not run: the %v budget was spent", *flagBudget)
		s.put(r)
		return
	}
	s.t.Run(strings.ReplaceAll(r.ID, "/", "_"), func(t *testing.T) {
		ctx, cancel := context.WithDeadline(context.Background(), s.deadline.Add(10*time.Minute))
		defer cancel()
		start := time.Now()
		err := fn(ctx, t, &r)
		if err == nil && len(r.Samples) == 0 {
			err = fmt.Errorf("no samples")
		}
		if err != nil {
			r.Err = err.Error()
			t.Errorf("%s: %v", r.ID, err)
		}
		r.When = time.Now().UTC()
		t.Logf("%s: %s in %v (baseline %v)", r.ID, benchreport.Format(r.Value(), r.Unit), time.Since(start).Round(time.Second),
			benchreport.Format(benchreport.Median(r.Baseline), r.Unit))
		s.put(r)
	})
}

// pending tells whether any measurement whose id starts with prefix may
// still run, so an engine is started (in the suite's own goroutine, which
// owns its cleanup) only when one is needed.
func (s *suite) pending(prefix string) bool {
	if time.Now().After(s.deadline) || !strings.HasPrefix(*flagOnly, prefix) && !strings.HasPrefix(prefix, *flagOnly) {
		return false
	}
	done := 0
	for id, r := range s.file.Results {
		if strings.HasPrefix(id, prefix) && r.Done() {
			done++
		}
	}
	return done < s.expected[prefix]
}

func (s *suite) put(r benchreport.Result) {
	if err := s.file.Put(r); err != nil {
		s.t.Fatalf("save results: %v", err)
	}
}

// sections orders the report.
var sections = []benchreport.Section{
	{Group: "Control plane", Intro: "Through the REST API of a real `govirt engine --local-host` process, one request " +
		"at a time; the baseline column is empty because the targets are absolute."},
	{Group: "Allocation", Intro: "In-process, pure code (`internal/scsi`), as every plug runs it."},
	{Group: "Disks per guest", Intro: "Time from the start request to the guest's console listing every disk " +
		"(by serial, at the address libvirt was given). govirt: `POST /vms/{id}/start` of a VM whose disks were " +
		"attached through the API. Baseline: `virsh create` of the very domain XML govirt gave libvirt " +
		"(`virsh dumpxml --migratable`, renamed, govirt's metadata removed)."},
	{Group: "Hot-plug", Intro: "Time from the request to the guest listing the new disk. govirt: " +
		"`PUT /vms/{id}/diskattachments/{disk}` with `active=true` on a running VM. Baseline: " +
		"`virsh attach-device --live` of the same disk element, on a `virsh create` copy of the same domain."},
	{Group: "Data path", Intro: "Inside one guest with busybox `dd` and O_DIRECT through the guest agent: a " +
		"VirtIO-SCSI disk against a virtio-blk disk, raw files of the same size in the same storage domain, " +
		"alternating, in the same run; the govirt column is VirtIO-SCSI, the baseline virtio-blk. MB/s are bytes over " +
		"the time the guest's /proc/uptime measured. busybox has no random I/O: the 4 KiB rows are sequential " +
		"small-block I/O, which stresses per-request cost the way random I/O does."},
	{Group: "iSCSI policy enforcement", Intro: "On the host, QEMU's own iSCSI initiator (`qemu-img bench`) reads a tgtd " +
		"LUN under the filtered SCSI command policy, through the agent's guard (the default: QEMU connects to the target " +
		"through a port the kernel diverts, the agent reads the login, and a BPF program on QEMU's socket checks every " +
		"command after it), through the guard without that kernel half (every command queued to the agent), or through " +
		"its user-space proxy, and, as the baseline, directly; alternating, in the same run. In a guest, a LUN govirt plugged against one `virsh` " +
		"plugged (docs/SCSI-POLICY.md)."},
}

func TestSuite(t *testing.T) {
	tr, ok := tiers[*flagTier]
	if !ok {
		t.Fatalf("unknown -tier %q: want quick or full", *flagTier)
	}
	if *flagMax > 0 {
		tr.maxDisks = *flagMax
	}
	path := *flagResults
	if path == "" {
		path = filepath.Join("results-" + tr.name + ".json")
	}
	f, err := benchreport.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	f.Command = commandLine()
	if f.Machine.CPU == "" {
		f.Machine = describeMachine(t)
	}
	for _, other := range strings.Split(*flagMerge, ",") {
		if other == "" {
			continue
		}
		o, err := benchreport.Load(other)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range o.Results {
			if old, ok := f.Results[r.ID]; !ok || !old.Done() {
				f.Results[r.ID] = r
			}
		}
		if err := f.Save(); err != nil {
			t.Fatal(err)
		}
	}
	if *flagReport {
		writeReport(t, f, *flagOut)
		return
	}
	s := &suite{t: t, tier: tr, file: f, deadline: time.Now().Add(*flagBudget), expected: map[string]int{
		"control/sqlite/": 5, "control/postgres/": 5, "guest/": len(tr.bootDisks) + 1 + min(tr.concurrent, 1) + tr.ioConfigs*tr.ioTests + 1 +
			min(tr.stagedBoot, 1) + min(tr.maxDisks, 1),
		"iscsi/proxy-guest": 1}}
	s.allocation()
	s.iscsiProxy()
	s.controlPlane()
	s.guests()
	if *flagOut != "" {
		writeReport(t, f, *flagOut)
	}
}

func writeReport(t *testing.T, f *benchreport.File, out string) {
	// The hand-written analysis is about the full tier's figures.
	var extra []byte
	if *flagTier == "full" {
		var err error
		if extra, err = os.ReadFile("ANALYSIS.md"); err != nil {
			t.Fatal(err)
		}
	}
	w, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := benchreport.Render(w, f, sections, string(extra)); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s", out)
}

// commandLine is how the suite was started, for the report.
func commandLine() string {
	if c := os.Getenv("GOVIRT_BENCH_COMMAND"); c != "" {
		return c
	}
	return fmt.Sprintf("go test -tags bench -run TestSuite -timeout 0 ./bench -args -tier %s -budget %v", *flagTier, *flagBudget)
}
