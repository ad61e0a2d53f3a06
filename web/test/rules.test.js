import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  virtioScsiAvailability, diskInterfaces, systemGroups, privilegedScsi, sgioOf, scsiPolicyOf, permitTree, gib, shortAddress, pageSearch,
  passThrough, policyChoice, diskEdit, diskSaved, parseRules, ruleText, ruleFields, policyBody,
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
  const define = privilegedScsi(g, 'define SCSI command policies');
  assert.equal(define.ok, false);
  assert.match(define.reason, /"Manipulate SCSI I\/O Privileges" permission on the system to define SCSI command policies\.$/);
  assert.equal(privilegedScsi(new Set(['configure_scsi_generic_io']), 'define SCSI command policies').reason, '');
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

const lun = (extra) => ({ storage_type: 'lun', alias: 'l', description: '', ...extra });

test('pass-through and the policy a disk has', () => {
  for (const [d, shown, choice] of [
    [{ storage_type: 'image' }, '', ''],
    [undefined, '', ''],
    [lun({ sgio: 'disabled' }), 'No', ''],
    [lun({}), 'No', ''],
    [lun({ sgio: 'filtered', sgio_effective: 'filtered', scsi_policy: { id: 'filtered', name: 'filtered' } }), 'Yes', 'filtered'],
    [lun({ sgio: 'unfiltered', sgio_effective: 'unfiltered' }), 'Yes (privileged SCSI I/O)', 'unfiltered'],
    [lun({ sgio: 'unfiltered', sgio_effective: 'reservations', scsi_policy: { id: 'p1', name: 'reservations' } }), 'Yes (policy reservations)', 'reservations'],
    [lun({ sgio: 'filtered' }), 'Yes', 'filtered'],
  ]) {
    assert.equal(passThrough(d), shown, JSON.stringify(d));
    assert.equal(policyChoice(d), choice, JSON.stringify(d));
  }
});

test('edit disk body: only what changed, built-ins as sgio', () => {
  const d = lun({ alias: 'portal-lun', description: 'x', sgio: 'unfiltered', sgio_effective: 'reservations', scsi_policy: { name: 'reservations' } });
  for (const [fields, body] of [
    [{ alias: 'portal-lun', description: 'x', policy: 'reservations' }, {}],
    [{ alias: ' renamed ', description: 'x', policy: 'reservations' }, { alias: 'renamed' }],
    [{ alias: 'portal-lun', description: 'y', policy: 'reservations' }, { description: 'y' }],
    [{ alias: 'portal-lun', description: 'x', policy: 'filtered' }, { sgio: 'filtered' }],
    [{ alias: 'portal-lun', description: 'x', policy: 'unfiltered' }, { sgio: 'unfiltered' }],
    [{ alias: 'portal-lun', description: 'x', policy: 'trim' }, { scsi_policy: { name: 'trim' } }],
  ]) {
    assert.deepEqual(diskEdit(d, fields), body, JSON.stringify(fields));
  }
  const f = lun({ sgio: 'filtered', sgio_effective: 'filtered' });
  assert.deepEqual(diskEdit(f, { policy: 'reservations' }), { scsi_policy: { name: 'reservations' } });
  // No policy on an image or an emulated LUN, whatever the select says.
  assert.deepEqual(diskEdit({ storage_type: 'image', alias: 'a' }, { alias: 'a', policy: 'unfiltered' }), {});
  assert.deepEqual(diskEdit(lun({ sgio: 'disabled' }), { policy: 'filtered' }), {});
  assert.equal(diskSaved(d), 'portal-lun: the host enforces the SCSI command policy "reservations".');
  assert.equal(diskSaved({ id: 'i1', storage_type: 'image', alias: 'd1' }), 'd1 saved.');
  assert.equal(diskSaved(lun({ alias: '', id: 'i2', sgio: 'disabled' })), 'i2 saved.');
});

test('policy rules and the new policy body', () => {
  assert.deepEqual(parseRules(' unmap\n\n0x5f/0x01, persistent-reserve-in ,\n'), ['unmap', '0x5f/0x01', 'persistent-reserve-in']);
  assert.deepEqual(parseRules(undefined), []);
  assert.equal(ruleText({ rule: ['unmap', '0x93'] }), 'unmap, 0x93');
  assert.equal(ruleText(undefined), '');
  for (const [base, allow, deny] of [['filtered', true, true], ['unfiltered', false, true], ['none', true, false]]) {
    const f = ruleFields(base);
    assert.equal(f.allow.ok, allow, base);
    assert.equal(f.deny.ok, deny, base);
    for (const k of ['allow', 'deny']) if (!f[k].ok) assert.match(f[k].reason, /only (allow|deny) rules apply/);
  }
  assert.deepEqual(policyBody({ name: ' trim2 ', description: ' ', base: 'filtered', allow: 'unmap\nwrite-same-16', deny: 'inquiry' }),
    { name: 'trim2', base: 'filtered', allow: { rule: ['unmap', 'write-same-16'] }, deny: { rule: ['inquiry'] } });
  // Lists the base does not take are left out, as the dialog disables them.
  assert.deepEqual(policyBody({ name: 'nopr', description: 'no reservations', base: 'unfiltered', allow: 'unmap', deny: '0x5e, 0x5f' }),
    { name: 'nopr', description: 'no reservations', base: 'unfiltered', deny: { rule: ['0x5e', '0x5f'] } });
  assert.deepEqual(policyBody({ name: 'ro', description: '', base: 'none', allow: 'read-10', deny: 'write-10' }),
    { name: 'ro', base: 'none', allow: { rule: ['read-10'] } });
});
