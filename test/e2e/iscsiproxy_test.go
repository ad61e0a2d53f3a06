package e2e

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/govirt/govirt/internal/iscsi/initiator"
	"github.com/govirt/govirt/internal/iscsi/pdu"
	"github.com/govirt/govirt/internal/scsipolicy"
	"github.com/govirt/govirt/test/e2e/e2eutil"
)

// digestTarget is a tgtd target that accepts CRC32C digests and
// unsolicited data (InitialR2T=No), so that refused writes come with
// immediate data and unsolicited Data-Out.
func digestTarget(t *testing.T) *e2eutil.ISCSITarget {
	t.Helper()
	tg := e2eutil.NewISCSITarget(t, 1, 64)
	tg.SetParam(t, "HeaderDigest", "CRC32C,None")
	tg.SetParam(t, "DataDigest", "CRC32C,None")
	tg.SetParam(t, "InitialR2T", "No")
	return tg
}

func reservationsPolicy(t *testing.T) *scsipolicy.Policy {
	t.Helper()
	pol, err := scsipolicy.Compile(scsipolicy.Presets()[0])
	if err != nil {
		t.Fatal(err)
	}
	return pol
}

// TestISCSIProxyFilteredOnTgtd: through a filtered proxy or guard, real initiators
// (libiscsi's tools, QEMU's block layer with header digests, govirt's Go
// initiator with both digests) read and write; PERSISTENT RESERVE OUT,
// WRITE BUFFER, FORMAT UNIT, a vendor-specific code and WRITE SAME get
// ILLEGAL REQUEST; tgtd, asked directly and through a capture of the
// proxy-to-target connection, never saw them. Then the policy changes live
// and the same session registers a key.
func TestISCSIProxyFilteredOnTgtd(t *testing.T) {
	t.Parallel()
	eachEnforcer(t, testFilteredOnTgtd)
}

func testFilteredOnTgtd(t *testing.T, k enforcerKind) {
	ctx := e2eutil.Context(t, 3*time.Minute)
	tg := digestTarget(t)
	capt := startCapture(t, tg.PortalAddr())
	addr, px, logs := startEnforcer(ctx, t, k, capt.Addr(), scsipolicy.Filtered())
	url := fmt.Sprintf("iscsi://%s/%s/1", addr, tg.IQN)

	// libiscsi's tools: discovery, INQUIRY, READ CAPACITY(16).
	if out, err := runTool(ctx, t, "libiscsi-bin", "iscsi-ls", "iscsi://"+addr); err != nil || !strings.Contains(out, "Target:"+tg.IQN) {
		t.Errorf("iscsi-ls through the proxy: %v\n%s", err, out)
	}
	if out, err := runTool(ctx, t, "libiscsi-bin", "iscsi-inq", url); err != nil || !strings.Contains(out, "Vendor:IET") {
		t.Errorf("iscsi-inq through the proxy: %v\n%s", err, out)
	}
	if out, err := runTool(ctx, t, "libiscsi-bin", "iscsi-readcapacity16", url); err != nil || !strings.Contains(out, "Total size:67108864") {
		t.Errorf("iscsi-readcapacity16 through the proxy: %v\n%s", err, out)
	}
	// QEMU's iSCSI initiator with header digests writes and reads back.
	opts := fmt.Sprintf("driver=iscsi,transport=tcp,portal=%s,target=%s,lun=1,header-digest=crc32c", addr, tg.IQN)
	out, err := runTool(ctx, t, "qemu-utils", "qemu-io", "--image-opts", "-c", "write -P 0x5a 0 1M", "-c", "read -P 0x5a 0 1M", opts)
	if err != nil || !strings.Contains(out, "read 1048576/1048576 bytes") || strings.Contains(out, "Pattern verification failed") {
		t.Fatalf("qemu-io through the proxy: %v\n%s", err, out)
	}
	if !strings.Contains(logs.String(), "header_digest=true") {
		t.Errorf("QEMU's session through the %s did not negotiate header digests:\n%s", k.name, logs.String())
	}

	guest := dialLUN(ctx, t, addr, tg.IQN, "iqn.2026-11.dev.govirt:guest", true)
	if p := guest.Params(); !p.HeaderDigest || !p.DataDigest || p.InitialR2T {
		t.Fatalf("negotiated %+v, want both digests and InitialR2T=No", p)
	}
	// The first command of a new initiator gets tgtd's unit attention.
	doCmd(ctx, t, guest, make([]byte, 6), nil, 0)
	register, key := prOut(prRegister, 0, 0, 0x5eed)
	writeSame := []byte{0x93, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0}
	writeSame32 := make([]byte, 32) // variable-length CDB: its last 16 bytes go in an AHS
	writeSame32[0], writeSame32[7], writeSame32[9], writeSame32[31] = 0x7f, 0x18, 0x0d, 8
	refused := []struct {
		name string
		cdb  []byte
		out  []byte
		in   int
	}{
		{"PERSISTENT RESERVE OUT/REGISTER", register, key, 0},
		{"WRITE BUFFER (download microcode, 64 KiB)", []byte{0x3b, 0x05, 0, 0, 0, 0, 0x01, 0, 0, 0}, bytes.Repeat([]byte{0xfb}, 64<<10), 0},
		{"FORMAT UNIT", []byte{0x04, 0, 0, 0, 0, 0}, nil, 0},
		{"vendor-specific 0xc0", []byte{0xc0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, nil, 512},
		{"vendor-specific 0xff with data", []byte{0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0}, make([]byte, 4096), 0},
		{"WRITE SAME(16) of 0xee over LBA 0-7", writeSame, bytes.Repeat([]byte{0xee}, 512), 0},
		{"WRITE SAME(32), a 32-byte CDB", writeSame32, bytes.Repeat([]byte{0xee}, 512), 0},
	}
	for _, rc := range refused {
		assertRefused(t, rc.name, doCmd(ctx, t, guest, rc.cdb, rc.out, rc.in))
	}
	if r := doCmd(ctx, t, guest, []byte{0x28, 0, 0, 0, 0, 0, 0, 0, 8, 0}, nil, 4096); r.Status != 0 || !bytes.Equal(r.Data, bytes.Repeat([]byte{0x5a}, 4096)) {
		t.Errorf("READ(10) through the proxy after the refusals: %v", r)
	}

	// tgtd's own state, read without the proxy: no key, LBA 0 untouched.
	direct := dialLUN(ctx, t, tg.PortalAddr(), tg.IQN, "iqn.2026-11.dev.govirt:auditor", false)
	if keys := readKeys(ctx, t, direct); len(keys) != 0 {
		t.Errorf("tgtd holds reservation keys %x registered through a filtered proxy", keys)
	}
	if r := doCmd(ctx, t, direct, []byte{0x28, 0, 0, 0, 0, 0, 0, 0, 8, 0}, nil, 4096); !bytes.Equal(r.Data, bytes.Repeat([]byte{0x5a}, 4096)) {
		t.Errorf("LBA 0-7 changed behind a filtered proxy: %v, first bytes % x", r, r.Data[:8])
	}
	// What crossed the proxy-to-target connection.
	standIns := 0
	for _, cdb := range capt.commands(t) {
		if d := scsipolicy.Filtered().Decide(cdb); !d.Allow && cdb[0] != k.standIn {
			t.Errorf("the capture shows %s reaching tgtd", d.Op.Name())
		}
		if cdb[0] == k.standIn {
			standIns++
		}
	}
	if standIns < len(refused) {
		t.Errorf("capture shows %d stand-ins (%#x) for %d refused commands", standIns, k.standIn, len(refused))
	}
	if s := px.Stats(); s.Refused != uint64(len(refused)) {
		t.Errorf("%s counted %d refused commands, want %d", k.name, s.Refused, len(refused))
	}
	// The kernel's refusals are logged by a poller, within a second or so.
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(logs.String(), "SCSI command refused"); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Error("no refused command was logged")
			break
		}
	}

	// The policy changes under the running session.
	px.SetPolicy(reservationsPolicy(t))
	if r := doCmd(ctx, t, guest, register, key, 0); r.Status != pdu.StatusGood {
		t.Fatalf("REGISTER after switching to the reservations policy: %v", r)
	}
	if keys := readKeys(ctx, t, direct); !slices.Equal(keys, []uint64{0x5eed}) {
		t.Errorf("tgtd holds keys %x, want 5eed", keys)
	}
	assertRefused(t, "WRITE BUFFER under reservations", doCmd(ctx, t, guest, refused[1].cdb, refused[1].out, 0))
}

// TestISCSIProxyReservationsTwoVMs: two initiators, each behind its own
// proxy with the reservations policy (two VMs sharing a LUN), register,
// reserve and release; each sees the other's reservation and the target
// enforces it.
func TestISCSIProxyReservationsTwoVMs(t *testing.T) {
	t.Parallel()
	eachEnforcer(t, testReservationsTwoVMs)
}

func testReservationsTwoVMs(t *testing.T, k enforcerKind) {
	ctx := e2eutil.Context(t, 3*time.Minute)
	tg := digestTarget(t)
	var vms []*initiatorVM
	for i, name := range []string{"vm1", "vm2"} {
		addr, _, _ := startEnforcer(ctx, t, k, tg.PortalAddr(), reservationsPolicy(t))
		c := dialLUN(ctx, t, addr, tg.IQN, "iqn.2026-11.dev.govirt:"+name, i == 0)
		vms = append(vms, &initiatorVM{key: uint64(0xa1 + i*0x11), c: c})
	}
	for _, vm := range vms {
		cdb, param := prOut(prRegister, 0, 0, vm.key)
		if r := doCmd(ctx, t, vm.c, cdb, param, 0); r.Status != pdu.StatusGood {
			t.Fatalf("REGISTER %x: %v", vm.key, r)
		}
	}
	cdb, param := prOut(prReserve, prWriteExclusive, vms[0].key, 0)
	if r := doCmd(ctx, t, vms[0].c, cdb, param, 0); r.Status != pdu.StatusGood {
		t.Fatalf("RESERVE: %v", r)
	}
	if key, typ, ok := readReservation(ctx, t, vms[1].c); !ok || key != vms[0].key || typ != prWriteExclusive {
		t.Errorf("vm2 sees reservation %x type %d (%v), want vm1's %x Write Exclusive", key, typ, ok, vms[0].key)
	}
	write := []byte{0x2a, 0, 0, 0, 0, 0x10, 0, 0, 1, 0}
	if r := doCmd(ctx, t, vms[1].c, write, make([]byte, 512), 0); r.Status != 0x18 {
		t.Errorf("vm2 writing under vm1's Write Exclusive reservation: %v, want RESERVATION CONFLICT", r)
	}
	if r := doCmd(ctx, t, vms[0].c, write, make([]byte, 512), 0); r.Status != pdu.StatusGood {
		t.Errorf("vm1 writing under its own reservation: %v", r)
	}
	cdb, param = prOut(prRelease, prWriteExclusive, vms[0].key, 0)
	if r := doCmd(ctx, t, vms[0].c, cdb, param, 0); r.Status != pdu.StatusGood {
		t.Fatalf("RELEASE: %v", r)
	}
	if _, _, ok := readReservation(ctx, t, vms[1].c); ok {
		t.Error("vm2 still sees a reservation after vm1 released it")
	}
	direct := dialLUN(ctx, t, tg.PortalAddr(), tg.IQN, "iqn.2026-11.dev.govirt:auditor", false)
	if keys := readKeys(ctx, t, direct); !slices.Equal(keys, []uint64{vms[0].key, vms[1].key}) {
		t.Errorf("tgtd holds keys %x, want %x and %x", keys, vms[0].key, vms[1].key)
	}
	assertRefused(t, "FORMAT UNIT under reservations", doCmd(ctx, t, vms[1].c, []byte{0x04, 0, 0, 0, 0, 0}, nil, 0))
}

type initiatorVM struct {
	key uint64
	c   *initiator.Conn
}

// TestISCSIProxyUnfilteredOnTgtd: an unfiltered proxy is transparent:
// libiscsi's conformance tests for persistent reservations, task
// management, CmdSN and residuals pass through it, and vendor-specific
// commands reach tgtd (the capture shows them).
func TestISCSIProxyUnfilteredOnTgtd(t *testing.T) {
	t.Parallel()
	eachEnforcer(t, testUnfilteredOnTgtd)
}

func testUnfilteredOnTgtd(t *testing.T, k enforcerKind) {
	ctx := e2eutil.Context(t, 5*time.Minute)
	tg := e2eutil.NewISCSITarget(t, 1, 64)
	capt := startCapture(t, tg.PortalAddr())
	addr, px, _ := startEnforcer(ctx, t, k, capt.Addr(), scsipolicy.Unfiltered())
	url := fmt.Sprintf("iscsi://%s/%s/1", addr, tg.IQN)
	for _, suite := range []string{"ALL.ProutRegister.Simple", "ALL.ProutReserve.Simple", "ALL.PrinReadKeys",
		"ALL.iSCSITMF", "ALL.iSCSIcmdsn", "ALL.iSCSIResiduals", "ALL.Write10", "ALL.Read10"} {
		out, err := runTool(ctx, t, "libiscsi-bin", "iscsi-test-cu", "--dataloss", "--silent", "--fail", "--test="+suite, url)
		if err != nil {
			t.Errorf("iscsi-test-cu %s through the unfiltered %s: %v\n%s", suite, k.name, err, out)
		}
	}
	guest := dialLUN(ctx, t, addr, tg.IQN, "iqn.2026-11.dev.govirt:guest", false)
	doCmd(ctx, t, guest, []byte{0xc0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, nil, 0)
	seen := false
	for _, cdb := range capt.commands(t) {
		seen = seen || cdb[0] == 0xc0
	}
	if !seen {
		t.Error("vendor-specific 0xc0 did not reach tgtd through the unfiltered proxy")
	}
	if s := px.Stats(); s.Refused != 0 || s.Commands == 0 {
		t.Errorf("unfiltered proxy stats %+v", s)
	}
}

// TestISCSIProxyFilteredLibiscsiReservation: libiscsi's own PERSISTENT
// RESERVE test through a filtered proxy finds reservations "not
// implemented" (it probes with PERSISTENT RESERVE IN) and gets no key onto
// tgtd.
func TestISCSIProxyFilteredLibiscsiReservation(t *testing.T) {
	t.Parallel()
	eachEnforcer(t, testFilteredLibiscsiReservation)
}

func testFilteredLibiscsiReservation(t *testing.T, k enforcerKind) {
	ctx := e2eutil.Context(t, 3*time.Minute)
	tg := e2eutil.NewISCSITarget(t, 1, 64)
	addr, px, _ := startEnforcer(ctx, t, k, tg.PortalAddr(), scsipolicy.Filtered())
	url := fmt.Sprintf("iscsi://%s/%s/1", addr, tg.IQN)
	out, _ := runTool(ctx, t, "libiscsi-bin", "iscsi-test-cu", "--dataloss", "--test=ALL.ProutRegister.Simple", url)
	if s := px.Stats(); s.Refused == 0 || (s.LastRefused.Code != 0x5e && s.LastRefused.Code != 0x5f) {
		t.Errorf("the proxy refused nothing of libiscsi's PR test (%+v):\n%s", s, out)
	}
	direct := dialLUN(ctx, t, tg.PortalAddr(), tg.IQN, "iqn.2026-11.dev.govirt:auditor", false)
	if keys := readKeys(ctx, t, direct); len(keys) != 0 {
		t.Errorf("tgtd holds keys %x after libiscsi's PR test through a filtered proxy", keys)
	}
}
