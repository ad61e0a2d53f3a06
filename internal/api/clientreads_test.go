package api

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/govirt/govirt/internal/model"
)

func TestCutPage(t *testing.T) {
	for _, tt := range []struct {
		in, rest string
		page     int
		bad      bool
	}{
		{"", "", 1, false},
		{"name=web*", "name=web*", 1, false},
		{"name=web* page 3", "name=web*", 3, false},
		{"page 2", "", 2, false},
		{"name=x   PAGE   10 ", "name=x", 10, false},
		{"name=page", "name=page", 1, false},
		{"name=x page 0", "", 0, true},
		{"name=x page two", "", 0, true},
	} {
		rest, page, err := cutPage(strings.TrimSpace(tt.in))
		if (err != nil) != tt.bad || !tt.bad && (rest != tt.rest || page != tt.page) {
			t.Errorf("cutPage(%q) = %q, %d, %v; want %q, %d, bad %v", tt.in, rest, page, err, tt.rest, tt.page, tt.bad)
		}
	}
}

// names returns the <name> elements of an XML answer in order.
func names(body string) []string {
	var out []string
	for _, m := range regexp.MustCompile(`<vm href="[^"]*" id="[^"]*">\s*<name>([^<]*)</name>`).FindAllStringSubmatch(body, -1) {
		out = append(out, m[1])
	}
	return out
}

// TestClientReads: paging through VMs with "page N", inline attachments
// with their drive addresses, a user's own permissions and what others see
// of them, and the virtio_scsi feature of cluster levels.
func TestClientReads(t *testing.T) {
	f := newAuthFixture(t, nopHosts{})
	for i := range 5 {
		f.create(f.admin, "/vms", fmt.Sprintf(`<vm><name>vm%d</name><cluster id="%s"/><os><type>debian</type></os></vm>`, i, f.cluster))
	}
	for page, want := range map[string]string{"1": "vm0,vm1", "2": "vm2,vm3", "3": "vm4", "4": ""} {
		got := names(f.must(f.admin, http.StatusOK, "GET", "/vms?max=2&search=name%3Dvm*%20page%20"+page, ""))
		if strings.Join(got, ",") != want {
			t.Errorf("page %s: %v, want %s", page, got, want)
		}
	}
	vm := idOf(t, f.must(f.admin, http.StatusOK, "GET", "/vms?search=name%3Dvm0", ""))
	h := f.create(f.admin, "/hosts", `<host><name>h1</name><address>h1:54321</address><cluster id="`+f.cluster+`"/></host>`)
	if err := f.eng.SetHostStatus(context.Background(), h, model.HostUp); err != nil {
		t.Fatal(err)
	}
	f.must(f.admin, http.StatusCreated, "POST", "/vms/"+vm+"/diskattachments", `<disk_attachment><interface>virtio_scsi</interface>
		<disk><alias>d1</alias><format>cow</format><provisioned_size>1048576</provisioned_size><storage_domains><storage_domain id="`+f.sd+`"/></storage_domains></disk></disk_attachment>`)
	body := f.must(f.admin, http.StatusOK, "GET", "/vms?search=name%3Dvm0&follow=disk_attachments", "")
	if n := strings.Count(body, "<disk_attachment "); n != 1 {
		t.Errorf("follow=disk_attachments: %d attachments inline, want 1:\n%s", n, body)
	}
	atts := f.must(f.admin, http.StatusOK, "GET", "/vms/"+vm+"/diskattachments", "")
	if !regexp.MustCompile(`<address>\{bus=0, controller=0, type=drive, target=0, unit=\d+\}</address>`).MatchString(atts) {
		t.Errorf("no drive address on a virtio_scsi attachment:\n%s", atts)
	}

	bob := f.addUser("bob", "bob-pass")
	f.grant("/vms/"+vm, "UserRole", bob)
	b := f.login("bob@internal", "bob-pass")
	carol := f.addUser("carol", "carol-pass")
	f.grant("/vms/"+idOf(t, f.must(f.admin, http.StatusOK, "GET", "/vms?search=name%3Dvm1", "")), "UserRole", carol)
	if other := f.must(b, http.StatusOK, "GET", "/users/"+carol+"/permissions", ""); strings.Contains(other, "<permission ") {
		t.Errorf("bob sees carol's permission on a VM he cannot see:\n%s", other)
	}
	f.grant("", "UserRole", bob)
	if own := f.must(b, http.StatusOK, "GET", "/users/"+bob+"/permissions", ""); strings.Count(own, "<permission ") != 2 {
		t.Errorf("bob's own permissions: want 2:\n%s", own)
	}
	root := f.must(b, http.StatusOK, "GET", "", "")
	if !strings.Contains(root, `<authenticated_user href="/ovirt-engine/api/users/`+bob+`" id="`+bob+`"`) {
		t.Errorf("the root does not name bob as the authenticated user:\n%s", root)
	}

	if l := f.must(f.admin, http.StatusOK, "GET", "/clusterlevels/3.2", ""); strings.Contains(l, "<name>virtio_scsi</name>") {
		t.Errorf("3.2 has virtio_scsi:\n%s", l)
	}
	l := f.must(f.admin, http.StatusOK, "GET", "/clusterlevels/4.8", "")
	if !strings.Contains(l, "<name>virtio_scsi</name>") || !strings.Contains(l, "<label>Manipulate SCSI I/O Privileges</label>") {
		t.Errorf("4.8 lacks virtio_scsi or the SCSI I/O permit:\n%s", l)
	}
}
