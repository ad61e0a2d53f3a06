package guard

import (
	"context"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/govirt/govirt/internal/netfilter/divert"
)

// TestRemoveStaleKeepsLiveGuards runs against the kernel: a guard whose
// agent died (its queue closed, its rules left) is removed, a running one
// is not.
func TestRemoveStaleKeepsLiveGuards(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test installs iptables rules and binds NFQUEUEs: run it as root (CI does)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	target := netip.MustParseAddrPort("127.0.0.1:3260")
	live, err := Start(ctx, Config{Target: target, FrontPort: 30980, Queue: 30980})
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	dead, err := Start(ctx, Config{Target: target, FrontPort: 30981, Queue: 30981})
	if err != nil {
		t.Fatal(err)
	}
	// What a killed agent leaves: the rules, no reader.
	_ = dead.q.Close()
	<-dead.done
	defer func() { _ = divert.Delete(context.Background(), dead.divert()) }()

	// Outside the range: kept even though dead. (The ports are outside the
	// agents' range, which e2e tests running at the same time clean.)
	if _, err := RemoveStale(ctx, 30990, 30999, nil); err != nil {
		t.Fatal(err)
	}
	if left, err := divert.List(ctx); err != nil || !slices.ContainsFunc(left, func(d divert.Divert) bool { return d.FrontPort == 30981 }) {
		t.Fatalf("a dead divert outside the range was removed (%v)", err)
	}
	if _, err := RemoveStale(ctx, 30980, 30989, nil); err != nil {
		t.Fatal(err)
	}
	left, err := divert.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(left, func(d divert.Divert) bool { return d.FrontPort == 30980 }) {
		t.Error("the live guard's divert was removed")
	}
	if slices.ContainsFunc(left, func(d divert.Divert) bool { return d.FrontPort == 30981 }) {
		t.Error("the dead guard's divert is still listed")
	}
}

// TestRepairAfterTheRulesWereFlushed: someone removes the jump to the
// queue chain (a firewall reload); divert.Broken sees it, Repair puts the
// rules back.
func TestRepairAfterTheRulesWereFlushed(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test installs iptables rules and binds NFQUEUEs: run it as root (CI does)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	g, err := Start(ctx, Config{Target: netip.MustParseAddrPort("127.0.0.1:3260"), FrontPort: 30982, Queue: 30982})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	ds := []divert.Divert{g.Divert()}
	if broken, err := divert.Broken(ctx, ds); err != nil || len(broken) != 0 {
		t.Fatalf("a fresh guard is reported broken: %v %v", broken, err)
	}
	// The queue rule goes (the jump stays: other guards of other tests
	// may run at the same time).
	code, err := exec.CommandContext(ctx, "iptables", "-w", "-t", "mangle", "-S", "GOVIRT-SCSI-Q").Output()
	if err != nil {
		t.Fatal(err)
	}
	removed := false
	for _, line := range strings.Split(string(code), "\n") {
		if strings.Contains(line, `"govirt-scsi:30982"`) && strings.Contains(line, "NFQUEUE") {
			words, err := divert.SplitRule(strings.TrimPrefix(line, "-A "))
			if err != nil {
				t.Fatal(err)
			}
			args := append([]string{"-w", "-t", "mangle", "-D"}, words...)
			if out, err := exec.CommandContext(ctx, "iptables", args...).CombinedOutput(); err != nil {
				t.Fatalf("iptables %v: %v: %s", args, err, out)
			}
			removed = true
		}
	}
	if !removed {
		t.Fatalf("the guard's queue rule is not listed:\n%s", code)
	}
	if broken, err := divert.Broken(ctx, ds); err != nil || len(broken) != 1 {
		t.Fatalf("after its queue rule was removed: broken %v, %v", broken, err)
	}
	if err := g.Repair(ctx); err != nil {
		t.Fatal(err)
	}
	if broken, err := divert.Broken(ctx, ds); err != nil || len(broken) != 0 {
		t.Fatalf("after Repair: broken %v, %v", broken, err)
	}
}
