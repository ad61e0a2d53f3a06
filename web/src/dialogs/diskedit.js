// The Edit Disk dialog, from the Disks view and a VM's Disks tab: alias,
// description and, for a pass-through LUN, the SCSI command policy
// (filtered, unfiltered or a custom one). The engine pushes a plugged
// disk's new policy to the host's iSCSI proxy at once. Custom policies are
// disabled, with the reason, without "Manipulate SCSI I/O Privileges" on
// the system; the API enforces that and the disk-level check of sgio.
import { h } from '../dom.js';
import { get, list, put } from '../api.js';
import { myGroups } from '../cache.js';
import { BUILT_IN_POLICIES, diskEdit, policyChoice, privilegedScsi } from '../rules.js';
import { field, form, input, modal, select } from '../ui.js';

/** POLICY_LABELS names the built-in policies as the dialogs offer them. */
export const POLICY_LABELS = {
  filtered: 'Filtered (the commands Linux allows unprivileged SG_IO users)',
  unfiltered: 'Unfiltered (every command: privileged SCSI I/O)',
};

/**
 * editDiskDialog edits the disk diskId; onDone(saved) gets the disk as the
 * API answered, with the policy the host enforces (sgio_effective).
 */
export async function editDiskDialog({ diskId, onDone }) {
  const [d, groups, policies] = await Promise.all([get(`/disks/${diskId}`), myGroups().catch(() => new Set()),
    list('/scsipolicies', 'scsi_policy').catch(() => [])]);
  const alias = input('edit-disk-alias', { value: d.alias || '' });
  const description = input('edit-disk-description', { value: d.description || '' });
  const current = policyChoice(d);
  let policy = null;
  let scsi = null;
  if (current) {
    const custom = privilegedScsi(groups, 'give a disk a custom SCSI command policy');
    policy = select('edit-disk-policy', [
      ...BUILT_IN_POLICIES.map((n) => ({ value: n, label: POLICY_LABELS[n] })),
      ...policies.filter((p) => p.built_in !== 'true').map((p) => ({
        value: p.name, label: `${p.name}${p.description ? ` \u2014 ${p.description}` : ''}`, disabled: !custom.ok,
      })),
    ], current);
    scsi = [
      field('SCSI Command Policy', policy, [
        'What the host\u2019s iSCSI proxy lets the guest send to the LUN. A plugged disk\u2019s policy changes at once, from the next command.',
        custom.ok ? null : h('span', { id: 'edit-disk-policy-reason' }, ` ${custom.reason}`)]),
      field('Enforced Now', h('span', { id: 'edit-disk-enforced', class: 'gv-mono' }, d.sgio_effective || current)),
    ];
  } else if (d.storage_type === 'lun') {
    scsi = field('SCSI Command Policy', h('span', { id: 'edit-disk-enforced' }, 'None: without SCSI pass-through the guest sees QEMU\u2019s emulated disk.'));
  }
  modal({
    title: 'Edit Virtual Disk', id: 'edit-disk-dialog',
    body: form(field('Alias', alias), field('Description', description), scsi),
    onOk: async () => {
      const body = diskEdit(d, { alias: alias.value, description: description.value, policy: policy && policy.value });
      const saved = Object.keys(body).length ? await put(`/disks/${d.id}`, body) : d;
      if (onDone) await onDone(saved);
    },
  });
}
