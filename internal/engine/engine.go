// Package engine holds govirt's commands: every change to the model goes
// through one of them. A command validates everything before its first side
// effect, runs in one store transaction under the VM's lock, records an audit
// event, and calls hosts only through the small Host interface, so that it is
// tested here against a recording fake and end to end against real agents.
package engine

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/govirt/govirt/internal/model"
	"github.com/govirt/govirt/internal/store"
)

// Deps are what the engine is built from.
type Deps struct {
	Store store.Store
	Hosts HostDialer
	// Enroller adds remote agents (POST /hosts); nil: hosts are registered
	// without contacting their agent, as unit tests of the API do.
	Enroller Enroller
	Log      *slog.Logger
	// Now and NewID are replaceable for deterministic tests.
	Now   func() time.Time
	NewID func() string
}

// Engine runs commands. It is safe for concurrent use.
type Engine struct {
	st       store.Store
	hosts    HostDialer
	enroller Enroller
	log      *slog.Logger
	now      func() time.Time
	newID    func() string
	locks    keyedMutex
	// runID names this engine process in pending hot-plug rows, so that a
	// restarted engine tells its own plugs in flight from those a crash
	// interrupted.
	runID string
	// migrated remembers migrations between host reports (migrate_report.go).
	migrated migrationMemory
	// crowdedAt is CrowdedControllerDisks; tests lower it.
	crowdedAt int
}

// Store is the engine's view of the database: reads of a VM's device rows,
// attachments and disks through it are served from the engine's row cache
// when the VM has not changed (vmcache.go). The API reads through it.
func (e *Engine) Store() store.Store { return e.st }

// New builds an engine.
func New(d Deps) *Engine {
	e := &Engine{st: newCachingStore(d.Store), hosts: d.Hosts, enroller: d.Enroller, log: d.Log, now: d.Now, newID: d.NewID, runID: uuid.NewString(), crowdedAt: CrowdedControllerDisks}
	if e.log == nil {
		e.log = slog.Default()
	}
	if e.now == nil {
		e.now = func() time.Time { return time.Now().UTC() }
	}
	if e.newID == nil {
		e.newID = uuid.NewString
	}
	return e
}

type callerKey struct{}

// WithCaller names the user a command runs for; audit events carry it.
func WithCaller(ctx context.Context, user string) context.Context {
	return context.WithValue(ctx, callerKey{}, user)
}

// Caller returns the user set by WithCaller, or "system".
func Caller(ctx context.Context) string {
	if u, ok := ctx.Value(callerKey{}).(string); ok && u != "" {
		return u
	}
	return "system"
}

// keyedMutex serialises commands per VM inside one engine process; the
// store's LockVM does the same across processes.
type keyedMutex struct {
	mu    sync.Mutex
	locks map[string]*refMutex
}

type refMutex struct {
	sync.Mutex
	refs int
}

func (k *keyedMutex) lock(key string) func() {
	k.mu.Lock()
	if k.locks == nil {
		k.locks = map[string]*refMutex{}
	}
	m := k.locks[key]
	if m == nil {
		m = &refMutex{}
		k.locks[key] = m
	}
	m.refs++
	k.mu.Unlock()
	m.Lock()
	return func() {
		m.Unlock()
		k.mu.Lock()
		m.refs--
		if m.refs == 0 {
			delete(k.locks, key)
		}
		k.mu.Unlock()
	}
}

// audit records an event in the command's transaction, so the log never
// claims a change that was rolled back.
func (e *Engine) audit(ctx context.Context, tx store.Tx, ev model.AuditEvent) error {
	ev.Time = e.now()
	if ev.Severity == "" {
		ev.Severity = "normal"
	}
	if ev.User == "" {
		ev.User = Caller(ctx)
	}
	if _, err := tx.InsertEvent(ctx, ev); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	e.log.Info(ev.Message, "code", ev.Code, "user", ev.User)
	return nil
}
