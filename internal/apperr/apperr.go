// Package apperr is govirt's catalogue of user-facing errors, after oVirt's
// AppErrors: each error has a message key (oVirt's, where oVirt has one), an
// English text with ${action}, ${type} and other variables, and a kind that
// the REST API maps to an HTTP status in one table. Validation returns these;
// nothing else reaches a user as a fault.
package apperr

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Kind classifies an error as oVirt's ErrorMessageHelper does; the API turns
// it into a status code.
type Kind int

// Kinds of errors.
const (
	KindBadParameter     Kind = iota + 1 // 400
	KindConstraint                       // 400: a constraint violation
	KindNotSupported                     // 400
	KindConflict                         // 409: the state of an object forbids it
	KindNoPermission                     // 403
	KindNoAuthentication                 // 401
	KindNotFound                         // 404
)

// Action is the ${action} of a message: what the user tried.
type Action string

// Actions, as oVirt's VAR__ACTION__ values read.
const (
	ActionAdd       Action = "add"
	ActionUpdate    Action = "update"
	ActionRemove    Action = "remove"
	ActionAttach    Action = "attach"
	ActionDetach    Action = "detach"
	ActionHotPlug   Action = "hot plug"
	ActionHotUnplug Action = "hot unplug"
	ActionRun       Action = "run"
	ActionStop      Action = "stop"
	ActionShutdown  Action = "shutdown"
	ActionMigrate   Action = "migrate"
)

// Type is the ${type} of a message: what it was tried on.
type Type string

// Entity types, as oVirt's VAR__TYPE__ values read.
const (
	TypeVM            Type = "VM"
	TypeDisk          Type = "Virtual Disk"
	TypeCluster       Type = "Cluster"
	TypeDataCenter    Type = "Data Center"
	TypeHost          Type = "Host"
	TypeStorageDomain Type = "Storage Domain"
	TypeRole          Type = "Role"
	TypePermission    Type = "Permission"
	TypeUser          Type = "User"
	TypeSCSIPolicy    Type = "SCSI Policy"
)

// Error is one user-facing error.
type Error struct {
	Key    string
	Kind   Kind
	Action Action
	Type   Type
	Vars   map[string]string
}

// New makes the error for key, which must be in the catalogue.
func New(key string, action Action, typ Type, vars ...string) *Error {
	e := &Error{Key: key, Action: action, Type: typ, Vars: map[string]string{}}
	m, ok := catalogue[key]
	if !ok {
		panic("apperr: unknown message key " + key)
	}
	e.Kind = m.kind
	for i := 0; i+1 < len(vars); i += 2 {
		e.Vars[vars[i]] = vars[i+1]
	}
	return e
}

// Error renders the English text.
func (e *Error) Error() string {
	text := catalogue[e.Key].text
	repl := []string{"${action}", string(e.Action), "${type}", string(e.Type)}
	keys := make([]string, 0, len(e.Vars))
	for k := range e.Vars {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		repl = append(repl, "${"+k+"}", e.Vars[k])
	}
	return strings.NewReplacer(repl...).Replace(text)
}

// Is makes errors.Is(err, &Error{Key: k}) match by key.
func (e *Error) Is(target error) bool {
	var t *Error
	return errors.As(target, &t) && t.Key == e.Key
}

// KeyOf returns the message key of err, or "" if err is not an *Error.
func KeyOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Key
	}
	return ""
}

// KindOf returns err's kind, or 0 when err is not a user-facing error.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return 0
}

// Keys lists the catalogue, for tests and documentation.
func Keys() []string {
	out := make([]string, 0, len(catalogue))
	for k := range catalogue {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Text returns a key's template.
func Text(key string) (string, Kind, error) {
	m, ok := catalogue[key]
	if !ok {
		return "", 0, fmt.Errorf("apperr: unknown key %q", key)
	}
	return m.text, m.kind, nil
}
