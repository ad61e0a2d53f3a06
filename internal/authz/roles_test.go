package authz_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/govirt/govirt/internal/authz"
	"github.com/govirt/govirt/internal/store"
)

func TestPredefinedRoles(t *testing.T) {
	roles := authz.PredefinedRoles()
	byName := map[string]authz.Role{}
	for _, r := range roles {
		if _, dup := byName[r.Name]; dup {
			t.Errorf("%s: duplicate name", r.Name)
		}
		byName[r.Name] = r
		if !r.ReadOnly || !authz.IsPredefined(r.ID) {
			t.Errorf("%s: not read-only or not predefined", r.Name)
		}
		if !slices.IsSorted(r.ActionGroups) || len(slices.Compact(slices.Clone(r.ActionGroups))) != len(r.ActionGroups) {
			t.Errorf("%s: action groups %v not a sorted set", r.Name, r.ActionGroups)
		}
		// Every predefined role may log in; a user role holds no
		// administrative group.
		if !authz.HasGroup(r, authz.Login) {
			t.Errorf("%s: no LOGIN", r.Name)
		}
		for _, g := range authz.Groups(r) {
			if !g.Known() || (!r.Administrative && g.Administrative()) {
				t.Errorf("%s: holds %s (known %v, administrative %v)", r.Name, g, g.Known(), g.Administrative())
			}
		}
		// Only SuperUser and DataCenterAdmin may change sgio.
		want := r.Name == "SuperUser" || r.Name == "DataCenterAdmin"
		if authz.HasGroup(r, authz.ConfigureSCSIGenericIO) != want {
			t.Errorf("%s: CONFIGURE_SCSI_GENERIC_IO %v, want %v", r.Name, !want, want)
		}
	}
	for _, name := range []string{"SuperUser", "DataCenterAdmin", "ClusterAdmin", "StorageAdmin", "HostAdmin",
		"ReadOnlyAdmin", "UserRole", "PowerUserRole", "UserVmManager", "DiskOperator", "DiskCreator", "VmCreator"} {
		if _, ok := byName[name]; !ok {
			t.Errorf("no predefined role %s", name)
		}
	}
	if len(byName["SuperUser"].ActionGroups) != len(authz.ActionGroups()) {
		t.Error("SuperUser does not hold every action group")
	}
	userRole := []int{int(authz.ChangeVMCD), int(authz.ConnectToVM), int(authz.RebootVM), int(authz.StopVM),
		int(authz.ShutDownVM), int(authz.RunVM), int(authz.ResetVM), int(authz.Login)}
	if diff := cmp.Diff(userRole, byName["UserRole"].ActionGroups); diff != "" {
		t.Errorf("UserRole (-want +got):\n%s", diff)
	}
	if byName["SuperUser"].ID != "00000000-0000-0000-0000-000000000001" || byName["UserRole"].ID != "00000000-0000-0000-0001-000000000001" {
		t.Error("predefined role ids differ from oVirt's")
	}
}

func TestSeed(t *testing.T) {
	forEachStore(t, func(t *testing.T, s store.Store) {
		// forEachStore seeded once; a second run changes nothing.
		mustTx(t, s, func(ctx context.Context, tx store.Tx) error { return authz.Seed(ctx, tx) })
		list := func() []authz.Role {
			var out []authz.Role
			mustTx(t, s, func(ctx context.Context, tx store.Tx) (err error) {
				out, err = tx.ListRoles(ctx, store.ListOptions{})
				return err
			})
			return out
		}
		want := authz.PredefinedRoles()
		slices.SortFunc(want, func(a, b authz.Role) int { return strings.Compare(a.Name, b.Name) })
		if diff := cmp.Diff(want, list()); diff != "" {
			t.Errorf("after seeding twice (-want +got):\n%s", diff)
		}
		// A predefined role changed behind govirt's back is restored.
		mustTx(t, s, func(ctx context.Context, tx store.Tx) error {
			r, err := tx.GetRole(ctx, authz.DataCenterAdminID)
			if err != nil {
				return err
			}
			r.ActionGroups = []int{int(authz.Login)}
			r.Description = "tampered"
			return tx.UpdateRole(ctx, r)
		})
		mustTx(t, s, func(ctx context.Context, tx store.Tx) error { return authz.Seed(ctx, tx) })
		if diff := cmp.Diff(want, list()); diff != "" {
			t.Errorf("after reseeding a changed role (-want +got):\n%s", diff)
		}
		// A custom role named like a predefined one that is missing.
		mustTx(t, s, func(ctx context.Context, tx store.Tx) error {
			if err := tx.DeleteRole(ctx, authz.VMCreatorID); err != nil {
				return err
			}
			return tx.InsertRole(ctx, authz.Role{ID: "custom", Name: "VmCreator", ActionGroups: []int{1}})
		})
		err := s.Tx(t.Context(), func(tx store.Tx) error { return authz.Seed(t.Context(), tx) })
		if !errors.Is(err, store.ErrConflict) {
			t.Errorf("seeding over a custom role's name: %v, want ErrConflict", err)
		}
	})
}

func TestValidateRole(t *testing.T) {
	if r, err := authz.NewRole("Sgio", "", true, authz.ConfigureSCSIGenericIO, authz.Login, authz.Login); err != nil ||
		!slices.Equal(r.ActionGroups, []int{1105, 1300}) {
		t.Errorf("NewRole = %+v, %v", r, err)
	}
	for _, c := range []struct {
		name string
		r    authz.Role
	}{
		{"no name", authz.Role{ActionGroups: []int{1300}}},
		{"no groups", authz.Role{Name: "x", ActionGroups: []int{}}},
		{"unknown group", authz.Role{Name: "x", Administrative: true, ActionGroups: []int{4}}},
		{"admin group in a user role", authz.Role{Name: "x", ActionGroups: []int{1300, 1105}}},
		{"read-only", authz.Role{Name: "x", ReadOnly: true, ActionGroups: []int{1300}}},
	} {
		if err := authz.ValidateRole(c.r); !errors.Is(err, authz.ErrInvalid) {
			t.Errorf("%s: ValidateRole = %v, want ErrInvalid", c.name, err)
		}
	}
	for _, r := range authz.PredefinedRoles() {
		if err := authz.CheckMutable(r); !errors.Is(err, authz.ErrReadOnlyRole) {
			t.Errorf("CheckMutable(%s) = %v, want ErrReadOnlyRole", r.Name, err)
		}
	}
	if err := authz.CheckMutable(authz.Role{ID: "custom", Name: "mine"}); err != nil {
		t.Errorf("CheckMutable(custom) = %v", err)
	}
}
