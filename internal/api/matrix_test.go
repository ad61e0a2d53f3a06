package api

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/govirt/govirt/internal/agent"
	"github.com/govirt/govirt/internal/authz"
	"github.com/govirt/govirt/internal/engine"
	"github.com/govirt/govirt/internal/model"
	"github.com/govirt/govirt/internal/scsipolicy"
	"github.com/govirt/govirt/internal/vmspec"
)

// nopHosts dials agents that accept every call and do nothing, so that
// image disks get created and VMs start without a host.
type nopHosts struct{}

func (nopHosts) Host(context.Context, string) (engine.Host, error) { return nopHost{}, nil }

type nopHost struct{}

func (nopHost) StartVM(context.Context, vmspec.VM) error                           { return nil }
func (nopHost) ShutdownVM(context.Context, string, time.Duration) error            { return nil }
func (nopHost) DestroyVM(context.Context, string) error                            { return nil }
func (nopHost) HotPlugDisk(context.Context, string, vmspec.Disk) error             { return nil }
func (nopHost) HotUnplugDisk(context.Context, string, string, time.Duration) error { return nil }
func (nopHost) ChangeMedia(context.Context, string, vmspec.Disk) error             { return nil }

func (nopHost) HotPlugController(context.Context, string, vmspec.Controller) error { return nil }
func (nopHost) CreateVolume(context.Context, agent.Volume) (string, error)         { return "", nil }
func (nopHost) RemoveVolume(context.Context, agent.Volume) error                   { return nil }
func (nopHost) SetSCSIPolicy(context.Context, string, string, scsipolicy.Spec) error {
	return nil
}
func (nopHost) PrepareMigration(context.Context, vmspec.VM) (agent.MigrationTarget, error) {
	return agent.MigrationTarget{URI: "qemu:///nop", DomainXML: "<domain/>"}, nil
}
func (nopHost) MigrateVM(context.Context, string, agent.MigrationTarget) error { return nil }
func (nopHost) FinishIncoming(context.Context, string, bool) error             { return nil }

// matrixFixture is an authFixture with an up host, a user per identity of
// the matrix and the objects they were granted on.
type matrixFixture struct {
	*authFixture
	users map[string]cred // by identity
	ids   map[string]string
	vm1   string // where the UserRole identity holds UserRole
	vm2   string // where it holds nothing
	seq   int
}

// The identities of the matrix, in the order of its columns.
var identities = []string{"anon", "user", "diskcreator", "dcadmin", "sysdcadmin", "super", "nosgio"}

func newMatrixFixture(t *testing.T) *matrixFixture {
	f := &matrixFixture{authFixture: newAuthFixture(t, nopHosts{}), users: map[string]cred{"anon": anonymous}, ids: map[string]string{}}
	host := f.create(f.admin, "/hosts", `<host><name>h1</name><address>h1:54321</address><cluster id="`+f.cluster+`"/></host>`)
	if err := f.eng.SetHostStatus(context.Background(), host, model.HostUp); err != nil {
		t.Fatal(err)
	}
	// NoSGIO is DataCenterAdmin without CONFIGURE_SCSI_GENERIC_IO.
	var permits strings.Builder
	for _, r := range authz.PredefinedRoles() {
		if r.ID == authz.DataCenterAdminID {
			for _, g := range r.ActionGroups {
				if authz.ActionGroup(g) != authz.ConfigureSCSIGenericIO {
					fmt.Fprintf(&permits, `<permit id="%d"/>`, g)
				}
			}
		}
	}
	f.create(f.admin, "/roles", `<role><name>NoSGIO</name><administrative>true</administrative><permits>`+permits.String()+`</permits></role>`)
	f.vm1 = f.create(f.admin, "/vms", vmXML("vm1", f.cluster))
	f.vm2 = f.create(f.admin, "/vms", vmXML("vm2", f.cluster))
	for _, g := range []struct{ who, role, on string }{
		{"user", "UserRole", "/vms/" + f.vm1}, {"diskcreator", "DiskCreator", ""}, {"dcadmin", "DataCenterAdmin", "/datacenters/" + f.dc},
		{"sysdcadmin", "DataCenterAdmin", ""}, {"super", "SuperUser", ""}, {"nosgio", "NoSGIO", "/datacenters/" + f.dc},
	} {
		f.ids[g.who] = f.addUser(g.who, g.who+"-pass")
		f.grant(g.on, g.role, f.ids[g.who])
		f.users[g.who] = f.login(g.who+"@internal", g.who+"-pass")
	}
	f.ids["grantee"] = f.addUser("grantee", "grantee-pass")
	return f
}

func vmXML(name, cluster string) string {
	return `<vm><name>` + name + `</name><cluster id="` + cluster + `"/><os><type>debian</type></os><virtio_scsi><enabled>true</enabled></virtio_scsi></vm>`
}

func (f *matrixFixture) next() string { f.seq++; return strconv.Itoa(f.seq) }

// freshVM creates a VM on which the UserRole identity holds UserRole, as
// on vm1 (once the user exists), optionally running; it returns the VM and
// that permission.
func (f *matrixFixture) freshVM(running bool) (vm, perm string) {
	vm = f.create(f.admin, "/vms", vmXML("m"+f.next(), f.cluster))
	if id := f.ids["user"]; id != "" {
		perm = f.grant("/vms/"+vm, "UserRole", id)
	}
	if running {
		f.must(f.admin, http.StatusOK, "POST", "/vms/"+vm+"/start", "")
	}
	return vm, perm
}

// lunXML is a new direct LUN disk with its own LUN.
func (f *matrixFixture) lunXML(sgio string) string { return lunDiskXML(f.next(), sgio) }

// lunDiskXML is the body of a direct LUN disk whose alias and LUN are
// numbered n.
func lunDiskXML(n, sgio string) string {
	return `<disk><alias>lun` + n + `</alias><sgio>` + sgio + `</sgio><lun_storage><type>iscsi</type><logical_units><logical_unit id="lun-` + n +
		`"><address>127.0.0.1</address><target>iqn.2026-11.dev.govirt:m</target><lun_mapping>` + n + `</lun_mapping></logical_unit></logical_units></lun_storage></disk>`
}

func (f *matrixFixture) imageXML() string {
	return `<disk><alias>img` + f.next() + `</alias><format>cow</format><provisioned_size>1048576</provisioned_size><storage_domains><storage_domain id="` + f.sd + `"/></storage_domains></disk>`
}

// attachedLUN is a filtered LUN attached to a fresh VM.
func (f *matrixFixture) attachedLUN() string {
	vm, _ := f.freshVM(false)
	return f.create(f.admin, "/vms/"+vm+"/diskattachments", `<disk_attachment><interface>virtio_scsi</interface><active>true</active>`+f.lunXML("filtered")+`</disk_attachment>`)
}

// matrixRow is one request of the matrix: allow says, per identity in the
// order of identities, 401 (not authenticated), - (403) or Y (allowed,
// answered with ok). req builds the request afresh for each identity, so
// that one identity's success does not change what the next one meets.
type matrixRow struct {
	name  string
	allow string
	ok    int
	req   func() (method, path, body string)
}

// matrixRows is the expected authorization of the core endpoints, written
// by hand from oVirt's roles (not derived from the route table):
//
//	user        UserRole on the VMs it acts on (vm1 and every fresh VM)
//	diskcreator DiskCreator on System
//	dcadmin     DataCenterAdmin on the data center
//	sysdcadmin  DataCenterAdmin on System
//	super       SuperUser on System
//	nosgio      DataCenterAdmin without CONFIGURE_SCSI_GENERIC_IO, on the data center
func matrixRows(f *matrixFixture) []matrixRow {
	vm := func(running bool) string { v, _ := f.freshVM(running); return "/vms/" + v }
	attach := func(disk string) (string, string, string) {
		return "POST", vm(false) + "/diskattachments", `<disk_attachment><interface>virtio_scsi</interface><disk id="` + disk + `"/></disk_attachment>`
	}
	grant := func(role string) (string, string, string) {
		return "POST", vm(false) + "/permissions", `<permission><role><name>` + role + `</name></role><user id="` + f.ids["grantee"] + `"/></permission>`
	}
	return []matrixRow{
		//                                            anon user dc-cr dcadm sysdc super nosgio
		{"POST /vms", "                                401  -    -     Y     Y     Y     Y", 201, func() (string, string, string) {
			return "POST", "/vms", vmXML("n"+f.next(), f.cluster)
		}},
		{"PUT /vms/{id}", "                            401  -    -     Y     Y     Y     Y", 200, func() (string, string, string) {
			return "PUT", vm(false), `<vm><description>changed</description></vm>`
		}},
		{"DELETE /vms/{id}", "                         401  -    -     Y     Y     Y     Y", 200, func() (string, string, string) {
			return "DELETE", vm(false), ""
		}},
		{"POST /vms/{id}/start", "                     401  Y    -     Y     Y     Y     Y", 200, func() (string, string, string) {
			return "POST", vm(false) + "/start", ""
		}},
		{"POST /vms/{id}/stop", "                      401  Y    -     Y     Y     Y     Y", 200, func() (string, string, string) {
			return "POST", vm(true) + "/stop", ""
		}},
		{"POST /vms/{id}/shutdown", "                  401  Y    -     Y     Y     Y     Y", 200, func() (string, string, string) {
			return "POST", vm(true) + "/shutdown", ""
		}},
		{"attach an image disk", "                     401  -    -     Y     Y     Y     Y", 201, func() (string, string, string) {
			return attach(f.create(f.admin, "/disks", f.imageXML()))
		}},
		{"attach a floating LUN (System only)", "      401  -    -     -     Y     Y     -", 201, func() (string, string, string) {
			return attach(f.create(f.admin, "/disks", f.lunXML("filtered")))
		}},
		{"POST /disks image", "                        401  -    Y     Y     Y     Y     Y", 201, func() (string, string, string) {
			return "POST", "/disks", f.imageXML()
		}},
		{"POST /disks LUN filtered", "                 401  -    Y     -     Y     Y     -", 201, func() (string, string, string) {
			return "POST", "/disks", f.lunXML("filtered")
		}},
		{"POST /disks LUN unfiltered", "               401  -    -     -     Y     Y     -", 201, func() (string, string, string) {
			return "POST", "/disks", f.lunXML("unfiltered")
		}},
		{"PUT /disks/{id} sgio of an attached LUN", "  401  -    -     Y     Y     Y     -", 200, func() (string, string, string) {
			return "PUT", "/disks/" + f.attachedLUN(), `<disk><sgio>unfiltered</sgio></disk>`
		}},
		{"PUT /disks/{id} custom scsi_policy of an attached LUN", "401  -    -     -     Y     Y     -", 200, func() (string, string, string) {
			name := "r" + f.next()
			f.create(f.admin, "/scsipolicies", `<scsi_policy><name>`+name+`</name><base>filtered</base><allow><rule>persistent-reserve-out</rule></allow></scsi_policy>`)
			return "PUT", "/disks/" + f.attachedLUN(), `<disk><scsi_policy><name>` + name + `</name></scsi_policy></disk>`
		}},
		{"POST /scsipolicies", "                       401  -    -     -     Y     Y     -", 201, func() (string, string, string) {
			return "POST", "/scsipolicies", `<scsi_policy><name>p` + f.next() + `</name><base>filtered</base></scsi_policy>`
		}},
		{"GET /scsipolicies", "                        401  Y    Y     Y     Y     Y     Y", 200, func() (string, string, string) {
			return "GET", "/scsipolicies", ""
		}},
		{"PUT /disks/{id} alias of an attached LUN", " 401  -    -     Y     Y     Y     Y", 200, func() (string, string, string) {
			return "PUT", "/disks/" + f.attachedLUN(), `<disk><alias>renamed</alias></disk>`
		}},
		{"POST /clusters", "                           401  -    -     Y     Y     Y     Y", 201, func() (string, string, string) {
			return "POST", "/clusters", `<cluster><name>c` + f.next() + `</name><data_center id="` + f.dc + `"/></cluster>`
		}},
		{"POST /datacenters", "                        401  -    -     -     Y     Y     -", 201, func() (string, string, string) {
			return "POST", "/datacenters", `<data_center><name>d` + f.next() + `</name></data_center>`
		}},
		{"POST /users", "                              401  -    -     -     -     Y     -", 201, func() (string, string, string) {
			return "POST", "/users", `<user><user_name>u` + f.next() + `@internal</user_name><password>p</password></user>`
		}},
		{"POST /roles", "                              401  -    -     -     -     Y     -", 201, func() (string, string, string) {
			return "POST", "/roles", `<role><name>r` + f.next() + `</name><permits><permit id="1300"/></permits></role>`
		}},
		{"POST /vms/{id}/permissions UserRole", "      401  -    -     Y     Y     Y     Y", 201, func() (string, string, string) {
			return grant("UserRole")
		}},
		{"POST /vms/{id}/permissions SuperUser", "     401  -    -     -     -     Y     -", 201, func() (string, string, string) {
			return grant("SuperUser")
		}},
		{"DELETE /vms/{id}/permissions/{pid}", "       401  -    -     Y     Y     Y     Y", 200, func() (string, string, string) {
			v, p := f.freshVM(false)
			return "DELETE", "/vms/" + v + "/permissions/" + p, ""
		}},
	}
}

// TestAuthorizationMatrix checks every row of matrixRows for every
// identity, and what GET /vms shows each of them.
func TestAuthorizationMatrix(t *testing.T) {
	f := newMatrixFixture(t)
	sees := map[string]string{"user": "vm1", "diskcreator": "", "dcadmin": "vm1 vm2", "sysdcadmin": "vm1 vm2", "super": "vm1 vm2", "nosgio": "vm1 vm2"}
	f.must(anonymous, http.StatusUnauthorized, "GET", "/vms", "")
	for who, want := range sees {
		if got := vmNames(f.must(f.users[who], http.StatusOK, "GET", "/vms", "")); got != want {
			t.Errorf("GET /vms as %s shows %q, want %q", who, got, want)
		}
	}
	f.must(f.users["user"], http.StatusNotFound, "GET", "/vms/"+f.vm2, "")

	status := map[string]int{"401": http.StatusUnauthorized, "-": http.StatusForbidden}
	cases := 0
	for _, row := range matrixRows(f) {
		want := strings.Fields(row.allow)
		if len(want) != len(identities) {
			t.Fatalf("%s: %d columns, want %d", row.name, len(want), len(identities))
		}
		for i, who := range identities {
			method, path, body := row.req()
			exp, ok := status[want[i]]
			if !ok {
				exp = row.ok
			}
			if st, got := f.call(f.users[who], method, path, body); st != exp {
				t.Errorf("%s (%s %s) as %s: %d, want %d (%s): %s", row.name, method, path, who, st, exp, want[i], got)
			}
			cases++
		}
	}
	t.Logf("%d cases", cases)
}

// vmNames lists the names of the VMs of a GET /vms answer, sorted.
func vmNames(body string) string {
	var names []string
	for _, chunk := range strings.Split(body, "<vm href=")[1:] {
		_, rest, _ := strings.Cut(chunk, "<name>")
		name, _, _ := strings.Cut(rest, "</name>")
		names = append(names, name)
	}
	slices.Sort(names)
	return strings.Join(names, " ")
}

// TestPermissionsAPI: the permissions of every kind of object are granted
// (role by name or id, user by user_name or id), listed, read and revoked,
// pointing at their object as oVirt does; then the faults and the guard
// against granting more than one holds.
func TestPermissionsAPI(t *testing.T) {
	f := newAuthFixture(t, nil)
	dave := f.addUser("dave", "dave-pass")
	vm := f.create(f.admin, "/vms", vmXML("vm1", f.cluster))
	disk := f.create(f.admin, "/disks", `<disk><alias>l</alias><lun_storage><logical_units><logical_unit><address>a</address><target>iqn.x</target><lun_mapping>1</lun_mapping></logical_unit></logical_units></lun_storage></disk>`)
	host := f.create(f.admin, "/hosts", `<host><name>h1</name><address>h1:54321</address><cluster id="`+f.cluster+`"/></host>`)
	elems := []string{"<vm ", "<disk ", "<cluster ", "<data_center ", "<storage_domain ", "<host "}
	for _, sc := range []struct{ coll, id, elem string }{
		{"", "", ""}, {"vms", vm, "vm"}, {"disks", disk, "disk"}, {"clusters", f.cluster, "cluster"},
		{"datacenters", f.dc, "data_center"}, {"storagedomains", f.sd, "storage_domain"}, {"hosts", host, "host"},
	} {
		obj := ""
		if sc.coll != "" {
			obj = "/" + sc.coll + "/" + sc.id
		}
		body := f.must(f.admin, http.StatusCreated, "POST", obj+"/permissions", `<permission><role><name>UserRole</name></role><user><user_name>dave@internal</user_name></user></permission>`)
		pid := idOf(t, body)
		self := Prefix + obj + "/permissions/" + pid
		mustContain(t, body, `<permission href="`+self+`" id="`+pid+`">`, `<role href="`+Prefix+`/roles/`+authz.UserRoleID+`" id="`+authz.UserRoleID+`">`,
			`<user href="`+Prefix+`/users/`+dave+`" id="`+dave+`">`)
		for _, e := range elems {
			if want := sc.elem != "" && e == "<"+sc.elem+" "; strings.Contains(body, e) != want {
				t.Errorf("permission on %q: element %s shown: %v: %s", obj, e, !want, body)
			}
		}
		if sc.elem != "" {
			mustContain(t, body, `<`+sc.elem+` href="`+Prefix+obj+`" id="`+sc.id+`">`)
		}
		mustContain(t, f.must(f.admin, http.StatusOK, "GET", obj+"/permissions", ""), `<permission href="`+self+`"`)
		f.must(f.admin, http.StatusOK, "GET", obj+"/permissions/"+pid, "")
		f.must(f.admin, http.StatusConflict, "POST", obj+"/permissions", `<permission><role id="`+authz.UserRoleID+`"/><user id="`+dave+`"/></permission>`)
		f.must(f.admin, http.StatusOK, "DELETE", obj+"/permissions/"+pid, "")
		f.must(f.admin, http.StatusNotFound, "GET", obj+"/permissions/"+pid, "")
	}

	var adminPerm string
	for _, chunk := range strings.Split(f.must(f.admin, http.StatusOK, "GET", "/permissions", ""), "<permission href=")[1:] {
		if strings.Contains(chunk, authz.SuperUserID) {
			adminPerm = idOf(t, chunk)
		}
	}
	const unknown = "00000000-0000-0000-0000-00000000abcd"
	f.faults(f.admin, []fault{
		{"POST", "/vms/" + vm + "/permissions", `<permission/>`, 400, "Permission [role.id|name, user.id|user_name] required for add."},
		{"POST", "/vms/" + vm + "/permissions", `<permission><role><name>Nope</name></role><user id="` + dave + `"/></permission>`, 404, "Entity not found: role Nope"},
		{"POST", "/vms/" + vm + "/permissions", `<permission><role><name>UserRole</name></role><user id="` + unknown + `"/></permission>`, 404, "Entity not found: user"},
		{"POST", "/vms/" + vm + "/permissions", `<permission><role><name>UserRole</name></role><user><user_name>dave@ldap</user_name></user></permission>`, 404, "user dave@ldap"},
		{"POST", "/vms/" + unknown + "/permissions", `<permission><role><name>UserRole</name></role><user id="` + dave + `"/></permission>`, 404, "Entity not found: vm"},
		{"GET", "/hosts/" + unknown + "/permissions", "", 404, "Entity not found: host"},
		{"GET", "/vms/" + vm + "/permissions/" + adminPerm, "", 404, "Entity not found: permission"},
		{"DELETE", "/permissions/" + adminPerm, "", 409, "leave no SuperUser permission"},
	})

	// A UserVmManager manages the permissions of its VM, but grants only
	// what it holds there, and sees only what is near its VM.
	f.grant("/vms/"+vm, "UserVmManager", dave)
	d := f.login("dave@internal", "dave-pass")
	grant := func(role string) string {
		return `<permission><role><name>` + role + `</name></role><user id="` + dave + `"/></permission>`
	}
	mustContain(t, f.must(d, http.StatusForbidden, "POST", "/vms/"+vm+"/permissions", grant("SuperUser")), "Cannot add Permission. User is not authorized")
	f.must(d, http.StatusCreated, "POST", "/vms/"+vm+"/permissions", grant("UserRole"))
	f.must(d, http.StatusForbidden, "POST", "/permissions", grant("UserRole"))
	f.must(d, http.StatusOK, "GET", "/clusters/"+f.cluster+"/permissions", "")
	f.must(d, http.StatusNotFound, "GET", "/hosts/"+host+"/permissions", "")
}
