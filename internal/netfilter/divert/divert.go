// Package divert installs the iptables rules that put the SCSI guard inline
// on one pass-through LUN's iSCSI connection without a user-space proxy:
// QEMU connects to the target's address on a per-disk front port, a DNAT
// rule sends that to the real portal, and a queue rule hands every segment
// QEMU sends that carries payload (or is a SYN) to an NFQUEUE the guard
// reads. The target's replies and QEMU's pure ACKs stay in the kernel.
//
// The rules live in chains of their own (GOVIRT-SCSI-Q in mangle,
// GOVIRT-SCSI-NAT in nat) that OUTPUT jumps to first, plus an MSS clamp in
// GOVIRT-SCSI-MSS (mangle PREROUTING) that keeps the initiator's segments
// small enough for NFQUEUE to copy whole. The queue rule matches
// in mangle OUTPUT, before nat OUTPUT rewrites the destination, so it needs
// no conntrack state. It runs the iptables command (nft backend, which
// handles NFQUEUE and xt bpf through its xtables compatibility here);
// ip6tables for IPv6 targets.
//
// Add and Delete of different Diverts may run concurrently (for several
// LUNs): iptables -w and nftables transactions serialize the changes; two
// Adds racing to create a chain may leave a second jump to it, which is
// harmless. Jumps and chains are never removed. Add and Delete of the same
// Divert must not overlap: Delete could remove the queue rule between
// Add's queue and DNAT rules and leave the DNAT rule unguarded.
package divert

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
)

// Divert is one pass-through LUN's path: QEMU connects to Target's address on FrontPort; the kernel
// rewrites that to Target (DNAT) and queues to Queue every packet of those connections, in the
// initiator-to-target direction, that carries TCP payload or is a SYN. Nothing else is queued.
type Divert struct {
	Target    netip.AddrPort
	FrontPort uint16
	Queue     uint16
	// QueueUntilLogin stops queueing the initiator's segments of a
	// connection once its login is marked done (MarkLoginDone), for a
	// guard whose kernel half enforces the policy on the initiator's
	// socket from then on (internal/iscsi/sockguard). List does not
	// report it.
	QueueUntilLogin bool
}

// conntrackAcct turns on conntrack's per-connection byte counters (for
// this network namespace), which connbytes reads.
const conntrackAcct = "/proc/sys/net/netfilter/nf_conntrack_acct"

// Add installs d. It is idempotent. The queue rule goes in before the DNAT
// rule, so there is never a moment when the front port reaches the target
// unqueued; and with no reader on the queue the kernel drops the packets.
// A DNAT rule of the same front port and queue to another target is
// replaced. A front port is for one queue: two Diverts with the same
// address and front port but different queues conflict (the first queue
// rule wins).
func Add(ctx context.Context, d Divert) error {
	if err := d.validate(); err != nil {
		return err
	}
	rules, err := d.rules()
	if err != nil {
		return err
	}
	if err := os.WriteFile(conntrackAcct, []byte("1"), 0o644); err != nil {
		return fmt.Errorf("divert: turn on conntrack byte counters (the login rule needs them): %w", err)
	}
	ipt := iptables{bin: d.binary()}
	for _, r := range rules {
		if err := ipt.ensureChain(ctx, r.table, r.chain, r.hook); err != nil {
			return err
		}
		if err := ipt.ensureRule(ctx, r.table, r.chain, r.spec, r.first); err != nil {
			return err
		}
	}
	return ipt.dropStaleNAT(ctx, d)
}

// dropStaleNAT removes the DNAT rules of d's front port and queue to
// another target (the LUN moved): being earlier in the chain, they would
// win over d's.
func (t iptables) dropStaleNAT(ctx context.Context, d Divert) error {
	out, err := t.listChain(ctx, natTable, natChain)
	if err != nil {
		return err
	}
	rules, err := parseRules(out)
	if err != nil {
		return fmt.Errorf("divert: %s -t %s -S %s: %w", t.bin, natTable, natChain, err)
	}
	for _, r := range rules {
		if r.of(d) && r.to != netip.AddrPortFrom(d.addr(), d.Target.Port()) {
			if _, err := t.run(ctx, append([]string{"-t", natTable, "-D", natChain}, r.spec...)...); err != nil && !errors.Is(err, errNotFound) {
				return err
			}
		}
	}
	return nil
}

// Delete removes d: the DNAT rule first, so the front port stops reaching
// the target before its packets stop being queued; then the conntrack
// entries of the connections made through the front port, so that open
// ones are reset rather than flowing on unguarded; then the queue, login
// and MSS rules. It removes the rules of d's address, front port and queue as they
// are listed, so a DNAT rule to another target port, or rules an older
// version wrote differently, go too. Deleting a divert that is not
// installed (or half installed) is not an error.
func Delete(ctx context.Context, d Divert) error {
	if !d.Target.Addr().IsValid() {
		return fmt.Errorf("divert: target %v is not an address", d.Target)
	}
	chains, err := d.rules()
	if err != nil {
		return err
	}
	ipt := iptables{bin: d.binary()}
	for i := len(chains) - 1; i >= 0; i-- {
		c := chains[i]
		out, err := ipt.listChain(ctx, c.table, c.chain)
		if err != nil {
			return err
		}
		rules, err := parseRules(out)
		if err != nil {
			return fmt.Errorf("divert: %s -t %s -S %s: %w", ipt.bin, c.table, c.chain, err)
		}
		for _, r := range rules {
			if !r.of(d) {
				continue
			}
			_, err := ipt.run(ctx, append([]string{"-t", c.table, "-D", c.chain}, r.spec...)...)
			if err != nil && !errors.Is(err, errNotFound) { // errNotFound: a concurrent Delete
				return err
			}
		}
		if c.chain == natChain {
			// Open connections keep their DNAT in conntrack: cut them
			// while their segments are still queued.
			if err := flushConnections(d.addr(), d.FrontPort); err != nil {
				return err
			}
		}
	}
	return nil
}

// List returns the installed diverts, IPv4 and IPv6, so that a restarted
// agent can reconcile them with the LUNs it serves.
func List(ctx context.Context) ([]Divert, error) {
	var all []Divert
	for _, bin := range []string{"iptables", "ip6tables"} {
		ipt := iptables{bin: bin}
		var qrules, nrules []listedRule
		for _, c := range []struct {
			table, chain string
			into         *[]listedRule
		}{{mssTable, mssChain, &qrules}, {loginTable, loginChain, &qrules}, {queueTable, queueChain, &qrules}, {natTable, natChain, &nrules}} {
			out, err := ipt.listChain(ctx, c.table, c.chain)
			if err != nil {
				return nil, err
			}
			rules, err := parseRules(out)
			if err != nil {
				return nil, fmt.Errorf("divert: %s -t %s -S %s: %w", bin, c.table, c.chain, err)
			}
			*c.into = append(*c.into, rules...)
		}
		all = append(all, merge(qrules, nrules)...)
	}
	return all, nil
}

// iptables runs one iptables binary, waiting for the xtables lock (-w).
type iptables struct{ bin string }

// errNotFound is what iptables's exit status 1 means for -C, -D and -S:
// no such rule or chain.
var errNotFound = errors.New("no such rule or chain")

func (t iptables) run(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, t.bin, append([]string{"-w"}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err == nil {
		return stdout.String(), nil
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.ExitCode() == 1 {
		err = errNotFound
	}
	return "", fmt.Errorf("divert: %s %s: %w: %s", t.bin, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
}

// ensureChain creates chain in table if needed and makes hook jump to it
// first.
func (t iptables) ensureChain(ctx context.Context, table, chain, hook string) error {
	if _, err := t.run(ctx, "-t", table, "-S", chain); errors.Is(err, errNotFound) {
		if _, err := t.run(ctx, "-t", table, "-N", chain); err != nil {
			// Another Add may have created it meanwhile.
			if _, err2 := t.run(ctx, "-t", table, "-S", chain); err2 != nil {
				return err
			}
		}
	} else if err != nil {
		return err
	}
	jump := []string{"-t", table, "-C", hook, "-j", chain}
	if _, err := t.run(ctx, jump...); errors.Is(err, errNotFound) {
		_, err = t.run(ctx, "-t", table, "-I", hook, "1", "-j", chain)
		return err
	} else {
		return err
	}
}

// ensureRule appends rule to chain (or puts it first) unless it is there.
func (t iptables) ensureRule(ctx context.Context, table, chain string, rule []string, first bool) error {
	_, err := t.run(ctx, append([]string{"-t", table, "-C", chain}, rule...)...)
	if errors.Is(err, errNotFound) {
		where := []string{"-A", chain}
		if first {
			where = []string{"-I", chain, "1"}
		}
		_, err = t.run(ctx, append(append([]string{"-t", table}, where...), rule...)...)
	}
	return err
}

// listChain prints chain's rules; a missing chain has none.
func (t iptables) listChain(ctx context.Context, table, chain string) (string, error) {
	out, err := t.run(ctx, "-t", table, "-S", chain)
	if errors.Is(err, errNotFound) {
		return "", nil
	}
	return out, err
}
