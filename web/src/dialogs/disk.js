// The New Virtual Disk and Attach Virtual Disks dialogs, each with Image and
// Direct LUN tabs. The interface list offers only what the VM's OS (and,
// on a running VM, hot-plug) and its VirtIO-SCSI allow; a LUN's "Allow
// Privileged SCSI I/O" is disabled, with the reason, without "Manipulate
// SCSI I/O Privileges". The API enforces all of it anyway.
import { h, replace } from '../dom.js';
import { list, post } from '../api.js';
import { myGroups, osByName, storageDomains } from '../cache.js';
import { INTERFACE_LABELS, diskInterfaces, gib, privilegedScsi, scsiPolicyOf, sgioOf } from '../rules.js';
import { check, field, form, group, input, modal, select, table, tabs } from '../ui.js';

const GiB = 2 ** 30;

/** interfaceField builds the interface select and its hint for a VM. */
async function interfaceField(vm, id) {
  const os = await osByName(vm.os && vm.os.type);
  const { offered, left } = diskInterfaces({
    os, virtioScsiEnabled: vm.virtio_scsi && vm.virtio_scsi.enabled === 'true', running: vm.status === 'up',
  });
  const sel = select(id, offered.map((i) => ({ value: i, label: INTERFACE_LABELS[i] || i })), offered[0]);
  const hint = left.length ? `Not offered: ${left.map((l) => `${INTERFACE_LABELS[l.iface]} (${l.why})`).join('; ')}.` : '';
  return { sel, el: field('Interface', sel, hint) };
}

export async function newDiskDialog({ vm, onDone }) {
  const [sdMap, groups, policies] = await Promise.all([storageDomains(), myGroups().catch(() => new Set()),
    list('/scsipolicies', 'scsi_policy').catch(() => [])]);
  const img = await interfaceField(vm, 'disk-interface');
  const lunIf = await interfaceField(vm, 'lun-interface');
  const size = input('disk-size', { type: 'number', min: 1, value: 1 });
  const alias = input('disk-alias');
  const description = input('disk-description');
  const sd = select('disk-sd', [...sdMap.values()].map((s) => ({ value: s.id, label: s.name })));
  const format = select('disk-format', [{ value: 'cow', label: 'Thin Provision' }, { value: 'raw', label: 'Preallocated' }], 'cow');
  const active = check('disk-active', 'Activate Disk(s)', { checked: true });
  const bootable = check('disk-bootable', 'Bootable');
  const shareableImg = check('disk-shareable', 'Shareable');

  const lunAlias = input('lun-alias');
  const address = input('lun-address', { value: '127.0.0.1' });
  const port = input('lun-port', { type: 'number', value: 3260 });
  const target = input('lun-target', { placeholder: 'iqn.2026-11.example:target' });
  const lun = input('lun-number', { type: 'number', min: 0, value: 1 });
  const lunId = input('lun-id', { placeholder: 'optional: the LUN\u2019s id (WWID)' });
  const serial = input('lun-serial', { placeholder: 'optional: the LUN\u2019s SCSI serial' });
  const lunActive = check('lun-active', 'Activate Disk(s)', { checked: true });
  const lunShareable = check('lun-shareable', 'Shareable');
  const priv = privilegedScsi(groups);
  const privBox = h('div');
  let passThrough;
  let privileged;
  let policy;
  function drawScsi() {
    const scsi = lunIf.sel.value === 'virtio_scsi';
    const pt = passThrough ? passThrough.control.checked && scsi : scsi;
    passThrough = check('lun-passthrough', 'Enable SCSI Pass-Through', {
      checked: pt, disabled: !scsi, onchange: drawScsi,
      reason: scsi ? 'The guest sends SCSI commands to the LUN itself (device="lun").' : 'Needs the VirtIO-SCSI interface.',
    });
    const ptOn = passThrough.control.checked;
    const reason = !priv.ok ? priv.reason : !ptOn ? 'Needs SCSI pass-through.' : 'Unfiltered SG_IO: the guest may send any SCSI command.';
    privileged = check('lun-privileged', 'Allow Privileged SCSI I/O', {
      checked: priv.ok && ptOn && privileged && privileged.control.checked, disabled: !priv.ok || !ptOn, reason, onchange: drawScsi,
    });
    // With privileged I/O, which commands beyond the filtered set: all
    // (unfiltered) or a custom SCSI command policy.
    const custom = policies.filter((p) => p.built_in !== 'true');
    const was = policy ? policy.value : 'unfiltered';
    policy = select('lun-policy', [{ value: 'unfiltered', label: 'Unfiltered (every command)' },
      ...custom.map((p) => ({ value: p.name, label: `${p.name}${p.description ? ` — ${p.description}` : ''}` }))], was);
    policy.control.disabled = !privileged.control.checked;
    replace(privBox, passThrough, privileged,
      field('SCSI Command Policy', policy, 'What the host’s iSCSI proxy lets the guest send beyond the filtered set.'));
  }
  lunIf.sel.control.addEventListener('change', drawScsi);
  drawScsi();

  let kind = 'image';
  const t = tabs([
    { id: 'image', title: 'Image', render: () => form(field('Size (GiB)', size), field('Alias', alias), field('Description', description),
      img.el, field('Storage Domain', sd), field('Allocation Policy', format), group('', active, bootable, shareableImg)) },
    { id: 'lun', title: 'Direct LUN', render: () => form(field('Alias', lunAlias), lunIf.el, field('Address', address), field('Port', port),
      field('Target', target), field('LUN', lun), field('LUN ID', lunId),
      field('Serial', serial, 'With the serial, the guest\u2019s device name of the LUN is reported as its logical name.'), group('SCSI', privBox), group('', lunActive, lunShareable)) },
  ], { onChange: (id) => { kind = id; } });

  modal({
    title: 'New Virtual Disk', id: 'disk-dialog', body: t.el,
    onOk: async () => {
      let body;
      if (kind === 'image') {
        body = {
          interface: img.sel.value, active: String(active.control.checked), bootable: String(bootable.control.checked),
          disk: {
            alias: alias.value.trim(), description: description.value, format: format.value,
            provisioned_size: String(Math.round(Number(size.value) * GiB)), shareable: String(shareableImg.control.checked),
            storage_domains: { storage_domain: [{ id: sd.value }] },
          },
        };
      } else {
        const unit = { address: address.value.trim(), port: String(port.value), target: target.value.trim(), lun_mapping: String(lun.value) };
        if (lunId.value.trim()) unit.id = lunId.value.trim();
        if (serial.value.trim()) unit.serial = serial.value.trim();
        const disk = {
          alias: lunAlias.value.trim(), shareable: String(lunShareable.control.checked),
          lun_storage: { type: 'iscsi', logical_units: { logical_unit: [unit] } },
        };
        const sgio = sgioOf(passThrough.control.checked, privileged.control.checked);
        if (sgio) disk.sgio = sgio;
        const chosen = scsiPolicyOf(passThrough.control.checked, privileged.control.checked, policy.value);
        if (chosen) disk.scsi_policy = chosen;
        body = { interface: lunIf.sel.value, active: String(lunActive.control.checked), disk };
      }
      await post(`/vms/${vm.id}/diskattachments`, body);
      if (onDone) await onDone();
    },
  });
}

/** attachDiskDialog lists the disks not attached to vm already (attached: their ids). */
export async function attachDiskDialog({ vm, attached = [], onDone }) {
  const ifc = await interfaceField(vm, 'attach-interface');
  const active = check('attach-active', 'Activate Disk(s)', { checked: true });
  const search = input('attach-search', { placeholder: 'Alias (* wildcard)' });
  let chosen = null;
  const boxes = { image: h('div'), lun: h('div') };
  let kind = 'image';
  async function load() {
    const q = search.value.trim();
    const all = await list(`/disks?max=200${q ? `&search=${encodeURIComponent(`name=${q}`)}` : ''}`, 'disk');
    for (const k of ['image', 'lun']) {
      const rows = all.filter((d) => d.storage_type === k && !attached.includes(d.id));
      const draw = () => replace(boxes[k], table({
        id: `attach-${k}-table`, rows, selected: chosen, onSelect: (r) => { chosen = r.id; draw(); }, empty: 'No disks',
        columns: [
          { title: 'Alias', cell: (d) => d.alias }, { title: 'Description', cell: (d) => d.description || '' },
          { title: 'Size', cell: (d) => gib(d.provisioned_size) }, { title: 'Shareable', cell: (d) => (d.shareable === 'true' ? 'Yes' : 'No') },
        ],
      }));
      draw();
    }
  }
  search.control.addEventListener('keydown', (e) => { if (e.key === 'Enter') load(); });
  await load();
  const t = tabs([
    { id: 'image', title: 'Image', render: () => boxes.image },
    { id: 'lun', title: 'Direct LUN', render: () => boxes.lun },
  ], { onChange: (id) => { kind = id; } });
  modal({
    title: 'Attach Virtual Disks', id: 'attach-dialog', size: 'lg',
    body: h('div', {}, form(field('Search', search), ifc.el, group('', active)), t.el),
    onOk: async () => {
      if (!chosen) throw Object.assign(new Error('Select a disk to attach.'), { reason: `No ${kind === 'lun' ? 'LUN' : 'image'} selected` });
      await post(`/vms/${vm.id}/diskattachments`, { interface: ifc.sel.value, active: String(active.control.checked), disk: { id: chosen } });
      if (onDone) await onDone();
    },
  });
}
