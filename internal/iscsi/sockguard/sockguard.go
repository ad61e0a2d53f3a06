// Package sockguard is the kernel half of the agent's iSCSI guard: a SCSI
// command policy enforced on QEMU's own socket as QEMU writes each PDU, so
// that after the login no packet of the connection waits for the agent
// (bpf/sockguard.c says how). The user-space guard (internal/iscsi/guard)
// still reads each login through its queue and arms the connection here
// once the target's final Login Response says which digests frame the
// PDUs; until then only Login Requests pass.
//
// The kernel objects are one set per host, shared by every agent and
// guard on it, and pinned in the BPF filesystem: they outlive the agent
// that loaded them, so a guarded connection stays guarded while an agent
// restarts (a connection with no policy is refused outright).
package sockguard

//go:generate clang -O2 -g -Wall -target bpf -I/usr/include/x86_64-linux-gnu -c bpf/sockguard.c -o bpf/sockguard.o

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/govirt/govirt/internal/iscsi/pdu"
	"github.com/govirt/govirt/internal/scsipolicy"
	"golang.org/x/sys/unix"
)

//go:embed bpf/sockguard.o
var object []byte

// bpffs is where the objects are pinned; Open mounts a BPF filesystem
// there when none is.
const bpffs = "/sys/fs/bpf"

// ErrNotGuarded is a connection the kernel does not follow (it was not
// established through a guarded port while the programs were attached):
// it must not leave its login.
var ErrNotGuarded = errors.New("sockguard: the connection's socket is not in the kernel guard")

// connKey, connState, policyVal, saKey and counters mirror the structs of
// bpf/sockguard.c.
type connKey struct {
	Addr  [16]byte
	LPort uint16
	FPort uint16
}

type connState struct {
	HeaderDigest, DataDigest, Armed, MidMsg uint8
	Remaining                               uint32
}

type policyVal struct {
	Gen uint32
	Ops [256]uint8
}

type saKey struct {
	Gen   uint32
	FPort uint16
	Code  uint8
	_     uint8
	SA    uint16
	_     uint16
}

type counters struct {
	Commands, Refused uint64
	LastRefusedCDB    [16]byte
}

// mapNames are the maps shared through the BPF filesystem, in the order
// of Host's fields.
var mapNames = []string{"socks", "conns", "policies", "sarules", "counters"}

// Host holds the host's kernel guard objects.
type Host struct {
	socks, conns, policies, sarules, counters *ebpf.Map

	mu sync.Mutex // serializes this process's policy changes per port
}

// Open loads the kernel guard, or finds the one an earlier agent (or
// another on this host) loaded, and attaches it: the socket-operations
// program to the root of the cgroup v2 hierarchy (every socket on the
// host passes there) and the message program to the socket map.
func Open() (*Host, error) {
	if err := mountBPFFS(); err != nil {
		return nil, err
	}
	sum := sha256.Sum256(object)
	dir := filepath.Join(bpffs, "govirt", "iscsi-guard-"+hex.EncodeToString(sum[:6]))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("sockguard: %w", err)
	}
	// One loader at a time per host: two agents starting together must
	// not both attach a program to the cgroup.
	lock, err := os.OpenFile(filepath.Join(os.TempDir(), "govirt-iscsi-guard.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sockguard: %w", err)
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		return nil, fmt.Errorf("sockguard: lock: %w", err)
	}
	cg, err := cgroup2Root()
	if err != nil {
		return nil, err
	}
	retireOthers(filepath.Dir(dir), filepath.Base(dir), cg)

	spec, err := ebpf.LoadCollectionSpecFromReader(bytes.NewReader(object))
	if err != nil {
		return nil, fmt.Errorf("sockguard: %w", err)
	}
	for _, name := range mapNames {
		spec.Maps[name].Pinning = ebpf.PinByName
	}
	coll, err := ebpf.NewCollectionWithOptions(spec, ebpf.CollectionOptions{Maps: ebpf.MapOptions{PinPath: dir}})
	if err != nil {
		return nil, fmt.Errorf("sockguard: loading the programs: %w", err)
	}
	defer coll.Close()
	h := &Host{}
	for i, m := range []**ebpf.Map{&h.socks, &h.conns, &h.policies, &h.sarules, &h.counters} {
		name := mapNames[i]
		if *m, err = coll.Maps[name].Clone(); err != nil {
			_ = h.Close()
			return nil, fmt.Errorf("sockguard: %w", err)
		}
	}
	if err := attach(dir, cg, coll, h.socks); err != nil {
		_ = h.Close()
		return nil, err
	}
	return h, nil
}

// attach attaches the programs unless an earlier Open of the same object
// did (its pinned socket-operations program says so). The attachments
// are not links: they stay when this process exits.
func attach(dir, cg string, coll *ebpf.Collection, socks *ebpf.Map) error {
	pinned := filepath.Join(dir, "sockops")
	if _, err := os.Stat(pinned); err == nil {
		return nil
	}
	if err := link.RawAttachProgram(link.RawAttachProgramOptions{Target: socks.FD(),
		Program: coll.Programs["govirt_skmsg"], Attach: ebpf.AttachSkMsgVerdict}); err != nil {
		return fmt.Errorf("sockguard: attaching the message program: %w", err)
	}
	f, err := os.Open(cg)
	if err != nil {
		return fmt.Errorf("sockguard: %w", err)
	}
	defer f.Close()
	prog := coll.Programs["govirt_sockops"]
	if err := link.RawAttachProgram(link.RawAttachProgramOptions{Target: int(f.Fd()), Program: prog,
		Attach: ebpf.AttachCGroupSockOps, Flags: unix.BPF_F_ALLOW_MULTI}); err != nil {
		return fmt.Errorf("sockguard: attaching the socket program to %s: %w", cg, err)
	}
	if err := prog.Pin(pinned); err != nil {
		return fmt.Errorf("sockguard: %w", err)
	}
	return nil
}

// retireOthers detaches every govirt socket-operations program from the
// cgroup but the one pinned in keep (older versions of this program, and
// any whose pins were lost with the BPF filesystem), and unpins the
// objects of other versions: one program only may put a socket in a map,
// and a socket put in a map nobody can arm would never leave its login.
func retireOthers(parent, keep, cg string) {
	current := ebpf.ProgramID(0)
	if prog, err := ebpf.LoadPinnedProgram(filepath.Join(parent, keep, "sockops"), nil); err == nil {
		if info, err := prog.Info(); err == nil {
			current, _ = info.ID()
		}
		prog.Close()
	}
	f, err := os.Open(cg)
	if err != nil {
		return
	}
	defer f.Close()
	if q, err := link.QueryPrograms(link.QueryOptions{Target: int(f.Fd()), Attach: ebpf.AttachCGroupSockOps}); err == nil {
		for _, ap := range q.Programs {
			if ap.ID == current {
				continue
			}
			prog, err := ebpf.NewProgramFromID(ap.ID)
			if err != nil {
				continue
			}
			if info, err := prog.Info(); err == nil && info.Name == "govirt_sockops" {
				_ = link.RawDetachProgram(link.RawDetachProgramOptions{Target: int(f.Fd()), Program: prog,
					Attach: ebpf.AttachCGroupSockOps})
			}
			prog.Close()
		}
	}
	entries, _ := os.ReadDir(parent)
	for _, e := range entries {
		if e.Name() != keep && strings.HasPrefix(e.Name(), "iscsi-guard-") {
			_ = os.RemoveAll(filepath.Join(parent, e.Name()))
		}
	}
}

// Close closes this process's handles; the kernel objects stay.
func (h *Host) Close() error {
	for _, m := range []*ebpf.Map{h.socks, h.conns, h.policies, h.sarules, h.counters} {
		if m != nil {
			m.Close()
		}
	}
	return nil
}

// Guard puts port under pol (or changes its policy): connections
// established to port from now on are followed, and the next command of
// every followed connection obeys pol.
func (h *Host) Guard(port uint16, pol *scsipolicy.Policy) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	key := uint32(port)
	var old policyVal
	exists := h.policies.Lookup(key, &old) == nil
	if !exists {
		if err := h.counters.Put(key, counters{}); err != nil {
			return fmt.Errorf("sockguard: %w", err)
		}
	}
	t := pol.Table()
	nv := policyVal{Gen: old.Gen + 1}
	hasSA := map[byte]bool{}
	for op, allow := range t.SA {
		hasSA[op.Code] = true
		if err := h.sarules.Put(saKey{Gen: nv.Gen, FPort: port, Code: op.Code, SA: op.ServiceAction}, b2u(allow)); err != nil {
			return fmt.Errorf("sockguard: %w", err)
		}
	}
	for code, allow := range t.Ops {
		nv.Ops[code] = b2u(allow)
		if hasSA[byte(code)] {
			nv.Ops[code] |= uint8(scsipolicy.SAField(byte(code))) << 1
		}
	}
	// The new rules are in before the policy that refers to them, and the
	// old ones go after it: a command sees one policy or the other.
	if err := h.policies.Put(key, nv); err != nil {
		return fmt.Errorf("sockguard: %w", err)
	}
	return h.deleteRules(func(k saKey) bool { return k.FPort == port && k.Gen != nv.Gen })
}

func b2u(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

func (h *Host) deleteRules(match func(saKey) bool) error {
	var k saKey
	var v uint8
	var gone []saKey
	it := h.sarules.Iterate()
	for it.Next(&k, &v) {
		if match(k) {
			gone = append(gone, k)
		}
	}
	for _, k := range gone {
		_ = h.sarules.Delete(k)
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("sockguard: %w", err)
	}
	return nil
}

// Unguard forgets port: connections to it are no longer put in the
// kernel guard, and every write on one already there is refused.
func (h *Host) Unguard(port uint16) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	key := uint32(port)
	if err := h.policies.Delete(key); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("sockguard: %w", err)
	}
	_ = h.counters.Delete(key)
	var ck connKey
	var cs connState
	var gone []connKey
	it := h.conns.Iterate()
	for it.Next(&ck, &cs) {
		if ck.FPort == port {
			gone = append(gone, ck)
		}
	}
	for _, k := range gone {
		_ = h.conns.Delete(k)
	}
	return h.deleteRules(func(k saKey) bool { return k.FPort == port })
}

// Arm lets the connection from initiator to port leave its login: its PDUs
// are framed with d from now on. It fails with ErrNotGuarded when the
// kernel does not follow the connection.
func (h *Host) Arm(initiator netip.AddrPort, port uint16, d pdu.Digests) error {
	k := connKey{Addr: initiator.Addr().As16(), LPort: initiator.Port(), FPort: port}
	var cookie uint64
	if err := h.socks.Lookup(k, &cookie); err != nil {
		return fmt.Errorf("%w (%v to port %d: %v)", ErrNotGuarded, initiator, port, err)
	}
	// The initiator is waiting for the target's final Login Response
	// (held until this returns): nothing runs the program on this
	// connection while its state is read and written back.
	var st connState
	if err := h.conns.Lookup(k, &st); err != nil {
		return fmt.Errorf("%w (%v to port %d: no state: %v)", ErrNotGuarded, initiator, port, err)
	}
	st.HeaderDigest, st.DataDigest, st.Armed = b2u(d.Header), b2u(d.Data), 1
	if err := h.conns.Update(k, st, ebpf.UpdateExist); err != nil {
		return fmt.Errorf("sockguard: %w", err)
	}
	return nil
}

// Stats reads what the kernel decided on port's connections (Connections
// stays zero: the user-space guard counts those).
func (h *Host) Stats(port uint16) (scsipolicy.Stats, error) {
	var c counters
	if err := h.counters.Lookup(uint32(port), &c); err != nil {
		return scsipolicy.Stats{}, fmt.Errorf("sockguard: %w", err)
	}
	s := scsipolicy.Stats{Commands: c.Commands, Refused: c.Refused}
	if c.Refused > 0 {
		s.LastRefused, _ = scsipolicy.OpOf(c.LastRefusedCDB[:])
	}
	return s, nil
}

// mountBPFFS mounts a BPF filesystem at bpffs unless one is there.
func mountBPFFS() error {
	var st unix.Statfs_t
	if err := unix.Statfs(bpffs, &st); err == nil && st.Type == unix.BPF_FS_MAGIC {
		return nil
	}
	if err := unix.Mount("bpf", bpffs, "bpf", 0, "mode=0700"); err != nil {
		return fmt.Errorf("sockguard: mounting a BPF filesystem on %s: %w", bpffs, err)
	}
	return nil
}

// cgroup2Root is where the cgroup v2 hierarchy is mounted.
func cgroup2Root() (string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", fmt.Errorf("sockguard: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// ... mount-point ... - fstype source options
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		fields, after := strings.Fields(pre), strings.Fields(post)
		if ok && len(fields) >= 5 && len(after) > 0 && after[0] == "cgroup2" && fields[3] == "/" {
			return fields[4], nil
		}
	}
	return "", errors.New("sockguard: no cgroup v2 hierarchy is mounted")
}
