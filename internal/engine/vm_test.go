package engine

import (
	"testing"

	"github.com/govirt/govirt/internal/apperr"
	"github.com/govirt/govirt/internal/model"
	"github.com/govirt/govirt/internal/store/sqlstore/sqltest"
)

func TestAddVMVirtIOSCSIDefault(t *testing.T) {
	tests := []struct {
		name      string
		level     model.Version
		os        string
		request   *bool
		configOff bool
		wantCtrl  int
		wantKey   string
	}{
		{name: "on by default at 4.8", level: model.Version48, os: "rhel_9x64", wantCtrl: 1},
		{name: "on by default at 3.3", level: model.Version33, os: "debian", wantCtrl: 1},
		{name: "off at 3.2", level: model.Version32, os: "debian", wantCtrl: 0},
		{name: "asked for at 3.2", level: model.Version32, os: "debian", request: bptr(true), wantKey: apperr.VirtIOSCSINotForClusterLevel},
		{name: "off for windows xp", level: model.Version48, os: "windows_xp", wantCtrl: 0},
		{name: "asked for on windows xp", level: model.Version48, os: "windows_xp", request: bptr(true), wantKey: apperr.OSDoesNotSupportVirtIOSCSI},
		{name: "asked for on rhel 3", level: model.Version48, os: "rhel_3", request: bptr(true), wantKey: apperr.OSDoesNotSupportVirtIOSCSI},
		{name: "refused by request", level: model.Version48, os: "debian", request: bptr(false), wantCtrl: 0},
		{name: "config value off", level: model.Version48, os: "debian", configOff: true, wantCtrl: 0},
		{name: "config value off, asked for", level: model.Version48, os: "debian", configOff: true, request: bptr(true), wantKey: apperr.VirtIOSCSINotForClusterLevel},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newEnv(t, sqltest.SQLite(t), tt.level)
			if tt.configOff {
				notErr(t, v.e.SetConfig(v.ctx, ConfigVirtIOScsiEnabled, tt.level.String(), "false"))
			}
			name := "vm" + string(rune('a'+i))
			_, err := v.e.AddVM(v.ctx, VMParams{Name: &name, ClusterID: &v.cluster.ID, OSType: &tt.os, VirtioSCSIEnabled: tt.request})
			if tt.wantKey != "" {
				wantKey(t, err, tt.wantKey)
				return
			}
			notErr(t, err)
		})
	}
}

func TestAddVMControllersFollowIOThreads(t *testing.T) {
	each(t, func(t *testing.T, v *env) {
		vm := v.vm(t, "vm1", "debian", func(p *VMParams) { p.IOThreads, p.VirtioSCSIMultiQueues = iptr(3), iptr(2) })
		got := controllersOf(v.devices(t, vm.ID))
		want := []model.ControllerSpec{{Index: 0, Queues: 2, IOThread: 1}, {Index: 1, Queues: 2, IOThread: 2}, {Index: 2, Queues: 2, IOThread: 3}}
		if len(got) != len(want) {
			t.Fatalf("controllers %+v, want %+v", got, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("controller %d = %+v, want %+v", i, got[i], want[i])
			}
		}
	})
}

func TestVMFieldValidation(t *testing.T) {
	v := newEnv(t, sqltest.SQLite(t), model.Version48)
	for _, tt := range []struct {
		name string
		mut  func(*VMParams)
		key  string
	}{
		{"bad name", func(p *VMParams) { p.Name = ptr("a b") }, apperr.NameInvalid},
		{"unknown os", func(p *VMParams) { p.OSType = ptr("plan9") }, apperr.BadParameter},
		{"tiny memory", func(p *VMParams) { p.MemoryBytes = ptr(int64(1)) }, apperr.BadParameter},
		{"no cpus", func(p *VMParams) { p.VCPUs = iptr(0) }, apperr.BadParameter},
		{"iothreads", func(p *VMParams) { p.IOThreads = iptr(17) }, apperr.IOThreadsInvalid},
		{"queues", func(p *VMParams) { p.VirtioSCSIMultiQueues = iptr(-2) }, apperr.MultiQueuesInvalid},
		{"missing cluster", func(p *VMParams) { p.ClusterID = ptr("nope") }, apperr.ObjectNotFound},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := VMParams{Name: ptr("ok"), ClusterID: &v.cluster.ID}
			tt.mut(&p)
			_, err := v.e.AddVM(v.ctx, p)
			wantKey(t, err, tt.key)
		})
	}
	v.vm(t, "taken", "debian")
	_, err := v.e.AddVM(v.ctx, VMParams{Name: ptr("taken"), ClusterID: &v.cluster.ID})
	wantKey(t, err, apperr.NameAlreadyUsed)
}

func TestUpdateVMVirtIOSCSI(t *testing.T) {
	each(t, func(t *testing.T, v *env) {
		vm := v.vm(t, "vm1", "debian")
		d := v.imageDisk(t, "data1")
		v.attach(t, vm.ID, d.ID, model.InterfaceVirtIOSCSI)

		// Disabling with a plugged virtio-scsi disk is refused, and changes nothing.
		_, err := v.e.UpdateVM(v.ctx, vm.ID, VMParams{VirtioSCSIEnabled: bptr(false)})
		wantKey(t, err, apperr.CannotDisableVirtIOSCSI)
		if n := len(controllersOf(v.devices(t, vm.ID))); n != 1 {
			t.Fatalf("%d controllers after a refused update", n)
		}

		// Unplugged, the disk no longer blocks it.
		_, err = v.e.HotUnplug(v.ctx, vm.ID, d.ID)
		notErr(t, err)
		_, err = v.e.UpdateVM(v.ctx, vm.ID, VMParams{VirtioSCSIEnabled: bptr(false)})
		notErr(t, err)
		if n := len(controllersOf(v.devices(t, vm.ID))); n != 0 {
			t.Fatalf("%d controllers after disabling", n)
		}
		_, err = v.e.HotPlug(v.ctx, vm.ID, d.ID)
		wantKey(t, err, apperr.VirtIOSCSIDisabled)

		// Absent flag keeps the setting; enabling brings the controller back.
		_, err = v.e.UpdateVM(v.ctx, vm.ID, VMParams{Description: ptr("x")})
		notErr(t, err)
		if n := len(controllersOf(v.devices(t, vm.ID))); n != 0 {
			t.Fatalf("an update without the flag changed controllers: %d", n)
		}
		_, err = v.e.UpdateVM(v.ctx, vm.ID, VMParams{VirtioSCSIEnabled: bptr(true)})
		notErr(t, err)
		_, err = v.e.HotPlug(v.ctx, vm.ID, d.ID)
		notErr(t, err)

		// An OS without virtio-scsi cannot be chosen while it is on.
		_, err = v.e.UpdateVM(v.ctx, vm.ID, VMParams{OSType: ptr("windows_xp")})
		wantKey(t, err, apperr.OSDoesNotSupportVirtIOSCSI)
	})
}

func TestConfigValues(t *testing.T) {
	v := newEnv(t, sqltest.SQLite(t), model.Version48)
	for ver, want := range map[string]string{"3.2": "false", "3.3": "true", "4.8": "true"} {
		got, err := v.e.GetConfig(v.ctx, ConfigVirtIOScsiEnabled, ver)
		notErr(t, err)
		if got != want {
			t.Errorf("VirtIOScsiEnabled for %s = %s, want %s", ver, got, want)
		}
	}
	notErr(t, v.e.SetConfig(v.ctx, ConfigVirtIOScsiEnabled, "4.8", "false"))
	if got, _ := v.e.GetConfig(v.ctx, ConfigVirtIOScsiEnabled, "4.8"); got != "false" {
		t.Errorf("after set: %s", got)
	}
	for _, bad := range [][3]string{{"Nope", "4.8", "true"}, {ConfigVirtIOScsiEnabled, "9.9", "true"}, {ConfigVirtIOScsiEnabled, "4.8", "maybe"}} {
		if err := v.e.SetConfig(v.ctx, bad[0], bad[1], bad[2]); err == nil {
			t.Errorf("SetConfig%v accepted", bad)
		}
	}
}
