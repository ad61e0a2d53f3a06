package divert

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/net/bpf"
)

// seg builds the headers of an IP packet carrying TCP whose IP length
// field claims payload bytes after them; the payload itself is left out
// unless given, as the program never reads it.
func seg(v6 bool, flags byte, tcpOptions int, payload int) []byte {
	thl := 20 + tcpOptions
	var b []byte
	if !v6 {
		b = make([]byte, 20+thl)
		b[0] = 0x45
		binary.BigEndian.PutUint16(b[2:4], uint16(20+thl+payload))
		b[9] = 6
	} else {
		b = make([]byte, 40+thl)
		b[0] = 0x60
		binary.BigEndian.PutUint16(b[4:6], uint16(thl+payload))
		b[6] = 6
	}
	t := b[len(b)-thl:]
	t[12] = byte(thl/4) << 4
	t[13] = flags
	return b
}

const (
	ack = 0x10
	syn = 0x02
	fin = 0x01
	rst = 0x04
	psh = 0x08
)

func TestMatchProgram(t *testing.T) {
	tests := []struct {
		name  string
		pkt   []byte
		match bool
	}{
		{"pure ACK", seg(false, ack, 0, 0), false},
		{"pure ACK with timestamps", seg(false, ack, 12, 0), false},
		{"pure ACK with SACK blocks", seg(false, ack, 40, 0), false},
		{"FIN without data", seg(false, fin|ack, 12, 0), false},
		{"RST", seg(false, rst, 0, 0), false},
		{"SYN", seg(false, syn, 20, 0), true},
		{"SYN-ACK", seg(false, syn|ack, 20, 0), true},
		{"1 byte of payload", seg(false, ack|psh, 12, 1), true},
		{"1 byte, no options", seg(false, ack, 0, 1), true},
		{"iSCSI BHS", seg(false, ack|psh, 12, 48), true},
		{"64 KiB segment", seg(false, ack, 12, 65000), true},
		{"GSO beyond 64 KiB (total length 0)", func() []byte {
			b := seg(false, ack, 12, 0)
			binary.BigEndian.PutUint16(b[2:4], 0)
			return b
		}(), true},
		{"IPv4 options", func() []byte {
			b := seg(false, ack, 0, 0)
			// IHL 6: the TCP header moves 4 bytes on; ACK only, no payload.
			b = append(b[:20:20], append([]byte{1, 1, 1, 1}, b[20:]...)...)
			b[0] = 0x46
			binary.BigEndian.PutUint16(b[2:4], 44)
			return b
		}(), false},
		{"IPv6 pure ACK", seg(true, ack, 12, 0), false},
		{"IPv6 SYN", seg(true, syn, 20, 0), true},
		{"IPv6 payload", seg(true, ack, 12, 1), true},
		{"IPv6 extension header", func() []byte {
			b := seg(true, ack, 0, 0)
			b[6] = 0
			return b
		}(), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			version := 4
			if tt.pkt[0]>>4 == 6 {
				version = 6
			}
			vm, err := bpf.NewVM(matchProgram(version))
			if err != nil {
				t.Fatal(err)
			}
			n, err := vm.Run(tt.pkt)
			if err != nil {
				t.Fatal(err)
			}
			if got := n != 0; got != tt.match {
				t.Fatalf("match = %v, want %v", got, tt.match)
			}
		})
	}
}

func TestBytecode(t *testing.T) {
	for _, v := range []int{4, 6} {
		code, err := bytecode(v)
		if err != nil {
			t.Fatal(err)
		}
		parts := strings.Split(code, ",")
		if want := fmt.Sprint(len(matchProgram(v))); parts[0] != want || len(parts) != len(matchProgram(v))+1 {
			t.Fatalf("IPv%d bytecode %q: want %s instructions", v, code, want)
		}
		// Disassembling the text gives the program back.
		var raw []bpf.RawInstruction
		for _, p := range parts[1:] {
			var r bpf.RawInstruction
			if _, err := fmt.Sscanf(p, "%d %d %d %d", &r.Op, &r.Jt, &r.Jf, &r.K); err != nil {
				t.Fatalf("instruction %q: %v", p, err)
			}
			raw = append(raw, r)
		}
		back, ok := bpf.Disassemble(raw)
		if !ok {
			t.Fatalf("IPv%d bytecode %q does not disassemble", v, code)
		}
		want, _ := bpf.Assemble(matchProgram(v))
		again, _ := bpf.Assemble(back)
		if diff := cmp.Diff(want, again); diff != "" {
			t.Fatalf("IPv%d round trip (-want +got):\n%s", v, diff)
		}
	}
	code, _ := bytecode(4)
	// The exact text iptables -S printed for this program (Linux 6.18, iptables 1.8.9 nft).
	if want := "13,177 0 0 0,80 0 0 13,69 8 0 2,80 0 0 12,116 0 0 2,84 0 0 60,12 0 0 0,7 0 0 0,40 0 0 2,21 1 0 0,45 0 1 0,6 0 0 1,6 0 0 0"; code != want {
		t.Fatalf("IPv4 bytecode\n%s\nwant\n%s", code, want)
	}
}

var (
	d4 = Divert{Target: netip.MustParseAddrPort("192.0.2.10:3260"), FrontPort: 40001, Queue: 7}
	d6 = Divert{Target: netip.MustParseAddrPort("[2001:db8::10]:3260"), FrontPort: 40002, Queue: 8}
)

func TestRules(t *testing.T) {
	code4, _ := bytecode(4)
	code6, _ := bytecode(6)
	tests := []struct {
		d    Divert
		bin  string
		want []chainRule
	}{
		{d4, "iptables", []chainRule{
			{"mangle", "GOVIRT-SCSI-MSS", "PREROUTING", strings.Fields("-s 192.0.2.10/32 -p tcp -m tcp --tcp-flags SYN,ACK SYN,ACK -m conntrack --ctorigdst 192.0.2.10 --ctorigdstport 40001 -m comment --comment govirt-scsi:7 -j TCPMSS --set-mss 65000"), false},
			{"mangle", "GOVIRT-SCSI-LOGIN", "INPUT", strings.Fields("-p tcp -m conntrack --ctorigdst 192.0.2.10 --ctorigdstport 40001 --ctdir REPLY -m connmark ! --mark 0x400000/0x400000 -m length --length 0:65531 -m connbytes --connbytes 0:65535 --connbytes-dir reply --connbytes-mode bytes -m comment --comment govirt-scsi:7 -j NFQUEUE --queue-num 7"), false},
			{"mangle", "GOVIRT-SCSI-Q", "OUTPUT", append(strings.Fields("-d 192.0.2.10/32 -p tcp -m tcp --dport 40001 -m bpf --bytecode"), code4,
				"-m", "comment", "--comment", "govirt-scsi:7", "-j", "NFQUEUE", "--queue-num", "7"), false},
			{"nat", "GOVIRT-SCSI-NAT", "OUTPUT", strings.Fields("-d 192.0.2.10/32 -p tcp -m tcp --dport 40001 -m comment --comment govirt-scsi:7 -j DNAT --to-destination 192.0.2.10:3260"), false},
		}},
		{d6, "ip6tables", []chainRule{
			{"mangle", "GOVIRT-SCSI-MSS", "PREROUTING", strings.Fields("-s 2001:db8::10/128 -p tcp -m tcp --tcp-flags SYN,ACK SYN,ACK -m conntrack --ctorigdst 2001:db8::10 --ctorigdstport 40002 -m comment --comment govirt-scsi:8 -j TCPMSS --set-mss 65000"), false},
			{"mangle", "GOVIRT-SCSI-LOGIN", "INPUT", strings.Fields("-p tcp -m conntrack --ctorigdst 2001:db8::10 --ctorigdstport 40002 --ctdir REPLY -m connmark ! --mark 0x400000/0x400000 -m length --length 0:65531 -m connbytes --connbytes 0:65535 --connbytes-dir reply --connbytes-mode bytes -m comment --comment govirt-scsi:8 -j NFQUEUE --queue-num 8"), false},
			{"mangle", "GOVIRT-SCSI-Q", "OUTPUT", append(strings.Fields("-d 2001:db8::10/128 -p tcp -m tcp --dport 40002 -m bpf --bytecode"), code6,
				"-m", "comment", "--comment", "govirt-scsi:8", "-j", "NFQUEUE", "--queue-num", "8"), false},
			{"nat", "GOVIRT-SCSI-NAT", "OUTPUT", strings.Fields("-d 2001:db8::10/128 -p tcp -m tcp --dport 40002 -m comment --comment govirt-scsi:8 -j DNAT --to-destination [2001:db8::10]:3260"), false},
		}},
	}
	for _, tt := range tests {
		got, err := tt.d.rules()
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(chainRule{})); diff != "" {
			t.Errorf("%+v rules (-want +got):\n%s", tt.d, diff)
		}
		if tt.d.binary() != tt.bin {
			t.Errorf("%+v binary %s, want %s", tt.d, tt.d.binary(), tt.bin)
		}
	}
	// With QueueUntilLogin only the queue rule changes: it stops at the
	// login-done mark.
	untilLogin := d4
	untilLogin.QueueUntilLogin = true
	got, err := untilLogin.rules()
	if err != nil {
		t.Fatal(err)
	}
	wantQ := append(strings.Fields("-d 192.0.2.10/32 -p tcp -m tcp --dport 40001 -m bpf --bytecode"), code4,
		"-m", "connmark", "!", "--mark", "0x400000/0x400000", "-m", "comment", "--comment", "govirt-scsi:7", "-j", "NFQUEUE", "--queue-num", "7")
	if !cmp.Equal(got[2].spec, wantQ) || !cmp.Equal(got[0], tests[0].want[0], cmp.AllowUnexported(chainRule{})) ||
		!cmp.Equal(got[3], tests[0].want[3], cmp.AllowUnexported(chainRule{})) {
		t.Errorf("QueueUntilLogin rules %v", got)
	}
	// An IPv4-mapped IPv6 target is an IPv4 one.
	mapped := Divert{Target: netip.MustParseAddrPort("[::ffff:192.0.2.10]:3260"), FrontPort: 40001, Queue: 7}
	if got, _ := mapped.rules(); !cmp.Equal(got, tests[0].want, cmp.AllowUnexported(chainRule{})) || mapped.binary() != "iptables" {
		t.Errorf("IPv4-mapped target gives %v", got)
	}
}

func TestValidate(t *testing.T) {
	bad := []Divert{
		{},
		{Target: netip.MustParseAddrPort("192.0.2.1:0"), FrontPort: 1},
		{Target: netip.MustParseAddrPort("0.0.0.0:3260"), FrontPort: 1},
		{Target: netip.MustParseAddrPort("192.0.2.1:3260")},
		{Target: netip.MustParseAddrPort("[fe80::1%eth0]:3260"), FrontPort: 1},
	}
	for _, d := range bad {
		if err := d.validate(); err == nil {
			t.Errorf("validate(%+v) = nil", d)
		}
	}
	if err := d4.validate(); err != nil {
		t.Errorf("validate(%+v): %v", d4, err)
	}
}

func TestSplitArgs(t *testing.T) {
	tests := []struct {
		line string
		want []string
	}{
		{`-A X -d 1.2.3.4/32 -j ACCEPT`, []string{"-A", "X", "-d", "1.2.3.4/32", "-j", "ACCEPT"}},
		{`-m bpf --bytecode "2,6 0 0 1,6 0 0 0"  -m comment --comment "a b"`,
			[]string{"-m", "bpf", "--bytecode", "2,6 0 0 1,6 0 0 0", "-m", "comment", "--comment", "a b"}},
		{`--comment "say \"hi\"" x`, []string{"--comment", `say "hi"`, "x"}},
		{`--comment ""`, []string{"--comment", ""}},
	}
	for _, tt := range tests {
		got, err := splitArgs(tt.line)
		if err != nil {
			t.Fatalf("%s: %v", tt.line, err)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.line, diff)
		}
	}
	if _, err := splitArgs(`--comment "open`); err == nil {
		t.Error("unterminated quote accepted")
	}
}

// Output of iptables -S as iptables 1.8.9 (nf_tables) prints it.
const (
	natOut = `-N GOVIRT-SCSI-NAT
-A GOVIRT-SCSI-NAT -d 127.0.0.1/32 -p tcp -m tcp --dport 41791 -m comment --comment "govirt-scsi:24917" -j DNAT --to-destination 127.0.0.1:37353
-A GOVIRT-SCSI-NAT -d 192.0.2.10/32 -p tcp -m tcp --dport 40001 -m comment --comment "someone else" -j DNAT --to-destination 192.0.2.10:1
`
	queueOut = `-N GOVIRT-SCSI-Q
-A GOVIRT-SCSI-Q -d 127.0.0.1/32 -p tcp -m tcp --dport 41791 -m bpf --bytecode "13,177 0 0 0,80 0 0 13,69 8 0 2,80 0 0 12,116 0 0 2,84 0 0 60,12 0 0 0,7 0 0 0,40 0 0 2,21 1 0 0,45 0 1 0,6 0 0 1,6 0 0 0" -m comment --comment "govirt-scsi:24917" -j NFQUEUE --queue-num 24917
-A GOVIRT-SCSI-Q -d 127.0.0.1/32 -p tcp -m tcp --dport 41000 -m bpf --bytecode "1,6 0 0 1" -m comment --comment "govirt-scsi:3" -j NFQUEUE --queue-num 3
`
	mssOut = `-N GOVIRT-SCSI-MSS
-A GOVIRT-SCSI-MSS -s 127.0.0.1/32 -p tcp -m tcp --tcp-flags SYN,ACK SYN,ACK -m conntrack --ctorigdst 127.0.0.1 --ctorigdstport 41791 -m comment --comment "govirt-scsi:24917" -j TCPMSS --set-mss 32000
-A GOVIRT-SCSI-MSS -s 127.0.0.1/32 -p tcp -m tcp --tcp-flags SYN,ACK SYN,ACK -m conntrack --ctorigdst 127.0.0.1 --ctorigdstport 41500 -m comment --comment "govirt-scsi:4" -j TCPMSS --set-mss 32000
`
	nat6Out = `-N GOVIRT-SCSI-NAT
-A GOVIRT-SCSI-NAT -d ::1/128 -p tcp -m tcp --dport 40000 -m comment --comment "govirt-scsi:7" -j DNAT --to-destination [::1]:3260
`
)

func TestParseRulesAndMerge(t *testing.T) {
	nat, err := parseRules(natOut)
	if err != nil {
		t.Fatal(err)
	}
	q, err := parseRules(queueOut + mssOut)
	if err != nil {
		t.Fatal(err)
	}
	got := merge(q, nat)
	want := []Divert{
		{Target: netip.MustParseAddrPort("127.0.0.1:37353"), FrontPort: 41791, Queue: 24917},
		// Queue rule without DNAT: listed with port 0, for Delete.
		{Target: netip.MustParseAddrPort("127.0.0.1:0"), FrontPort: 41000, Queue: 3},
		// So is an MSS rule alone.
		{Target: netip.MustParseAddrPort("127.0.0.1:0"), FrontPort: 41500, Queue: 4},
	}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.AddrPort) bool { return a == b })); diff != "" {
		t.Fatalf("merge (-want +got):\n%s", diff)
	}

	nat6, err := parseRules(nat6Out)
	if err != nil {
		t.Fatal(err)
	}
	got6 := merge(nil, nat6)
	if want := (Divert{Target: netip.MustParseAddrPort("[::1]:3260"), FrontPort: 40000, Queue: 7}); len(got6) != 1 || got6[0] != want {
		t.Fatalf("IPv6: %+v, want %+v", got6, want)
	}

	// What Add installs, List reads back.
	for _, d := range []Divert{d4, d6} {
		rules, _ := d.rules()
		lines := map[string]string{}
		for _, r := range rules {
			lines[r.chain] += "-A " + r.chain + " " + quoteArgs(r.spec) + "\n"
		}
		qr, err := parseRules(lines[mssChain] + lines[queueChain])
		if err != nil {
			t.Fatal(err)
		}
		nr, err := parseRules(lines[natChain])
		if err != nil {
			t.Fatal(err)
		}
		if got := merge(qr, nr); len(got) != 1 || got[0] != d {
			t.Errorf("round trip of %+v gives %+v", d, got)
		}
	}
}

// quoteArgs prints args the way iptables -S does (it quotes more, which
// splitArgs takes the same).
func quoteArgs(args []string) string {
	var out []string
	for _, a := range args {
		if strings.Contains(a, " ") {
			a = `"` + a + `"`
		}
		out = append(out, a)
	}
	return strings.Join(out, " ")
}

func TestListedRuleSpecAndOwner(t *testing.T) {
	rules, err := parseRules(natOut)
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Fields("-d 127.0.0.1/32 -p tcp -m tcp --dport 41791 -m comment --comment govirt-scsi:24917 -j DNAT --to-destination 127.0.0.1:37353")
	if diff := cmp.Diff(want, rules[0].spec); diff != "" {
		t.Fatalf("spec (-want +got):\n%s", diff)
	}
	lo := netip.MustParseAddr("127.0.0.1")
	for _, tt := range []struct {
		d    Divert
		want bool
	}{
		{Divert{Target: netip.AddrPortFrom(lo, 37353), FrontPort: 41791, Queue: 24917}, true},
		{Divert{Target: netip.AddrPortFrom(lo, 1), FrontPort: 41791, Queue: 24917}, true}, // another target port
		{Divert{Target: netip.AddrPortFrom(lo, 37353), FrontPort: 41792, Queue: 24917}, false},
		{Divert{Target: netip.AddrPortFrom(lo, 37353), FrontPort: 41791, Queue: 1}, false},
		{Divert{Target: netip.MustParseAddrPort("[::1]:37353"), FrontPort: 41791, Queue: 24917}, false},
	} {
		if got := rules[0].of(tt.d); got != tt.want {
			t.Errorf("of(%+v) = %v, want %v", tt.d, got, tt.want)
		}
	}
}

func TestParseRulesErrors(t *testing.T) {
	for _, out := range []string{
		`-A C -d 1.2.3.4/32 --dport 1 -m comment --comment govirt-scsi:x`,
		`-A C -d 1.2.3.4/32 --dport 1 -m comment --comment govirt-scsi:70000`,
		`-A C -d nowhere --dport 1 -m comment --comment govirt-scsi:1`,
		`-A C -d 1.2.3.4/32 --dport 99999 -m comment --comment govirt-scsi:1`,
		`-A C -d 1.2.3.4/32 --dport 1 -m comment --comment govirt-scsi:1 -j DNAT --to-destination 1.2.3.4`,
		`-A C -m comment --comment "govirt-scsi:1`,
	} {
		if _, err := parseRules(out); err == nil {
			t.Errorf("parseRules(%q) succeeded", out)
		}
	}
}
