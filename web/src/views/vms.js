// The Virtual Machines view: a paged table (oVirt's "page N" search) with
// status icons, refreshed live, and the VM actions and dialogs.
import { h, replace } from '../dom.js';
import { list, post } from '../api.js';
import { hosts, operatingSystems } from '../cache.js';
import { pageSearch } from '../rules.js';
import { button, input, pager, status, table, toolbar, yesNo, alert, spinner } from '../ui.js';
import { vmDialog } from '../dialogs/vm.js';

/** PAGE_SIZE is how many VMs one page shows, as oVirt's default 100. */
export const PAGE_SIZE = 100;

/** FIRST_ROWS is what the first paint shows: a screenful (src/prefetch.js asks for the same). */
export const FIRST_ROWS = 25;

/** vmRow is what the table shows of a VM. */
export function vmColumns(hostMap, osMap, onOpen) {
  return [
    { title: 'Name', cell: (v) => h('a', { href: `/vms/${v.id}`, onclick: (e) => { e.preventDefault(); onOpen(v); } }, v.name) },
    { title: 'Status', cell: (v) => status(v.status) },
    { title: 'Host', cell: (v) => (v.host ? (hostMap.get(v.host.id) || {}).name || '' : '') },
    { title: 'OS', cell: (v) => { const t = v.os && v.os.type; return (osMap.get(t) || {}).description || t || ''; } },
    { title: 'VirtIO-SCSI', cell: (v) => yesNo(v.virtio_scsi && v.virtio_scsi.enabled) },
    { title: 'Disks', cell: (v) => String(((v.disk_attachments && v.disk_attachments.disk_attachment) || []).length) },
  ];
}

export function vmsView(el, _params, { navigate }) {
  let page = 1;
  let name = '';
  let selected = null;
  let rows = [];
  let first = true; // the first load of the view
  let marked = false; // a frame with rows was drawn
  const open = (v) => navigate(`/vms/${v.id}`);
  const search = input('vm-search', { placeholder: 'Name (* wildcard)' });
  search.control.addEventListener('keydown', (e) => { if (e.key === 'Enter') { name = search.value.trim(); page = 1; refresh(); } });
  const message = h('div');
  const sel = () => rows.find((r) => r.id === selected);
  const act = (fn) => async () => {
    replace(message);
    try { await fn(); await refresh(); } catch (e) { replace(message, alert('danger', e.reason || 'Error', e.detail || e.message, 'view-error')); }
  };
  // The search box stays put while the buttons follow the selection, so
  // live refreshes never take the focus from someone typing.
  const actions = h('div', { class: 'gv-actions' });
  const bar = toolbar(search, actions);
  const drawBar = () => {
    const v = sel();
    replace(actions,
      button('New', () => vmDialog({ onDone: refresh }), { id: 'vm-new', variant: 'primary' }),
      button('Edit', () => vmDialog({ vm: v, onDone: refresh }), { id: 'vm-edit', disabled: !v }),
      button('Run', act(() => post(`/vms/${v.id}/start`)), { id: 'vm-run', disabled: !v || v.status !== 'down' }),
      button('Shutdown', act(() => post(`/vms/${v.id}/shutdown`)), { id: 'vm-shutdown', disabled: !v || v.status === 'down' }),
      button('Power Off', act(() => post(`/vms/${v.id}/stop`)), { id: 'vm-stop', disabled: !v || v.status === 'down' }));
  };
  const tableBox = h('div', {}, spinner('lg'));
  const pagerBox = h('div');
  replace(el, h('h1', { class: 'pf-v6-c-title pf-m-xl' }, 'Virtual Machines'), bar, message, tableBox, pagerBox);
  drawBar();

  let columns = [];
  function draw() {
    drawBar();
    replace(tableBox, table({
      id: 'vm-table', columns, rows, selected,
      onSelect: (r) => { selected = r.id; draw(); }, onOpen: open, empty: 'No virtual machines',
      // Element Timing: every table drawn until the first frame with rows
      // carries the marker, so whichever is painted first is reported.
      timing: marked ? undefined : 'vm-rows',
    }));
    if (!marked && rows.length) {
      // A mark after the next frame: the benchmark's fallback where
      // Element Timing is not available.
      requestAnimationFrame(() => requestAnimationFrame(() => {
        if (!marked) performance.mark('vm-rows-painted');
        marked = true;
      }));
    }
  }

  const path = (max) => {
    const q = pageSearch(name, page);
    return `/vms?max=${max}&follow=disk_attachments${q ? `&search=${encodeURIComponent(q)}` : ''}`;
  };
  async function refresh() {
    const lookups = Promise.all([hosts().catch(() => new Map()), operatingSystems().catch(() => [])]);
    const full = list(path(PAGE_SIZE), 'vm');
    const show = async (vms) => {
      const [hostMap, oses] = await lookups;
      rows = vms;
      columns = vmColumns(hostMap, new Map(oses.map((o) => [o.name, o])), open);
      draw();
    };
    if (first && page === 1) {
      // The first screenful comes from a small request that the engine
      // answers sooner; the full page replaces it when it arrives.
      let done = false;
      const quick = list(path(FIRST_ROWS), 'vm').then((vms) => { if (!done) return show(vms); return undefined; }).catch(() => {});
      const vms = await full;
      done = true;
      await quick;
      await show(vms);
    } else {
      await show(await full);
    }
    replace(pagerBox, pager({ page, size: PAGE_SIZE, shown: rows.length, onPage: (p) => { page = p; refresh(); } }));
    first = false;
  }
  refresh().catch((e) => replace(message, alert('danger', e.reason || 'Error', e.detail || e.message, 'view-error')));
  return { refresh: () => refresh().catch(() => {}) };
}
