package divert

import (
	"context"
	"strconv"
	"strings"
)

// Broken returns the diverts of ds whose queue is no longer in the path:
// the queue rule is gone from its chain, or OUTPUT no longer jumps to the
// chain (someone flushed the tables). An established connection keeps its
// NAT in conntrack, so without the queue rule it would flow on unguarded.
// It reads the mangle table once per address family, whatever len(ds).
func Broken(ctx context.Context, ds []Divert) ([]Divert, error) {
	dumps := map[string]string{}
	var broken []Divert
	for _, d := range ds {
		bin := d.binary()
		dump, ok := dumps[bin]
		if !ok {
			out, err := iptables{bin: bin}.run(ctx, "-t", queueTable, "-S")
			if err != nil {
				return nil, err
			}
			dump, dumps[bin] = out, out
		}
		if !queued(dump, d) {
			broken = append(broken, d)
		}
	}
	return broken, nil
}

// queued says whether an `iptables -t mangle -S` dump has OUTPUT jump to
// the queue chain and the chain hold d's queue rule.
func queued(dump string, d Divert) bool {
	jump, rule := false, false
	for _, line := range strings.Split(dump, "\n") {
		switch {
		case line == "-A OUTPUT -j "+queueChain:
			jump = true
		case strings.HasPrefix(line, "-A "+queueChain+" ") && strings.Contains(line, `"`+d.comment()+`"`) &&
			strings.HasSuffix(line, "-j NFQUEUE --queue-num "+strconv.Itoa(int(d.Queue))):
			rule = true
		}
	}
	return jump && rule
}
