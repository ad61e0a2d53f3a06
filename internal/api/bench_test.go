package api

import (
	"fmt"
	"net/http"
	"testing"
)

// BenchmarkAttachThroughAPI attaches 300 direct LUNs, active, on
// virtio-scsi, one `POST /vms/{id}/diskattachments` each over real HTTP
// with a Bearer token, to a VM that is down (SQLite, as the engine embeds
// it): authentication, permission checks, the engine command, its commit
// and the read-back the answer carries. disks/s is the rate over the 300.
// The engine command alone is BenchmarkAttach1000DisksToStoppedVM in
// internal/engine.
func BenchmarkAttachThroughAPI(b *testing.B) {
	const n = 300
	f := newAuthFixture(b, nil)
	round := 0
	for b.Loop() {
		b.StopTimer()
		round++
		vm := f.create(f.admin, "/vms", fmt.Sprintf(`<vm><name>bench%d</name><cluster id="%s"/><memory>268435456</memory>
			<virtio_scsi><enabled>true</enabled></virtio_scsi></vm>`, round, f.cluster))
		disks := make([]string, n)
		for i := range disks {
			disks[i] = f.create(f.admin, "/disks", lunDiskXML(fmt.Sprint(round*n+i+1), "filtered"))
		}
		b.StartTimer()
		for _, d := range disks {
			f.must(f.admin, http.StatusCreated, "POST", "/vms/"+vm+"/diskattachments",
				`<disk_attachment><disk id="`+d+`"/><interface>virtio_scsi</interface><active>true</active></disk_attachment>`)
		}
	}
	b.ReportMetric(float64(n*round)/b.Elapsed().Seconds(), "disks/s")
}
