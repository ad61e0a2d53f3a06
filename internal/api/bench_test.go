package api

import (
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/govirt/govirt/internal/store/sqlstore/sqltest"
)

// BenchmarkAttachThroughAPI attaches 300 direct LUNs, active, on
// virtio-scsi, one `POST /vms/{id}/diskattachments` each over real HTTP
// with a Bearer token, to a VM that is down (SQLite, as the engine embeds
// it): authentication, permission checks, the engine command, its commit
// and the read-back the answer carries. disks/s is the rate over the 300.
// The engine command alone is BenchmarkAttach1000DisksToStoppedVM in
// internal/engine.
func BenchmarkAttachThroughAPI(b *testing.B) {
	for _, db := range []struct {
		name string
		dsn  func(testing.TB) string
	}{{"sqlite", sqltest.SQLite}, {"postgres", sqltest.Postgres}} {
		b.Run(db.name, func(b *testing.B) { benchAttach(b, newAuthFixtureOn(b, nil, db.dsn(b))) })
	}
}

func benchAttach(b *testing.B, f *authFixture) {
	const n = 300
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

// BenchmarkListAttachments1000 answers `GET /vms/{id}/diskattachments` for
// a VM with 1,000 direct LUNs, in XML and in JSON, over real HTTP with a
// Bearer token (the target: 20 ms).
func BenchmarkListAttachments1000(b *testing.B) {
	const n = 1000
	f := newAuthFixture(b, nil)
	vm := f.create(f.admin, "/vms", `<vm><name>list</name><cluster id="`+f.cluster+`"/><memory>268435456</memory>
		<virtio_scsi><enabled>true</enabled></virtio_scsi></vm>`)
	for i := range n {
		d := f.create(f.admin, "/disks", lunDiskXML(fmt.Sprint(i+1), "filtered"))
		f.must(f.admin, http.StatusCreated, "POST", "/vms/"+vm+"/diskattachments",
			`<disk_attachment><disk id="`+d+`"/><interface>virtio_scsi</interface><active>true</active></disk_attachment>`)
	}
	for _, format := range []string{"xml", "json"} {
		b.Run(format, func(b *testing.B) {
			for b.Loop() {
				f.get(b, "/vms/"+vm+"/diskattachments", format)
			}
		})
	}
}

// get reads path below the API prefix as the admin, in format, and fails
// unless it answers 200 with a body.
func (f *authFixture) get(b *testing.B, path, format string) {
	req, err := http.NewRequest(http.MethodGet, f.srv.URL+Prefix+path, nil)
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+f.admin.token)
	req.Header.Set("Accept", "application/"+format)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK || n == 0 {
		b.Fatalf("GET %s: %s, %d bytes, %v", path, resp.Status, n, err)
	}
}
