import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  virtioScsiAvailability, diskInterfaces, systemGroups, privilegedScsi, sgioOf, scsiPolicyOf, permitTree, gib, shortAddress, pageSearch,
} from '../src/rules.js';

const debian = { name: 'debian', description: 'Debian GNU/Linux',
  disk_interfaces: { disk_interface: ['ide', 'virtio', 'virtio_scsi', 'sata'] },
  hot_plug_disk_interfaces: { disk_interface: ['virtio', 'virtio_scsi'] } };
const xp = { name: 'windows_xp', description: 'Windows XP',
  disk_interfaces: { disk_interface: ['ide', 'virtio'] }, hot_plug_disk_interfaces: { disk_interface: ['virtio'] } };
const l48 = { id: '4.8', cluster_features: { cluster_feature: [{ name: 'virtio_scsi' }] } };
const l32 = { id: '3.2', cluster_features: { cluster_feature: [] } };

test('virtio-scsi availability', () => {
  for (const [os, level, ok, re] of [
    [debian, l48, true, /^$/],
    [xp, l48, false, /Windows XP has no VirtIO-SCSI driver/],
    [debian, l32, false, /version 3.2 does not support/],
    [xp, l32, false, /version 3.2/],
  ]) {
    const got = virtioScsiAvailability(os, level, level.id);
    assert.equal(got.ok, ok);
    assert.match(got.reason, re);
  }
});

test('disk interfaces offered', () => {
  for (const [args, offered] of [
    [{ os: debian, virtioScsiEnabled: true, running: false }, ['virtio_scsi', 'virtio', 'sata', 'ide']],
    [{ os: debian, virtioScsiEnabled: false, running: false }, ['virtio', 'sata', 'ide']],
    [{ os: debian, virtioScsiEnabled: true, running: true }, ['virtio_scsi', 'virtio']],
    [{ os: xp, virtioScsiEnabled: false, running: false }, ['virtio', 'ide']],
    [{ os: xp, virtioScsiEnabled: false, running: true }, ['virtio']],
  ]) {
    assert.deepEqual(diskInterfaces(args).offered, offered);
  }
  const why = diskInterfaces({ os: debian, virtioScsiEnabled: true, running: true }).left.find((l) => l.iface === 'ide').why;
  assert.match(why, /hot-plug/);
});

test('system groups and the SCSI I/O privilege', () => {
  const perms = [
    { role: { id: 'r-user' } },
    { role: { id: 'r-admin' }, vm: { id: 'vm1' } },
  ];
  const permits = { 'r-user': ['login', 'create_vm'], 'r-admin': ['configure_scsi_generic_io'] };
  const g = systemGroups(perms, permits);
  assert.deepEqual([...g].sort(), ['create_vm', 'login']);
  assert.equal(privilegedScsi(g).ok, false);
  assert.match(privilegedScsi(g).reason, /Manipulate SCSI I\/O Privileges/);
  assert.equal(privilegedScsi(systemGroups([{ role: { id: 'r-admin' } }], permits)).ok, true);
});

test('sgio, tree, formatting, search', () => {
  assert.equal(sgioOf(false, true), undefined);
  assert.equal(sgioOf(true, false), 'filtered');
  assert.equal(sgioOf(true, true), 'unfiltered');
  assert.equal(scsiPolicyOf(true, true, 'reservations').name, 'reservations');
  assert.equal(scsiPolicyOf(true, true, 'unfiltered'), undefined);
  assert.equal(scsiPolicyOf(true, false, 'reservations'), undefined);
  assert.equal(scsiPolicyOf(false, true, 'reservations'), undefined);
  const tree = permitTree([{ name: 'a', category: 'VM' }, { name: 'b', category: 'Disk' }, { name: 'c', category: 'VM' }]);
  assert.deepEqual(tree.map((c) => [c.category, c.items.map((i) => i.name)]), [['VM', ['a', 'c']], ['Disk', ['b']]]);
  assert.equal(gib(2 ** 30), '1 GiB');
  assert.equal(gib(1.5 * 2 ** 30), '1.5 GiB');
  assert.equal(gib(0), '');
  assert.equal(gib(16 * 2 ** 20), '16 MiB');
  assert.equal(shortAddress('{bus=0, controller=1, type=drive, target=2, unit=3}'), '1:0:2:3');
  assert.equal(shortAddress(undefined), '');
  assert.equal(pageSearch('web', 1), 'name=web*');
  assert.equal(pageSearch('', 3), 'page 3');
  assert.equal(pageSearch('a*b', 2), 'name=a*b page 2');
});
