//go:build bench

package bench

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/govirt/govirt/internal/benchreport"
	"github.com/govirt/govirt/internal/scsi"
)

// allocation measures addressing a full VM from scratch, and one plug into
// a VM that already has n-1 disks, as each hot-plug does (the allocator is
// rebuilt from the rows, then one disk placed).
func (s *suite) allocation() {
	n := s.tier.allocDisks
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
	}
	const runs = 15
	s.run(benchreport.Result{ID: "alloc/assign", Group: "Allocation", Name: fmt.Sprintf("address %d disks (AssignInOrder)", n),
		Unit: "ms", Better: benchreport.Lower, Target: 50}, func(ctx context.Context, t *testing.T, r *benchreport.Result) error {
		for range runs {
			start := time.Now()
			addrs, err := scsi.AssignInOrder(scsi.DefaultLayout, []uint16{0}, ids, ids[0])
			if err != nil {
				return err
			}
			r.Samples = append(r.Samples, ms(time.Since(start)))
			if len(addrs) != n {
				return fmt.Errorf("%d addresses for %d disks", len(addrs), n)
			}
		}
		return nil
	})
	s.run(benchreport.Result{ID: "alloc/plug-last", Group: "Allocation", Name: fmt.Sprintf("rebuild the allocator from %d rows and plug one more", n-1),
		Unit: "ms", Better: benchreport.Lower}, func(ctx context.Context, t *testing.T, r *benchreport.Result) error {
		addrs, err := scsi.AssignInOrder(scsi.DefaultLayout, []uint16{0}, ids[:n-1], "")
		if err != nil {
			return err
		}
		slots := make([]scsi.Slot, n-1)
		for i := range slots {
			slots[i] = scsi.Slot{ID: ids[i], Addr: &addrs[i], Plugged: true}
		}
		for range runs {
			start := time.Now()
			a, err := scsi.NewAllocator(scsi.DefaultLayout, []uint16{0}, slots)
			if err != nil {
				return err
			}
			if _, err := a.Plug(ids[n-1], false); err != nil {
				return err
			}
			r.Samples = append(r.Samples, ms(time.Since(start)))
		}
		return nil
	})
}

// ms is d in milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
