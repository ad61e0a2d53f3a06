package authz

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/govirt/govirt/internal/store"
)

// NewInternalUser makes a user of the internal domain with a fresh id and
// the password hashed; the caller stores it.
func NewInternalUser(name, email, password string) (User, error) {
	if err := validateName(name); err != nil {
		return User{}, err
	}
	hash, err := HashPassword(password)
	if err != nil {
		return User{}, fmt.Errorf("user %s: %w", name, err)
	}
	return User{
		ID: uuid.NewString(), Name: name, Domain: InternalDomain, Namespace: InternalNamespace,
		Email: email, PasswordHash: hash, CreatedAt: time.Now().UTC().Truncate(time.Microsecond),
	}, nil
}

// CheckLogin authenticates a user name (bob@internal) and password, for
// the SSO token endpoint and HTTP Basic, and returns the user. A wrong
// name or password is ErrBadCredentials either way, and costs the same
// time; a user none of whose roles holds LOGIN is ErrLoginNotAllowed, as
// in oVirt.
func CheckLogin(ctx context.Context, st store.Store, userName, password string) (User, error) {
	name, domain, err := ParseUserName(userName)
	if err != nil {
		_, _ = CheckPassword(dummyHash, password)
		return User{}, fmt.Errorf("%w (%w)", ErrBadCredentials, err)
	}
	var u User
	var canLogin bool
	err = st.View(ctx, func(tx store.Tx) error {
		var err error
		if u, err = tx.GetUserByName(ctx, name, domain); err != nil {
			return err
		}
		s, err := NewSubject(ctx, tx, u.ID)
		if err != nil {
			return err
		}
		canLogin, err = s.CanLogin(ctx)
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		_, _ = CheckPassword(dummyHash, password)
		return User{}, ErrBadCredentials
	}
	if err != nil {
		return User{}, fmt.Errorf("log in %s: %w", userName, err)
	}
	// The password is checked outside the transaction: it takes tens of
	// milliseconds, which a read snapshot need not be held for.
	ok, err := CheckPassword(u.PasswordHash, password)
	if err != nil {
		return User{}, fmt.Errorf("log in %s: %w", userName, err)
	}
	if !ok {
		return User{}, ErrBadCredentials
	}
	if !canLogin {
		return User{}, fmt.Errorf("%s: %w", userName, ErrLoginNotAllowed)
	}
	return u, nil
}

// SetPassword replaces a user's password and ends their sessions, so a
// stolen token dies with the old password. Checking the old password, when
// users change their own, is the caller's part (CheckLogin).
func SetPassword(ctx context.Context, st store.Store, userID, password string) error {
	hash, err := HashPassword(password)
	if err != nil {
		return fmt.Errorf("set password of user %s: %w", userID, err)
	}
	err = st.Tx(ctx, func(tx store.Tx) error {
		u, err := tx.GetUser(ctx, userID)
		if err != nil {
			return err
		}
		u.PasswordHash = hash
		if err := tx.UpdateUser(ctx, u); err != nil {
			return err
		}
		_, err = tx.DeleteUserTokens(ctx, userID)
		return err
	})
	if err != nil {
		return fmt.Errorf("set password of user %s: %w", userID, err)
	}
	return nil
}

// Bootstrap prepares a store for first use: it seeds the predefined roles
// and, when admin@internal does not exist, creates it with adminPassword
// and SuperUser on System. created tells whether it did. An existing admin
// is left as it is, permissions included: an administrator who took
// SuperUser from admin meant it. Run it at every start.
func Bootstrap(ctx context.Context, st store.Store, adminPassword string) (created bool, err error) {
	var exists bool
	err = st.Tx(ctx, func(tx store.Tx) error {
		if err := Seed(ctx, tx); err != nil {
			return err
		}
		_, err := tx.GetUserByName(ctx, AdminName, InternalDomain)
		switch {
		case err == nil:
			exists = true
		case errors.Is(err, store.ErrNotFound):
		default:
			return err
		}
		return nil
	})
	if err != nil || exists {
		return false, wrapBootstrap(err)
	}
	// Hashed outside the write transaction, which on SQLite holds the
	// database's only write lock.
	admin, err := NewInternalUser(AdminName, "", adminPassword)
	if err != nil {
		return false, wrapBootstrap(fmt.Errorf("admin@internal does not exist yet and needs a password: %w", err))
	}
	err = st.Tx(ctx, func(tx store.Tx) error {
		created = false
		if _, err := tx.GetUserByName(ctx, AdminName, InternalDomain); err == nil {
			return nil // another engine got there first
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if err := tx.InsertUser(ctx, admin); err != nil {
			return err
		}
		created = true
		return tx.InsertPermission(ctx, Permission{
			ID: uuid.NewString(), UserID: admin.ID, RoleID: SuperUserID,
			ObjectType: store.ObjectSystem, ObjectID: SystemID,
		})
	})
	if err != nil {
		return false, wrapBootstrap(err)
	}
	return created, nil
}

func wrapBootstrap(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("bootstrap authorization: %w", err)
}
