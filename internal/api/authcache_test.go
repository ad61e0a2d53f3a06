package api

import (
	"context"
	"net/http"
	"testing"

	"github.com/govirt/govirt/internal/authz"
	"github.com/govirt/govirt/internal/store"
	"github.com/govirt/govirt/internal/store/sqlstore"
)

// TestCachedAuthFollowsEveryChange: the API keeps what it read about a
// caller, so each change below, made by another process straight in the
// database (the CLI, a second engine), must take effect at the caller's
// very next request, and a change through the API as well.
func TestCachedAuthFollowsEveryChange(t *testing.T) {
	f := newAuthFixture(t, nil)
	ctx := context.Background()
	other, err := sqlstore.Open(ctx, f.dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	direct := func(what string, fn func(tx store.Tx) error) {
		t.Helper()
		if err := other.Tx(ctx, fn); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}

	bob := f.addUser("bob", "bob-password-1")
	perm := f.grant("", "SuperUser", bob)
	alice := f.addUser("alice", "alice-password-1")
	f.grant("/vms/../datacenters/"+f.dc, "UserRole", alice) // not System: every check reads objects
	bobTok := f.login("bob@internal", "bob-password-1")
	bobBasic := cred{user: "bob@internal", pass: "bob-password-1"}
	for range 3 { // warm every cache
		f.must(bobTok, http.StatusOK, "GET", "/clusters/"+f.cluster, "")
		f.must(bobBasic, http.StatusOK, "GET", "/clusters/"+f.cluster, "")
	}

	// Revoking bob's System permission outside the API.
	direct("revoke", func(tx store.Tx) error { return tx.DeletePermission(ctx, perm) })
	f.must(bobTok, http.StatusNotFound, "GET", "/clusters/"+f.cluster, "")
	f.must(bobBasic, http.StatusUnauthorized, "GET", "/clusters/"+f.cluster, "") // no role left with LOGIN

	// Granting him a role of his own with SuperUser's groups, then taking
	// the role's groups away.
	direct("grant", func(tx store.Tx) error {
		su, err := tx.GetRoleByName(ctx, "SuperUser")
		if err != nil {
			return err
		}
		r := store.Role{ID: "role-bob", Name: "BobsRole", ActionGroups: su.ActionGroups}
		if err := tx.InsertRole(ctx, r); err != nil {
			return err
		}
		return tx.InsertPermission(ctx, store.Permission{ID: "p-bob", UserID: bob, RoleID: r.ID, ObjectType: store.ObjectSystem, ObjectID: authz.SystemID})
	})
	f.must(bobTok, http.StatusOK, "GET", "/clusters/"+f.cluster, "")
	f.must(bobTok, http.StatusCreated, "POST", "/vms", `<vm><name>by-bob</name><cluster id="`+f.cluster+`"/></vm>`)
	direct("strip the role", func(tx store.Tx) error {
		r, err := tx.GetRole(ctx, "role-bob")
		if err != nil {
			return err
		}
		r.ActionGroups = []int{int(authz.Login)}
		return tx.UpdateRole(ctx, r)
	})
	st, body := f.call(bobTok, "POST", "/vms", `<vm><name>by-bob-2</name><cluster id="`+f.cluster+`"/></vm>`)
	if st != http.StatusForbidden {
		t.Fatalf("create after the role lost its groups: %d %s, want 403", st, body)
	}

	// Revoking the token outside the API ends the session at once.
	direct("revoke token", func(tx store.Tx) error { return tx.DeleteToken(ctx, authz.TokenHash(bobTok.token)) })
	f.must(bobTok, http.StatusUnauthorized, "GET", "/clusters/"+f.cluster, "")

	// A user below System is checked against objects every time: alice
	// sees the data center's cluster until her permission goes.
	aliceTok := f.login("alice@internal", "alice-password-1")
	f.must(aliceTok, http.StatusOK, "GET", "/clusters/"+f.cluster, "")
	f.must(f.admin, http.StatusOK, "DELETE", "/users/"+alice, "")
	f.must(aliceTok, http.StatusUnauthorized, "GET", "/clusters/"+f.cluster, "")
}
