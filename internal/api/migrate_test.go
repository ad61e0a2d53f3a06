package api

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/govirt/govirt/internal/model"
)

// TestMigrateOverHTTP: POST /vms/{id}/migrate moves a running VM to the
// named host; a VM whose LUN uses SCSI reservation is refused with 409 and
// stays where it runs; MIGRATE_VM (ClusterAdmin, not UserRole) is needed.
func TestMigrateOverHTTP(t *testing.T) {
	f := newAuthFixture(t, nopHosts{})
	ctx := context.Background()
	var hostIDs []string
	for _, name := range []string{"h1", "h2"} {
		id := f.create(f.admin, "/hosts", `<host><name>`+name+`</name><address>`+name+`:54321</address><cluster id="`+f.cluster+`"/></host>`)
		if err := f.eng.SetHostStatus(ctx, id, model.HostUp); err != nil {
			t.Fatal(err)
		}
		hostIDs = append(hostIDs, id)
	}
	vmOn := func(vm string) string {
		t.Helper()
		body := f.must(f.admin, http.StatusOK, "GET", "/vms/"+vm, "")
		if !strings.Contains(body, "<status>up</status>") {
			t.Fatalf("vm is not up:\n%s", body)
		}
		for _, h := range hostIDs {
			if strings.Contains(body, `<host href="/ovirt-engine/api/hosts/`+h+`" id="`+h+`"`) {
				return h
			}
		}
		t.Fatalf("vm runs on no known host:\n%s", body)
		return ""
	}

	pinned := f.create(f.admin, "/vms", `<vm><name>pinned</name><cluster id="`+f.cluster+`"/><virtio_scsi><enabled>true</enabled></virtio_scsi></vm>`)
	f.create(f.admin, "/vms/"+pinned+"/diskattachments", `<disk_attachment><interface>virtio_scsi</interface><uses_scsi_reservation>true</uses_scsi_reservation>
		<disk><alias>pr</alias><sgio>unfiltered</sgio><lun_storage><type>iscsi</type><logical_units><logical_unit>
		<address>127.0.0.1</address><port>3260</port><target>iqn.2026-11.dev.govirt:t</target><lun_mapping>1</lun_mapping>
		</logical_unit></logical_units></lun_storage></disk></disk_attachment>`)
	free := f.create(f.admin, "/vms", `<vm><name>free</name><cluster id="`+f.cluster+`"/></vm>`)
	for _, vm := range []string{pinned, free} {
		f.must(f.admin, http.StatusOK, "POST", "/vms/"+vm+"/start", `<action><vm><placement_policy><hosts><host id="`+hostIDs[0]+`"/></hosts></placement_policy></vm></action>`)
	}

	bob := f.addUser("bob", "bob-pass")
	f.grant("/vms/"+free, "UserRole", bob)
	bobC := f.login("bob@internal", "bob-pass")
	f.faults(f.admin, []fault{
		{"POST", "/vms/" + pinned + "/migrate", "<action/>", http.StatusConflict, "Cannot migrate VM. The VM uses SCSI reservation."},
		{"POST", "/vms/" + pinned + "/migrate", `<action><host><name>h2</name></host></action>`, http.StatusConflict, "The VM uses SCSI reservation."},
		{"POST", "/vms/" + free + "/migrate", `<action><host id="` + hostIDs[0] + `"/></action>`, http.StatusConflict, "source and destination is the same"},
		{"POST", "/vms/" + free + "/migrate", `<action><host><name>h9</name></host></action>`, http.StatusNotFound, "h9"},
		{"POST", "/vms/" + free + "/migrate", `<action><host>`, http.StatusBadRequest, ""},
	})
	f.faults(bobC, []fault{
		{"POST", "/vms/" + free + "/migrate", "<action/>", http.StatusForbidden, "User is not authorized to perform this action."},
	})
	if vmOn(pinned) != hostIDs[0] || vmOn(free) != hostIDs[0] {
		t.Fatal("a refused migration moved a VM")
	}

	f.grant("/vms/"+free, "ClusterAdmin", bob)
	// A user sees no hosts, so names the destination by id.
	f.must(bobC, http.StatusOK, "POST", "/vms/"+free+"/migrate", `<action><host id="`+hostIDs[1]+`"/></action>`)
	if got := vmOn(free); got != hostIDs[1] {
		t.Fatalf("after migrate: on %s, want h2 %s", got, hostIDs[1])
	}
	events := f.must(f.admin, http.StatusOK, "GET", "/events", "")
	for _, want := range []string{"Migration started (VM: free, Source: h1, Destination: h2, User: bob@internal)", "Migration completed (VM: free"} {
		if !strings.Contains(events, want) {
			t.Errorf("no event %q", want)
		}
	}
}
