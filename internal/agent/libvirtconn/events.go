package libvirtconn

import (
	"context"
	"fmt"
	"time"

	"github.com/digitalocean/go-libvirt"
	"github.com/google/uuid"

	"github.com/govirt/govirt/internal/agent"
)

// subscriberBuffer is how many events a slow subscriber may lag behind.
const subscriberBuffer = 256

// startPump subscribes once to the domain events the agent needs and fans
// them out. go-libvirt ignores the domain filter, so every subscriber sees
// every domain and filters by UUID itself.
func (c *Conn) startPump(ctx context.Context) error {
	ids := []libvirt.DomainEventID{
		libvirt.DomainEventIDLifecycle,
		libvirt.DomainEventIDDeviceRemoved,
		libvirt.DomainEventIDDeviceRemovalFailed,
	}
	for _, id := range ids {
		ch, err := c.l.SubscribeEvents(ctx, id, libvirt.OptDomain{})
		if err != nil {
			return fmt.Errorf("subscribe to libvirt events %d: %w", id, err)
		}
		go c.pump(ch)
	}
	return nil
}

func (c *Conn) pump(ch <-chan any) {
	for raw := range ch {
		ev, ok := translate(raw)
		if !ok {
			continue
		}
		c.mu.Lock()
		for _, s := range c.subs {
			select {
			case s <- ev:
			default:
				c.log.Warn("dropping libvirt event for a slow subscriber", "vm", ev.VMID, "kind", ev.Kind)
			}
		}
		c.mu.Unlock()
	}
}

func translate(raw any) (agent.Event, bool) {
	now := time.Now()
	switch m := raw.(type) {
	case *libvirt.DomainEventCallbackLifecycleMsg:
		return agent.Event{VMID: uuid.UUID(m.Msg.Dom.UUID).String(), Kind: agent.EventLifecycle,
			State: lifecycleState(libvirt.DomainEventType(m.Msg.Event)), Time: now}, true
	case *libvirt.DomainEventCallbackDeviceRemovedMsg:
		return agent.Event{VMID: uuid.UUID(m.Msg.Dom.UUID).String(), Kind: agent.EventDeviceRemoved,
			Alias: m.Msg.DevAlias, Time: now}, true
	case *libvirt.DomainEventCallbackDeviceRemovalFailedMsg:
		return agent.Event{VMID: uuid.UUID(m.Dom.UUID).String(), Kind: agent.EventDeviceRemovalFailed,
			Alias: m.DevAlias, Time: now}, true
	}
	return agent.Event{}, false
}

func lifecycleState(t libvirt.DomainEventType) agent.State {
	switch t {
	case libvirt.DomainEventStarted, libvirt.DomainEventResumed:
		return agent.StateRunning
	case libvirt.DomainEventSuspended, libvirt.DomainEventPmsuspended:
		return agent.StatePaused
	case libvirt.DomainEventShutdown:
		return agent.StateShutdown
	case libvirt.DomainEventStopped, libvirt.DomainEventUndefined:
		return agent.StateShutoff
	case libvirt.DomainEventCrashed:
		return agent.StateCrashed
	}
	return agent.StateUnknown
}

// Subscribe implements agent.Hypervisor.
func (c *Conn) Subscribe(ctx context.Context) <-chan agent.Event {
	ch := make(chan agent.Event, subscriberBuffer)
	c.mu.Lock()
	id := c.nextID
	c.nextID++
	c.subs[id] = ch
	c.mu.Unlock()
	go func() {
		<-ctx.Done()
		c.mu.Lock()
		delete(c.subs, id)
		c.mu.Unlock()
		close(ch)
	}()
	return ch
}
