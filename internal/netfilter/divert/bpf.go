package divert

import (
	"fmt"
	"strings"

	"golang.org/x/net/bpf"
)

// matchProgram is the classic BPF program of the queue rule's xt_bpf match:
// it returns 1 for a TCP segment that carries payload or has SYN set, 0
// otherwise (a pure ACK, FIN or RST without data), so that only commands and
// new connections reach the guard. The kernel runs it on the packet from its
// IP header (ipVersion 4 or 6). It reads the TCP header through the IP
// header length and computes the payload as IP total length minus both
// headers. An IPv4 total length of 0 (a GSO packet beyond 64 KiB, BIG TCP)
// and an IPv6 packet with extension headers match too: when in doubt, queue.
func matchProgram(ipVersion int) []bpf.Instruction {
	const (
		match   = 1
		noMatch = 0
	)
	var prog []bpf.Instruction
	if ipVersion == 4 {
		prog = []bpf.Instruction{
			bpf.LoadMemShift{Off: 0},                                  // X = IHL*4
			bpf.LoadIndirect{Off: 13, Size: 1},                        // A = TCP flags
			bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: 0x02, SkipTrue: 8}, // SYN
			bpf.LoadIndirect{Off: 12, Size: 1},                        // A = data offset byte
			bpf.ALUOpConstant{Op: bpf.ALUOpShiftRight, Val: 2},
			bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0x3c}, // A = TCP header length
			bpf.ALUOpX{Op: bpf.ALUOpAdd},                   // A = both headers
			bpf.TAX{},
			bpf.LoadAbsolute{Off: 2, Size: 2}, // A = IP total length
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0, SkipTrue: 1},
			bpf.JumpIfX{Cond: bpf.JumpLessOrEqual, SkipTrue: 1},
			bpf.RetConstant{Val: match},
			bpf.RetConstant{Val: noMatch},
		}
	} else {
		prog = []bpf.Instruction{
			bpf.LoadAbsolute{Off: 6, Size: 1}, // next header
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: 6, SkipFalse: 8},
			bpf.LoadAbsolute{Off: 40 + 13, Size: 1}, // A = TCP flags
			bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: 0x02, SkipTrue: 6},
			bpf.LoadAbsolute{Off: 40 + 12, Size: 1},
			bpf.ALUOpConstant{Op: bpf.ALUOpShiftRight, Val: 2},
			bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0x3c}, // A = TCP header length
			bpf.TAX{},
			bpf.LoadAbsolute{Off: 4, Size: 2}, // A = IPv6 payload length (TCP header and data)
			bpf.JumpIfX{Cond: bpf.JumpLessOrEqual, SkipTrue: 1},
			bpf.RetConstant{Val: match},
			bpf.RetConstant{Val: noMatch},
		}
	}
	return prog
}

// bytecode renders matchProgram in the form of xt_bpf's --bytecode option:
// "count,code jt jf k,code jt jf k,...".
func bytecode(ipVersion int) (string, error) {
	raw, err := bpf.Assemble(matchProgram(ipVersion))
	if err != nil {
		return "", fmt.Errorf("assemble the payload-or-SYN match: %w", err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d", len(raw))
	for _, r := range raw {
		fmt.Fprintf(&b, ",%d %d %d %d", r.Op, r.Jt, r.Jf, r.K)
	}
	return b.String(), nil
}
