//go:build bench

package bench

import (
	"context"
	"fmt"
	"os/exec"
	"testing"
	"time"

	"github.com/govirt/govirt/internal/benchreport"
	"github.com/govirt/govirt/internal/iscsi/proxy"
	"github.com/govirt/govirt/internal/scsipolicy"
	"github.com/govirt/govirt/test/e2e/e2eutil"
)

// iscsiProxy measures the data path of the SCSI command policy proxy:
// QEMU's own iSCSI initiator (qemu-img bench: 256 KiB reads, 16 in flight)
// reads a tgtd LUN front to back through a filtered proxy, and directly,
// alternating in the same run. The issue asks the proxy for 0.9x.
func (s *suite) iscsiProxy() {
	const lunMiB, chunk = 256, 256 << 10
	s.run(benchreport.Result{ID: "iscsi/proxy-seq-read", Group: "iSCSI policy proxy",
		Name: "sequential read, 256 KiB x 16 in flight (qemu-img bench): through a filtered proxy",
		Unit: "MB/s", Better: benchreport.Higher, BaselineName: "direct to tgtd", TargetRatio: 0.9},
		func(ctx context.Context, t *testing.T, r *benchreport.Result) error {
			if _, err := exec.LookPath("qemu-img"); err != nil {
				return fmt.Errorf("qemu-img is missing: install Debian's qemu-utils (scripts/host-setup.sh does)")
			}
			tg := e2eutil.NewISCSITarget(t, 1, lunMiB)
			px, err := proxy.Start(ctx, proxy.Config{Target: tg.PortalAddr(), Policy: scsipolicy.Filtered()})
			if err != nil {
				return err
			}
			defer func() { _ = px.Close() }()
			read := func(addr string) (float64, error) {
				opts := fmt.Sprintf("driver=iscsi,transport=tcp,portal=%s,target=%s,lun=1", addr, tg.IQN)
				start := time.Now()
				out, err := exec.CommandContext(ctx, "qemu-img", "bench", "--image-opts", "-c", fmt.Sprint(lunMiB<<20/chunk),
					"-d", "16", "-s", "256K", "-S", "256K", "-t", "none", opts).CombinedOutput()
				if err != nil {
					return 0, fmt.Errorf("qemu-img bench on %s: %w: %s", addr, err, out)
				}
				return float64(lunMiB<<20) / time.Since(start).Seconds() / 1e6, nil
			}
			for range max(s.tier.runs, 5) {
				for _, side := range []struct {
					addr string
					out  *[]float64
				}{{px.Addr().String(), &r.Samples}, {tg.PortalAddr(), &r.Baseline}} {
					rate, err := read(side.addr)
					if err != nil {
						return err
					}
					*side.out = append(*side.out, rate)
				}
			}
			return nil
		})
}
