//go:build bench

package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/govirt/govirt/internal/api/ovirt"
	"github.com/govirt/govirt/internal/benchreport"
	"github.com/govirt/govirt/internal/client"
	"github.com/govirt/govirt/internal/store/sqlstore/sqltest"
	"github.com/govirt/govirt/test/e2e/e2eutil"
)

// controlPlane measures the API on both databases: attaching disks to a
// stopped VM one request each, listing a VM's attachments in XML and JSON,
// and listing and searching many VMs.
func (s *suite) controlPlane() {
	for _, db := range []struct {
		name string
		dsn  func(testing.TB) string
	}{{"sqlite", func(testing.TB) string { return "" }}, {"postgres", sqltest.Postgres}} {
		cp := &controlEnv{s: s, db: db.name, dsn: db.dsn}
		if s.pending("control/" + db.name + "/") {
			if err := cp.start(); err != nil {
				s.t.Fatal(err)
			}
		}
		cp.measure()
	}
}

// controlEnv is one engine on one database, started on first use.
type controlEnv struct {
	s    *suite
	db   string
	dsn  func(testing.TB) string
	e    *e2eutil.EngineProc
	c    *client.Client
	vmID string // the VM that carries the last attach run's disks
	nLUN int    // LUN numbers used so far
}

// start runs the engine for the whole suite (in the suite's goroutine).
func (cp *controlEnv) start() error {
	cp.e = e2eutil.StartEngine(cp.s.t, e2eutil.EngineOptions{DB: cp.dsn(cp.s.t), LogLevel: "info"})
	var err error
	cp.c, err = client.New(cp.e.URL, cp.e.Token, client.WithTimeout(5*time.Minute))
	return err
}

func (cp *controlEnv) measure() {
	n, runs := cp.s.tier.attachDisks, cp.s.tier.runs
	group := "Control plane"
	cp.s.run(benchreport.Result{ID: "control/" + cp.db + "/1-attach", Group: group,
		Name: fmt.Sprintf("%s: attach %d disks to a stopped VM", cp.db, n), Unit: "disks/s", Better: benchreport.Higher,
		Target: targetIf(cp.db == "sqlite", 500),
		Note:   "one `POST /vms/{id}/diskattachments` per disk (existing direct LUN, virtio_scsi, active); the rate over all of them; the issue's count is 1,000"},
		func(ctx context.Context, t *testing.T, r *benchreport.Result) error {
			if cp.e == nil {
				return fmt.Errorf("no engine")
			}
			for run := range runs {
				ids, err := cp.luns(ctx, n)
				if err != nil {
					return err
				}
				vm, err := cp.c.AddVM(ctx, stoppedVM(fmt.Sprintf("attach-%d-%d", run, time.Now().UnixNano())))
				if err != nil {
					return err
				}
				start := time.Now()
				for _, id := range ids {
					a := ovirt.DiskAttachment{Disk: &ovirt.Disk{ID: id}, Interface: ovirt.Str("virtio_scsi"), Active: ovirt.B(true)}
					if _, err := cp.c.Attach(ctx, vm.ID, a); err != nil {
						return fmt.Errorf("attach disk %s: %w", id, err)
					}
				}
				r.Samples = append(r.Samples, float64(n)/time.Since(start).Seconds())
				cp.vmID = vm.ID
			}
			return nil
		})
	for _, format := range []string{"xml", "json"} {
		cp.s.run(benchreport.Result{ID: "control/" + cp.db + "/2-list-attachments-" + format, Group: group,
			Name: fmt.Sprintf("%s: list %d attachments in %s", cp.db, n, format), Unit: "ms", Better: benchreport.Lower, Target: 20},
			func(ctx context.Context, t *testing.T, r *benchreport.Result) error {
				if cp.vmID == "" {
					return fmt.Errorf("no VM with %d attachments: the attach measurement did not run in this process", n)
				}
				return cp.timeGets(ctx, r, "/vms/"+cp.vmID+"/diskattachments", format, 10)
			})
	}
	nVMs := cp.s.tier.listVMs
	prefix := "list-vm-"
	cp.s.run(benchreport.Result{ID: "control/" + cp.db + "/3-list-vms", Group: group,
		Name: fmt.Sprintf("%s: list %d VMs (XML)", cp.db, nVMs), Unit: "ms", Better: benchreport.Lower,
		Note: "`GET /vms` as the API is today (no paging); the VMs are created through the API first, untimed; the issue's count is 10,000"},
		func(ctx context.Context, t *testing.T, r *benchreport.Result) error {
			if cp.e == nil {
				return fmt.Errorf("no engine")
			}
			have, err := cp.c.ListVMs(ctx, "name="+prefix+"*")
			if err != nil {
				return err
			}
			for i := len(have); i < nVMs; i++ {
				if _, err := cp.c.AddVM(ctx, stoppedVM(fmt.Sprintf("%s%05d", prefix, i))); err != nil {
					return fmt.Errorf("add vm %d: %w", i, err)
				}
			}
			return cp.timeGets(ctx, r, "/vms", "xml", 5)
		})
	cp.s.run(benchreport.Result{ID: "control/" + cp.db + "/4-search-vms", Group: group,
		Name: fmt.Sprintf("%s: search %d VMs by name, 1/10 match (XML)", cp.db, nVMs), Unit: "ms", Better: benchreport.Lower,
		Note: "`GET /vms?search=name%3Dlist-vm-0*1`"},
		func(ctx context.Context, t *testing.T, r *benchreport.Result) error {
			if cp.e == nil {
				return fmt.Errorf("no engine")
			}
			return cp.timeGets(ctx, r, "/vms?search="+url.QueryEscape("name="+prefix+"0*1"), "xml", 5)
		})
}

// luns creates n direct LUN disks (untimed) and returns their ids.
func (cp *controlEnv) luns(ctx context.Context, n int) ([]string, error) {
	ids := make([]string, n)
	for i := range ids {
		cp.nLUN++
		d, err := cp.c.AddDisk(ctx, client.LUNDisk(fmt.Sprintf("bench-lun-%d", cp.nLUN),
			client.LUN{Address: "127.0.0.1", Target: "iqn.2026-11.dev.govirt:bench", Mapping: cp.nLUN}, "", false))
		if err != nil {
			return nil, fmt.Errorf("add lun disk %d: %w", cp.nLUN, err)
		}
		ids[i] = d.ID
	}
	return ids, nil
}

// timeGets times runs GETs of path, answered in format, reading the whole
// body each time.
func (cp *controlEnv) timeGets(ctx context.Context, r *benchreport.Result, path, format string, runs int) error {
	for range runs + 1 {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, cp.e.URL+"/ovirt-engine/api"+path, nil)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+cp.e.Token)
		req.Header.Set("Accept", "application/"+format)
		start := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		took := time.Since(start)
		if err != nil || resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s, %v", path, resp.Status, err)
		}
		if n == 0 {
			return fmt.Errorf("GET %s: empty answer", path)
		}
		if r.Note == "" {
			r.Note = fmt.Sprintf("%d KiB per answer; the first request of each series is not counted", n>>10)
		}
		r.Samples = append(r.Samples, ms(took))
	}
	r.Samples = r.Samples[1:] // the first one warms caches
	return nil
}

// stoppedVM is a VM body with VirtIO-SCSI that is never started.
func stoppedVM(name string) ovirt.VM {
	return ovirt.VM{Name: ovirt.Str(name), Cluster: &ovirt.Ref{Name: ovirt.Str("Default")}, Memory: ovirt.I(256 << 20),
		OS: &ovirt.OS{Type: ovirt.Str("debian")}, VirtioSCSI: &ovirt.VirtioSCSI{Enabled: ovirt.B(true)}}
}

func targetIf(ok bool, v float64) float64 {
	if ok {
		return v
	}
	return 0
}
