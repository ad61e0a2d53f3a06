package authz_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/govirt/govirt/internal/authz"
)

func TestActionGroupTable(t *testing.T) {
	groups := authz.ActionGroups()
	names := map[string]bool{}
	for i, gi := range groups {
		if i > 0 && gi.Group <= groups[i-1].Group {
			t.Errorf("%s: ids not strictly ascending", gi.Name)
		}
		if names[gi.Name] {
			t.Errorf("%s: duplicate name", gi.Name)
		}
		names[gi.Name] = true
		if gi.Name != strings.ToUpper(gi.Name) || gi.Label == "" || gi.Tooltip == "" {
			t.Errorf("%d: name %q, label %q, tooltip %q", gi.Group, gi.Name, gi.Label, gi.Tooltip)
		}
		if !slices.Contains(authz.Categories(), gi.Category) {
			t.Errorf("%s: category %q is not in the dialog's tree", gi.Name, gi.Category)
		}
		if gi.Type != authz.AdminType && gi.Type != authz.UserType {
			t.Errorf("%s: type %d", gi.Name, gi.Type)
		}
		if got, ok := gi.Group.Info(); !ok || got != gi {
			t.Errorf("%s: Info() = %+v, %v", gi.Name, got, ok)
		}
	}
	// The caller's copy is its own.
	groups[0].Name = "changed"
	if authz.CreateVM.String() != "CREATE_VM" {
		t.Error("ActionGroups returned the table itself")
	}
}

func TestOVirtIDs(t *testing.T) {
	for _, c := range []struct {
		g    authz.ActionGroup
		name string
		id   int
	}{
		{authz.CreateVM, "CREATE_VM", 1}, {authz.RunVM, "RUN_VM", 22}, {authz.StopVM, "STOP_VM", 18},
		{authz.ShutDownVM, "SHUT_DOWN_VM", 19}, {authz.ConfigureVMStorage, "CONFIGURE_VM_STORAGE", 10},
		{authz.CreateHost, "CREATE_HOST", 100}, {authz.CreateCluster, "CREATE_CLUSTER", 400},
		{authz.ManipulateUsers, "MANIPULATE_USERS", 500}, {authz.ManipulatePermissions, "MANIPULATE_PERMISSIONS", 502},
		{authz.CreateStorageDomain, "CREATE_STORAGE_DOMAIN", 600}, {authz.CreateStoragePool, "CREATE_STORAGE_POOL", 700},
		{authz.EditStoragePoolConfiguration, "EDIT_STORAGE_POOL_CONFIGURATION", 702},
		{authz.ConfigureEngine, "CONFIGURE_ENGINE", 800}, {authz.CreateDisk, "CREATE_DISK", 1100},
		{authz.DeleteDisk, "DELETE_DISK", 1104}, {authz.ConfigureSCSIGenericIO, "CONFIGURE_SCSI_GENERIC_IO", 1105},
		{authz.Login, "LOGIN", 1300},
	} {
		if int(c.g) != c.id || c.g.String() != c.name {
			t.Errorf("%s = %d %q, want %d", c.name, int(c.g), c.g.String(), c.id)
		}
	}
}

func TestConfigureSCSIGenericIO(t *testing.T) {
	gi, ok := authz.ConfigureSCSIGenericIO.Info()
	want := authz.GroupInfo{
		Group: 1105, Name: "CONFIGURE_SCSI_GENERIC_IO", Label: "Manipulate SCSI I/O Privileges",
		Tooltip: "Allow to change SCSI I/O privileges", Type: authz.AdminType, Category: authz.CategoryDisk,
		ViewsChildren: true,
	}
	if !ok || gi != want {
		t.Errorf("Info() = %+v, %v; want %+v", gi, ok, want)
	}
	if !authz.ConfigureSCSIGenericIO.Administrative() || authz.ConfigureSCSIGenericIO.PermitName() != "configure_scsi_generic_io" {
		t.Error("CONFIGURE_SCSI_GENERIC_IO: not administrative, or wrong permit name")
	}
}

func TestParseActionGroup(t *testing.T) {
	for in, want := range map[string]authz.ActionGroup{
		"CONFIGURE_SCSI_GENERIC_IO": authz.ConfigureSCSIGenericIO,
		"configure_scsi_generic_io": authz.ConfigureSCSIGenericIO,
		"login":                     authz.Login,
	} {
		if got, err := authz.ParseActionGroup(in); err != nil || got != want {
			t.Errorf("ParseActionGroup(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "VM_BASIC_OPERATIONS", "1105", "configure scsi generic io"} {
		if _, err := authz.ParseActionGroup(in); err == nil {
			t.Errorf("ParseActionGroup(%q): no error", in)
		}
	}
	unknown := authz.ActionGroup(4)
	if unknown.Known() || unknown.String() != "ActionGroup(4)" || !unknown.Administrative() {
		t.Errorf("unknown group 4: Known %v, String %q, Administrative %v", unknown.Known(), unknown, unknown.Administrative())
	}
}
