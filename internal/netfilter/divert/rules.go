package divert

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Chains of their own keep govirt's rules apart from everyone else's; the
// built-in chains jump to them first.
const (
	queueTable    = "mangle"
	queueChain    = "GOVIRT-SCSI-Q"
	natTable      = "nat"
	natChain      = "GOVIRT-SCSI-NAT"
	mssTable      = "mangle"
	mssChain      = "GOVIRT-SCSI-MSS"
	loginTable    = "mangle"
	loginChain    = "GOVIRT-SCSI-LOGIN"
	commentPrefix = "govirt-scsi:"

	// clampMSS keeps every segment the initiator sends within what NFQUEUE
	// copies whole (65531 bytes from the IP header, NFQNL_MAX_COPY_RANGE):
	// on loopback (MTU 65536) TCP's MSS is 65483, a segment 65535 bytes.
	// GSO packets are two segments and more (tcp_min_tso_segs) and on
	// loopback cannot be copied whole at any useful MSS, so the guard has
	// the kernel segment them there (nfqueue Options.Segment). On an
	// Ethernet path the MSS is far lower, GSO packets fit (65,212 bytes at
	// MTU 1500) and this rule changes nothing. The target's segments are
	// not clamped, nor clamped lower: the Data-In of a read never goes
	// through the queue, and an MSS of 32000 (and GSO packets whole)
	// measured about a fifth slower reads through the guard on loopback.
	clampMSS = 65000

	// loginBytes is how much of what the target sends on a diverted
	// connection goes to the queue: its Login Responses, which say how the
	// initiator's PDUs are framed (digests) and whether the initiator is
	// sent to another portal. Logins take a few KiB.
	loginBytes = 65535
)

// chainRule is one rule of a divert and where it goes.
type chainRule struct {
	table, chain string
	hook         string // the built-in chain that jumps to chain
	spec         []string
	first        bool // goes at the head of the chain, before rules already there
}

// rules are d's rules in the order Add installs them: the MSS clamp, the
// queue rules, the DNAT rule. Delete removes them in the reverse order.
func (d Divert) rules() ([]chainRule, error) {
	q, err := d.queueRule()
	if err != nil {
		return nil, err
	}
	return []chainRule{
		{mssTable, mssChain, "PREROUTING", d.mssRule(), false},
		{loginTable, loginChain, "INPUT", d.loginRule(), false},
		{queueTable, queueChain, "OUTPUT", q, false},
		{natTable, natChain, "OUTPUT", d.natRule(), false},
	}, nil
}

// validate refuses a Divert that cannot be installed.
func (d Divert) validate() error {
	switch {
	case !d.Target.IsValid() || d.Target.Addr().IsUnspecified():
		return fmt.Errorf("divert: target %v is not an address and port", d.Target)
	case d.Target.Port() == 0:
		return fmt.Errorf("divert: target %v has no port", d.Target)
	case d.FrontPort == 0:
		return errors.New("divert: front port 0")
	case d.Target.Addr().Zone() != "":
		return fmt.Errorf("divert: target %v has a zone, which iptables cannot match", d.Target)
	}
	return nil
}

// addr is the target address as iptables prints it: unmapped, with a prefix length.
func (d Divert) addr() netip.Addr { return d.Target.Addr().Unmap() }

func (d Divert) ipVersion() int {
	if d.addr().Is4() {
		return 4
	}
	return 6
}

// binary is the iptables command for the target's family.
func (d Divert) binary() string {
	if d.ipVersion() == 4 {
		return "iptables"
	}
	return "ip6tables"
}

func (d Divert) comment() string { return commentPrefix + strconv.Itoa(int(d.Queue)) }

// match is what both rules of a divert select: TCP to the front port of the target's address.
func (d Divert) match() []string {
	return []string{"-d", netip.PrefixFrom(d.addr(), d.addr().BitLen()).String(),
		"-p", "tcp", "-m", "tcp", "--dport", strconv.Itoa(int(d.FrontPort))}
}

// queueRule is the mangle rule that queues the initiator's segments that
// carry payload or SYN. No --queue-bypass: without a reader the kernel
// drops them (fail closed).
func (d Divert) queueRule() ([]string, error) {
	code, err := bytecode(d.ipVersion())
	if err != nil {
		return nil, err
	}
	r := append(d.match(), "-m", "bpf", "--bytecode", code)
	if d.QueueUntilLogin {
		r = append(r, "-m", "connmark", "!", "--mark", loginDoneMatch)
	}
	r = append(r, "-m", "comment", "--comment", d.comment(), "-j", "NFQUEUE", "--queue-num", strconv.Itoa(int(d.Queue)))
	return r, nil
}

// mssRule lowers the MSS the target announces in its SYN-ACK on the
// diverted connections (conntrack knows them by their original destination,
// the front port), so that the initiator's segments fit in NFQUEUE's copy
// range. PREROUTING sees the SYN-ACK from a local target (through lo) and
// from a remote one alike. TCPMSS never raises an MSS.
func (d Divert) mssRule() []string {
	a := d.addr().String()
	return []string{"-s", netip.PrefixFrom(d.addr(), d.addr().BitLen()).String(), "-p", "tcp", "-m", "tcp",
		"--tcp-flags", "SYN,ACK", "SYN,ACK", "-m", "conntrack", "--ctorigdst", a,
		"--ctorigdstport", strconv.Itoa(int(d.FrontPort)), "-m", "comment", "--comment", d.comment(),
		"-j", "TCPMSS", "--set-mss", strconv.Itoa(clampMSS)}
}

// loginRule queues what the target sends on a diverted connection until
// the guard marks its login done (LoginDoneMark), and never more than the
// first loginBytes (conntrack knows the connection by its original
// destination, the front port; the reply's source may or may not be
// translated back yet at mangle INPUT, so no address or port of it is
// matched). connbytes needs conntrack's byte counters (Add turns them on).
func (d Divert) loginRule() []string {
	return []string{"-p", "tcp", "-m", "conntrack", "--ctorigdst", d.addr().String(),
		"--ctorigdstport", strconv.Itoa(int(d.FrontPort)), "--ctdir", "REPLY",
		"-m", "connmark", "!", "--mark", loginDoneMatch, "-m", "length", "--length", "0:" + strconv.Itoa(maxQueued),
		"-m", "connbytes", "--connbytes", "0:" + strconv.Itoa(loginBytes), "--connbytes-dir", "reply", "--connbytes-mode", "bytes",
		"-m", "comment", "--comment", d.comment(), "-j", "NFQUEUE", "--queue-num", strconv.Itoa(int(d.Queue))}
}

// maxQueued is the largest packet NFQUEUE copies whole
// (NFQNL_MAX_COPY_RANGE). The target's packets are not clamped (that would
// halve the size of every Data-In segment for the login's sake): one too
// big to copy is not queued, and since a login answer never is that big,
// the guard misses nothing it needs (if it did, it would stop the
// connection at the initiator's first command).
const maxQueued = 65531

// loginDoneMatch is LoginDoneMark as the connmark match writes it.
var loginDoneMatch = fmt.Sprintf("%#x/%#x", LoginDoneMark, LoginDoneMark)

// natRule is the nat rule that sends the front port to the real portal.
func (d Divert) natRule() []string {
	to := netip.AddrPortFrom(d.addr(), d.Target.Port()).String()
	return append(d.match(), "-m", "comment", "--comment", d.comment(), "-j", "DNAT", "--to-destination", to)
}

// SplitRule splits one line of `iptables -S` into the arguments that
// would make it again (quotes removed), for callers that act on a listed
// rule themselves, such as a test that deletes one.
func SplitRule(line string) ([]string, error) { return splitArgs(line) }

// splitArgs splits one line of `iptables -S` into words, honouring the
// double quotes around the bpf bytecode and comments.
func splitArgs(line string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord, quoted := false, false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == '"':
			quoted, inWord = !quoted, true
		case c == '\\' && quoted && i+1 < len(line):
			i++
			cur.WriteByte(line[i])
		case (c == ' ' || c == '\t') && !quoted:
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if quoted {
		return nil, fmt.Errorf("unterminated quote in %q", line)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// listedRule is what List and Delete need from one rule of govirt's chains.
type listedRule struct {
	dst   netip.Addr
	dport uint16
	queue uint16
	to    netip.AddrPort // the DNAT destination; invalid for the other rules
	spec  []string       // the rule as listed, after "-A <chain>": what -D takes
}

// of tells whether the rule belongs to d's front port and queue, whatever
// its DNAT destination, bytecode or MSS.
func (r listedRule) of(d Divert) bool {
	return r.dst == d.addr() && r.dport == d.FrontPort && r.queue == d.Queue
}

// parseRules reads the `iptables -S <chain>` output of one of govirt's
// chains; lines that are not govirt's divert rules are ignored.
func parseRules(out string) ([]listedRule, error) {
	var rules []listedRule
	for line := range strings.SplitSeq(out, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "-A ") {
			continue
		}
		words, err := splitArgs(line)
		if err != nil {
			return nil, err
		}
		r, ok, err := parseRule(words)
		if err != nil {
			return nil, fmt.Errorf("rule %q: %w", line, err)
		}
		if ok {
			rules = append(rules, r)
		}
	}
	return rules, nil
}

// parseRule reads one rule's words; ok is false for a rule without
// govirt's comment.
func parseRule(words []string) (r listedRule, ok bool, err error) {
	var comment, dst, dport, to string
	for i := 0; i+1 < len(words); i++ {
		switch words[i] {
		case "--comment":
			comment = words[i+1]
		case "-d", "--ctorigdst": // the MSS rule names the target by its original destination
			dst = words[i+1]
		case "--dport", "--ctorigdstport":
			dport = words[i+1]
		case "--to-destination":
			to = words[i+1]
		}
	}
	q, found := strings.CutPrefix(comment, commentPrefix)
	if !found {
		return r, false, nil
	}
	queue, err := strconv.ParseUint(q, 10, 16)
	if err != nil {
		return r, false, fmt.Errorf("queue number in comment %q: %w", comment, err)
	}
	addr, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimSuffix(dst, "/32"), "/128"))
	if err != nil {
		return r, false, fmt.Errorf("destination: %w", err)
	}
	port, err := strconv.ParseUint(dport, 10, 16)
	if err != nil {
		return r, false, fmt.Errorf("destination port: %w", err)
	}
	r = listedRule{dst: addr, dport: uint16(port), queue: uint16(queue), spec: words[min(2, len(words)):]}
	if to != "" {
		if r.to, err = netip.ParseAddrPort(to); err != nil {
			return r, false, fmt.Errorf("DNAT destination: %w", err)
		}
	}
	return r, true, nil
}

// merge pairs the MSS, login and queue rules with the DNAT rules into Diverts. An
// MSS, login or queue rule without its DNAT rule (a divert half added or half
// deleted) is listed with target port 0: its front port is blocked until
// Delete or Add completes it. A DNAT rule without the others is listed as
// it is: Add completes it.
func merge(queueRules, natRules []listedRule) []Divert {
	type key struct {
		dst          netip.Addr
		dport, queue uint16
	}
	var out []Divert
	seen := map[key]bool{}
	for _, r := range natRules {
		k := key{r.dst, r.dport, r.queue}
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, Divert{Target: netip.AddrPortFrom(r.to.Addr(), r.to.Port()), FrontPort: r.dport, Queue: r.queue})
	}
	for _, r := range queueRules {
		k := key{r.dst, r.dport, r.queue}
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, Divert{Target: netip.AddrPortFrom(r.dst, 0), FrontPort: r.dport, Queue: r.queue})
	}
	return out
}
