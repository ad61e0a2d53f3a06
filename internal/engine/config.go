package engine

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/govirt/govirt/internal/model"
	"github.com/govirt/govirt/internal/store"
)

// ConfigKey describes one engine configuration value, like an entry of
// oVirt's engine-config.
type ConfigKey struct {
	Name        string
	Description string
	PerVersion  bool
	// Default returns the value when none is stored.
	Default func(v model.Version) string
}

// ConfigVirtIOScsiEnabled is the per-version switch for virtio-scsi (the
// seed's 'VirtIOScsiEnabled'): true from cluster level 3.3.
const ConfigVirtIOScsiEnabled = "VirtIOScsiEnabled"

// ConfigKeys lists the values `govirt config` shows and changes.
var ConfigKeys = []ConfigKey{{
	Name:        ConfigVirtIOScsiEnabled,
	Description: "VirtIO-SCSI disks and controllers are available for VMs in clusters of this level",
	PerVersion:  true,
	Default: func(v model.Version) string {
		return strconv.FormatBool(!v.Less(model.Version33))
	},
}}

// ErrUnknownConfig reports a config key or version govirt does not have.
var ErrUnknownConfig = errors.New("unknown configuration value")

func configKey(name string) (ConfigKey, error) {
	for _, k := range ConfigKeys {
		if k.Name == name {
			return k, nil
		}
	}
	return ConfigKey{}, fmt.Errorf("%w: %s", ErrUnknownConfig, name)
}

// GetConfig returns a value for a compatibility version ("general" for
// version-independent keys).
func (e *Engine) GetConfig(ctx context.Context, name, version string) (string, error) {
	var out string
	err := e.st.View(ctx, func(tx store.Tx) error {
		var err error
		out, err = e.config(ctx, tx, name, version)
		return err
	})
	return out, err
}

func (e *Engine) config(ctx context.Context, tx store.Tx, name, version string) (string, error) {
	k, err := configKey(name)
	if err != nil {
		return "", err
	}
	v, err := model.ParseVersion(version)
	if k.PerVersion && (err != nil || !v.Supported()) {
		return "", fmt.Errorf("%w: version %q for %s", ErrUnknownConfig, version, name)
	}
	val, err := tx.GetConfig(ctx, name, version)
	if errors.Is(err, store.ErrNotFound) {
		return k.Default(v), nil
	}
	return val, err
}

// SetConfig changes a value, as oVirt's engine-config -s does.
func (e *Engine) SetConfig(ctx context.Context, name, version, value string) error {
	k, err := configKey(name)
	if err != nil {
		return err
	}
	if _, err := strconv.ParseBool(value); err != nil {
		return fmt.Errorf("%w: %s takes true or false, not %q", ErrUnknownConfig, k.Name, value)
	}
	return e.st.Tx(ctx, func(tx store.Tx) error {
		if _, err := e.config(ctx, tx, name, version); err != nil {
			return err
		}
		if err := tx.SetConfig(ctx, name, version, value); err != nil {
			return err
		}
		return e.audit(ctx, tx, model.AuditEvent{Code: "CONFIG_CHANGED",
			Message: fmt.Sprintf("Configuration value %s for version %s was set to %s by %s.", name, version, value, Caller(ctx))})
	})
}

// virtioSCSIEnabledFor reads VirtIOScsiEnabled for a cluster level.
func (e *Engine) virtioSCSIEnabledFor(ctx context.Context, tx store.Tx, v model.Version) (bool, error) {
	val, err := e.config(ctx, tx, ConfigVirtIOScsiEnabled, v.String())
	if err != nil {
		return false, err
	}
	return strconv.ParseBool(val)
}

// ConfigEntry is one key's value at one version, as `govirt config` shows it.
type ConfigEntry struct {
	Key, Version, Value string
	Default             bool // no stored value: the built-in default applies
}

// ListConfig returns every value of name (all keys when name is empty) for
// every version.
func (e *Engine) ListConfig(ctx context.Context, name string) ([]ConfigEntry, error) {
	var out []ConfigEntry
	err := e.st.View(ctx, func(tx store.Tx) error {
		for _, k := range ConfigKeys {
			if name != "" && k.Name != name {
				continue
			}
			for _, v := range model.Versions {
				val, err := tx.GetConfig(ctx, k.Name, v.String())
				def := errors.Is(err, store.ErrNotFound)
				if def {
					val, err = k.Default(v), nil
				}
				if err != nil {
					return err
				}
				out = append(out, ConfigEntry{Key: k.Name, Version: v.String(), Value: val, Default: def})
			}
		}
		if len(out) == 0 {
			return fmt.Errorf("%w: %s", ErrUnknownConfig, name)
		}
		return nil
	})
	return out, err
}
