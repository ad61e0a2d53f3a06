package e2eutil

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// ISCSITarget is one tgtd target made for a test, with its LUNs backed by
// files in the test's directory. It is deleted when the test ends.
type ISCSITarget struct {
	TID    int
	IQN    string
	Portal string // 127.0.0.1
	Port   uint16
	// Serials holds each LUN's SCSI serial (VPD page 0x80), by LUN number.
	Serials map[uint32]string
}

// NewISCSITarget creates a target on the local tgtd with one LUN of sizeMiB
// per entry of luns (LUN numbers start at 1; tgt's LUN 0 is its controller).
// Target ids are random so that tests can run side by side.
func NewISCSITarget(t testing.TB, luns int, sizeMiB int) *ISCSITarget {
	t.Helper()
	dir := SharedDir(t)
	var tid int
	var iqn string
	for attempt := 0; ; attempt++ {
		tid = 1000 + rand.IntN(60000)
		iqn = fmt.Sprintf("iqn.2026-11.dev.govirt.test:%s-%d", sanitize(t.Name()), tid)
		err := tgtadm("--mode", "target", "--op", "new", "--tid", strconv.Itoa(tid), "--targetname", iqn)
		if err == nil {
			break
		}
		if attempt > 5 {
			t.Fatalf("tgtd: cannot create a target (is tgtd running? scripts/host-setup.sh starts it): %v", err)
		}
	}
	tg := &ISCSITarget{TID: tid, IQN: iqn, Portal: "127.0.0.1", Port: 3260, Serials: map[uint32]string{}}
	t.Cleanup(func() {
		if err := tgtadm("--mode", "target", "--op", "delete", "--force", "--tid", strconv.Itoa(tid)); err != nil {
			t.Logf("delete tgt target %d: %v", tid, err)
		}
	})
	for i := 1; i <= luns; i++ {
		backing := filepath.Join(dir, fmt.Sprintf("lun%d.img", i))
		if err := os.WriteFile(backing, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(backing, int64(sizeMiB)<<20); err != nil {
			t.Fatal(err)
		}
		lun := strconv.Itoa(i)
		if err := tgtadm("--mode", "logicalunit", "--op", "new", "--tid", strconv.Itoa(tid), "--lun", lun, "--backing-store", backing); err != nil {
			t.Fatalf("tgtd: add lun %d: %v", i, err)
		}
		serial := fmt.Sprintf("GVT%05d%02d", tid, i)
		if err := tgtadm("--mode", "logicalunit", "--op", "update", "--tid", strconv.Itoa(tid), "--lun", lun,
			"--params", "scsi_sn="+serial); err != nil {
			t.Fatalf("tgtd: set serial of lun %d: %v", i, err)
		}
		tg.Serials[uint32(i)] = serial
	}
	if err := tgtadm("--mode", "target", "--op", "bind", "--tid", strconv.Itoa(tid), "--initiator-address", "ALL"); err != nil {
		t.Fatalf("tgtd: bind target: %v", err)
	}
	return tg
}

func tgtadm(args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "tgtadm", append([]string{"--lld", "iscsi"}, args...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("tgtadm %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

func sanitize(name string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '.':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	s := b.String()
	if len(s) > 40 {
		s = s[:40]
	}
	return s
}

// SetParam sets an iSCSI parameter of the target, such as
// HeaderDigest=CRC32C,None, for the logins that follow.
func (tg *ISCSITarget) SetParam(t testing.TB, name, value string) {
	t.Helper()
	if err := tgtadm("--mode", "target", "--op", "update", "--tid", strconv.Itoa(tg.TID), "--name", name, "--value", value); err != nil {
		t.Fatalf("tgtd: set %s=%s: %v", name, value, err)
	}
}

// PortalAddr is the target's host:port.
func (tg *ISCSITarget) PortalAddr() string {
	return net.JoinHostPort(tg.Portal, strconv.Itoa(int(tg.Port)))
}
