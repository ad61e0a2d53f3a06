// A VM's detail: General and Disks tabs. The Disks tab shows each
// attachment (alias, size, interface, active, the guest's logical name, the
// drive address, pass-through), edits a disk (its SCSI command policy
// changes live) and hot-plugs: Activate and Deactivate show progress until
// the guest has the device or has released it.
import { h, replace } from '../dom.js';
import { get, list, post, put } from '../api.js';
import { clusters, hosts, osByName } from '../cache.js';
import { diskSaved, gib, passThrough, shortAddress } from '../rules.js';
import { alert, button, status, table, tabs, toolbar, yesNo, spinner } from '../ui.js';
import { vmDialog } from '../dialogs/vm.js';
import { attachDiskDialog, newDiskDialog } from '../dialogs/disk.js';
import { editDiskDialog } from '../dialogs/diskedit.js';

/** How long the Disks tab waits for the guest to show a plugged disk. */
export const GUEST_WAIT_MS = 180000;

export function vmDetailView(el, params, { navigate }) {
  let vm = null;
  let atts = [];
  let selected = null;
  const disks = new Map(); // disk id -> disk, read once per disk
  const pending = new Map(); // disk id -> {op, since, phase}
  const head = h('div', { class: 'gv-head-box' });
  const message = h('div');
  const disksBox = h('div');
  const general = h('div');
  let tab = params.tab === 'disks' ? 'disks' : 'general';
  let fast = 0;

  const fail = (e) => replace(message, alert('danger', e.reason || 'Error', e.detail || e.message, 'view-error'));
  const act = (fn) => async () => { replace(message); try { await fn(); await refresh(); } catch (e) { fail(e); } };

  const t = tabs([
    { id: 'general', title: 'General', render: () => general },
    { id: 'disks', title: 'Disks', render: () => disksBox },
  ], { onChange: (id) => { tab = id; history.replaceState(null, '', `/vms/${params.id}${id === 'disks' ? '/disks' : ''}`); } });
  replace(el,
    h('a', { href: '/vms', onclick: (e) => { e.preventDefault(); navigate('/vms'); } }, '\u2039 Virtual Machines'),
    head, message, t.el);
  if (tab === 'disks') t.select('disks');

  function drawHead() {
    replace(head, h('div', { class: 'gv-head' },
      h('h1', { class: 'pf-v6-c-title pf-m-xl', id: 'vm-title' }, vm.name), status(vm.status),
      button('Edit', () => vmDialog({ vm, onDone: refresh }), { id: 'vm-edit' }),
      button('Run', act(() => post(`/vms/${vm.id}/start`)), { id: 'vm-run', disabled: vm.status !== 'down' }),
      button('Shutdown', act(() => post(`/vms/${vm.id}/shutdown`)), { id: 'vm-shutdown', disabled: vm.status === 'down' }),
      button('Power Off', act(() => post(`/vms/${vm.id}/stop`)), { id: 'vm-stop', disabled: vm.status === 'down' })));
  }

  async function drawGeneral() {
    const [hostMap, clMap, os] = await Promise.all([hosts(), clusters(), osByName(vm.os && vm.os.type)]);
    const topo = vm.cpu && vm.cpu.topology;
    const item = (k, v) => h('div', { class: 'pf-v6-c-description-list__group' },
      h('dt', { class: 'pf-v6-c-description-list__term' }, h('span', { class: 'pf-v6-c-description-list__text' }, k)),
      h('dd', { class: 'pf-v6-c-description-list__description' }, h('div', { class: 'pf-v6-c-description-list__text' }, v)));
    replace(general, h('dl', { class: 'pf-v6-c-description-list pf-m-horizontal pf-m-2-col-on-lg' },
      item('Name', vm.name), item('Description', vm.description || ''), item('Status', status(vm.status)),
      item('Host', vm.host ? (hostMap.get(vm.host.id) || {}).name || vm.host.id : ''),
      item('Cluster', (clMap.get(vm.cluster && vm.cluster.id) || {}).name || ''),
      item('Operating System', (os && os.description) || (vm.os && vm.os.type) || ''),
      item('Memory', gib(vm.memory)), item('vCPUs', topo ? String(topo.sockets * topo.cores * topo.threads) : ''),
      item('VirtIO-SCSI Enabled', yesNo(vm.virtio_scsi && vm.virtio_scsi.enabled)),
      item('I/O Threads', String((vm.io && vm.io.threads) || 0)),
      item('VirtIO-SCSI Multi Queues', vm.virtio_scsi_multi_queues_enabled === 'true' ? (vm.virtio_scsi_multi_queues || 'automatic') : 'off')));
  }

  function activeCell(a) {
    const p = pending.get(a.id);
    if (p) {
      const text = p.phase === 'plugging' ? (p.op === 'activate' ? 'Plugging\u2026' : 'Unplugging\u2026') : 'Waiting for the guest\u2026';
      return h('span', { class: 'gv-status', 'data-pending': p.op },
        spinner('sm', text), text);
    }
    return h('span', { class: a.active === 'true' ? 'gv-arrow-up' : 'gv-arrow-down', 'data-active': a.active }, a.active === 'true' ? ' Active' : ' Inactive');
  }

  const columns = [
    { title: 'Alias', cell: (a) => (disks.get(a.id) || {}).alias || a.id },
    { title: 'Size', cell: (a) => { const d = disks.get(a.id) || {}; return gib(d.provisioned_size || (d.lun_storage && d.lun_storage.logical_units && d.lun_storage.logical_units.logical_unit[0].size)); } },
    { title: 'Interface', cell: (a) => a.interface },
    { title: 'Active', cell: activeCell },
    { title: 'Logical Name', cell: (a) => h('span', { class: 'gv-mono', 'data-logical-name': a.logical_name || '' }, a.logical_name || '') },
    { title: 'Drive Address', cell: (a) => h('span', { class: 'gv-mono', title: a.address || '' }, shortAddress(a.address)) },
    { title: 'Pass-Through', cell: (a) => passThrough(disks.get(a.id)) },
  ];

  function drawDisks() {
    const sel = atts.find((a) => a.id === selected);
    const running = vm && vm.status === 'up';
    replace(disksBox,
      toolbar(
        button('New', () => newDiskDialog({ vm, onDone: refresh }), { id: 'disk-new', variant: 'primary' }),
        button('Attach', () => attachDiskDialog({ vm, attached: atts.map((a) => a.id), onDone: refresh }), { id: 'disk-attach' }),
        button('Edit', () => editDiskDialog({ diskId: selected, onDone: edited }).catch(fail), { id: 'disk-edit', disabled: !sel }),
        button('Activate', () => plug(true), { id: 'disk-activate', disabled: !sel || sel.active === 'true' || pending.has(selected) }),
        button('Deactivate', () => plug(false), { id: 'disk-deactivate', disabled: !sel || sel.active !== 'true' || pending.has(selected) }),
        running ? h('span', { class: 'pf-v6-c-helper-text' }, 'The VM is running: activating and deactivating hot-plug the disk.') : null),
      table({ id: 'disk-table', columns, rows: atts.map((a) => ({ ...a, alias: (disks.get(a.id) || {}).alias })), selected,
        onSelect: (r) => { selected = r.id; drawDisks(); }, empty: 'No disks' }));
  }

  // edited keeps the disk the Edit Disk dialog saved and says which policy
  // the host enforces now.
  async function edited(saved) {
    disks.set(saved.id, saved);
    replace(message, alert('success', 'Disk saved', diskSaved(saved), 'view-success'));
    await refresh();
  }

  async function plug(active) {
    const id = selected;
    const op = active ? 'activate' : 'deactivate';
    pending.set(id, { op, since: Date.now(), phase: 'plugging' });
    replace(message);
    drawDisks();
    try {
      await put(`/vms/${vm.id}/diskattachments/${id}`, { active: String(active) });
      pending.set(id, { op, since: Date.now(), phase: 'guest' });
      fast = Date.now() + GUEST_WAIT_MS;
      await refresh();
    } catch (e) {
      pending.delete(id);
      fail(e);
      drawDisks();
    }
  }

  // settle ends a hot-plug's progress once the guest shows the result: a
  // logical name for a plugged disk (the guest agent reports it), none for
  // an unplugged one; or when the wait is over.
  function settle() {
    for (const [id, p] of pending) {
      if (p.phase !== 'guest') continue;
      const a = atts.find((x) => x.id === id);
      const done = !a || (p.op === 'activate' ? a.active === 'true' && (a.logical_name || vm.status !== 'up')
        : a.active !== 'true' && !a.logical_name);
      if (done) pending.delete(id);
      else if (Date.now() - p.since > GUEST_WAIT_MS) {
        pending.delete(id);
        replace(message, alert('warning', 'The guest has not reported the change yet',
          'The engine changed the disk; the guest agent did not confirm within 3 minutes.', 'view-warning'));
      }
    }
  }

  async function refresh() {
    vm = await get(`/vms/${params.id}`);
    atts = await list(`/vms/${params.id}/diskattachments`, 'disk_attachment');
    await Promise.all(atts.filter((a) => !disks.has(a.id)).map(async (a) => disks.set(a.id, await get(`/disks/${a.id}`))));
    const alias = (a) => (disks.get(a.id) || {}).alias || a.id;
    atts.sort((a, b) => alias(a).localeCompare(alias(b)));
    settle();
    drawHead();
    drawDisks();
    await drawGeneral();
  }
  // While a hot-plug waits for the guest, poll every second rather than
  // at the shell's pace.
  const quick = setInterval(() => { if (pending.size && Date.now() < fast) refresh().catch(() => {}); }, 1000);
  refresh().catch(fail);
  return { refresh: () => refresh().catch(() => {}), destroy: () => clearInterval(quick) };
}
