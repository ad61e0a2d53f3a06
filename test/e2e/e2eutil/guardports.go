package e2eutil

import (
	"fmt"
	"sync/atomic"
)

// Tests run several agents on this one host at once, and a guard's front
// port is also its netfilter queue number, unique on the host. Each agent
// picks the lowest free port of its range, so with one shared range an
// agent that restarts (and must bind its VMs' ports again) could find
// them taken by another test's agent in the moment between. Each agent
// process of a test binary therefore gets a block of its own, below the
// ports the iSCSI tests' own guards use (28500 and up).
const (
	guardPortsBase  = 20000
	guardPortsBlock = 100
	guardPortBlocks = 85 // 20000-28499
)

var guardPortBlock atomic.Uint32

// nextGuardPorts is the --guard-ports of the next agent process.
func nextGuardPorts() string {
	k := (guardPortBlock.Add(1) - 1) % guardPortBlocks
	lo := guardPortsBase + k*guardPortsBlock
	return fmt.Sprintf("%d-%d", lo, lo+guardPortsBlock-1)
}
