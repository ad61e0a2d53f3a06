package authz_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/govirt/govirt/internal/authz"
	"github.com/govirt/govirt/internal/store"
)

func TestParseUserName(t *testing.T) {
	for in, want := range map[string]string{
		"bob@internal":       "bob",
		"bob@internal-authz": "bob",
		"bob":                "bob",
	} {
		name, domain, err := authz.ParseUserName(in)
		if err != nil || name != want || domain != authz.InternalDomain {
			t.Errorf("ParseUserName(%q) = %q, %q, %v", in, name, domain, err)
		}
	}
	for in, want := range map[string]error{
		"bob@example.org": authz.ErrUnknownProfile,
		"@internal":       authz.ErrInvalid,
		"b b@internal":    authz.ErrInvalid,
		"a@b@internal":    authz.ErrInvalid,
	} {
		if _, _, err := authz.ParseUserName(in); !errors.Is(err, want) {
			t.Errorf("ParseUserName(%q) = %v, want %v", in, err, want)
		}
	}
	if got := authz.UserName(authz.User{Name: "bob", Domain: authz.InternalDomain}); got != "bob@internal" {
		t.Errorf("UserName = %q", got)
	}
}

func TestCheckLogin(t *testing.T) {
	forEachStore(t, func(t *testing.T, s store.Store) {
		ctx := t.Context()
		topology(t, s)
		bob := addUser(t, s, "bob", grant{authz.UserRoleID, authz.VM("vm1")})
		addUser(t, s, "nobody") // no role, so no LOGIN
		if u, err := authz.CheckLogin(ctx, s, "bob@internal", "secret-bob"); err != nil || u.ID != bob.ID {
			t.Errorf("CheckLogin(bob) = %v, %v", u.ID, err)
		}
		for _, c := range []struct {
			user, password string
			want           error
		}{
			{"bob@internal", "wrong", authz.ErrBadCredentials},
			{"bob@internal", "", authz.ErrBadCredentials},
			{"alice@internal", "secret-alice", authz.ErrBadCredentials},
			{"bob@ldap", "secret-bob", authz.ErrBadCredentials},
			{"nobody@internal", "secret-nobody", authz.ErrLoginNotAllowed},
			// A user without LOGIN learns nothing from a wrong password.
			{"nobody@internal", "wrong", authz.ErrBadCredentials},
		} {
			if _, err := authz.CheckLogin(ctx, s, c.user, c.password); !errors.Is(err, c.want) {
				t.Errorf("CheckLogin(%s, %q) = %v, want %v", c.user, c.password, err, c.want)
			}
		}
	})
}

func TestSetPassword(t *testing.T) {
	forEachStore(t, func(t *testing.T, s store.Store) {
		ctx := t.Context()
		bob := addUser(t, s, "bob", grant{authz.UserRoleID, authz.System()})
		tok, _, err := authz.IssueToken(ctx, s, bob.ID, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if err := authz.SetPassword(ctx, s, bob.ID, "new secret"); err != nil {
			t.Fatal(err)
		}
		if _, err := authz.CheckLogin(ctx, s, "bob", "secret-bob"); !errors.Is(err, authz.ErrBadCredentials) {
			t.Errorf("old password: %v, want ErrBadCredentials", err)
		}
		if _, err := authz.CheckLogin(ctx, s, "bob", "new secret"); err != nil {
			t.Errorf("new password: %v", err)
		}
		if _, err := authz.Authenticate(ctx, s, tok); !errors.Is(err, authz.ErrInvalidToken) {
			t.Errorf("a token issued before the change: %v, want ErrInvalidToken", err)
		}
		if err := authz.SetPassword(ctx, s, "nobody", "x"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("SetPassword(missing user) = %v, want ErrNotFound", err)
		}
		if err := authz.SetPassword(ctx, s, bob.ID, ""); !errors.Is(err, authz.ErrInvalid) {
			t.Errorf("SetPassword(empty) = %v, want ErrInvalid", err)
		}
	})
}

func TestBootstrap(t *testing.T) {
	forEachStore(t, func(t *testing.T, s store.Store) {
		ctx := t.Context()
		if _, err := authz.Bootstrap(ctx, s, ""); !errors.Is(err, authz.ErrInvalid) {
			t.Errorf("Bootstrap without a password on an empty store: %v, want ErrInvalid", err)
		}
		created, err := authz.Bootstrap(ctx, s, "admin-pw")
		if err != nil || !created {
			t.Fatalf("Bootstrap = %v, %v; want created", created, err)
		}
		admin, err := authz.CheckLogin(ctx, s, "admin@internal", "admin-pw")
		if err != nil {
			t.Fatal(err)
		}
		mustTx(t, s, func(ctx context.Context, tx store.Tx) error {
			var az authz.Authorizer
			ok, err := az.Allowed(ctx, tx, admin.ID, authz.ConfigureSCSIGenericIO, authz.System())
			if !ok {
				t.Error("admin@internal lacks CONFIGURE_SCSI_GENERIC_IO on System")
			}
			return err
		})
		// Again: nothing to create, and the password is not needed nor
		// changed.
		created, err = authz.Bootstrap(ctx, s, "")
		if err != nil || created {
			t.Errorf("second Bootstrap = %v, %v; want not created", created, err)
		}
		if _, err := authz.CheckLogin(ctx, s, "admin@internal", "admin-pw"); err != nil {
			t.Errorf("after the second Bootstrap: %v", err)
		}
		mustTx(t, s, func(ctx context.Context, tx store.Tx) error {
			ps, err := tx.ListPermissions(ctx, store.PermissionFilter{UserID: admin.ID})
			if len(ps) != 1 || ps[0].RoleID != authz.SuperUserID || ps[0].ObjectID != authz.SystemID {
				t.Errorf("admin's permissions: %+v", ps)
			}
			return err
		})
	})
}
