package divert

import (
	"net/netip"
	"testing"
)

func TestQueuedReadsTheDump(t *testing.T) {
	d := Divert{Target: netip.MustParseAddrPort("127.0.0.1:3260"), FrontPort: 20001, Queue: 20001}
	jump := "-A OUTPUT -j GOVIRT-SCSI-Q\n"
	rule := `-A GOVIRT-SCSI-Q -d 127.0.0.1/32 -p tcp -m tcp --dport 20001 -m bpf --bytecode "13,177 0 0 0" -m comment --comment "govirt-scsi:20001" -j NFQUEUE --queue-num 20001` + "\n"
	other := `-A GOVIRT-SCSI-Q -d 127.0.0.1/32 -p tcp -m tcp --dport 20002 -m comment --comment "govirt-scsi:20002" -j NFQUEUE --queue-num 20002` + "\n"
	for _, c := range []struct {
		name, dump string
		want       bool
	}{
		{"both", "-P OUTPUT ACCEPT\n-N GOVIRT-SCSI-Q\n" + jump + rule, true},
		{"jump flushed from OUTPUT", "-N GOVIRT-SCSI-Q\n" + rule, false},
		{"chain flushed", "-N GOVIRT-SCSI-Q\n" + jump, false},
		{"only another divert's rule", jump + other, false},
		{"empty", "", false},
	} {
		if got := queued(c.dump, d); got != c.want {
			t.Errorf("%s: queued = %v, want %v", c.name, got, c.want)
		}
	}
}
