// The other main views: Disks (paged, images and LUNs, with Edit), Hosts,
// Storage Domains, Roles (with the role dialog), Permissions and Events,
// each a table refreshed live; listView is their shared frame.
import { h, replace } from '../dom.js';
import { del, list } from '../api.js';
import { clusters, forget, objectName, roles, storageDomains, users } from '../cache.js';
import { diskSaved, gib, pageSearch, passThrough } from '../rules.js';
import { alert, button, input, pager, status, table, toolbar, yesNo, spinner } from '../ui.js';
import { roleDialog } from '../dialogs/role.js';
import { editDiskDialog } from '../dialogs/diskedit.js';

/**
 * listView renders a titled, live table. load(state) returns rows; tools
 * (optional) returns toolbar items given the selected row, a refresh, fail
 * (shows an error) and notify (shows an element, such as an alert, that
 * stays until the next notify). every (ms) slows the live refresh of views
 * whose rows rarely change and cost several requests.
 */
export function listView(el, { title, id, columns, load, tools, paged, searchable, every = 0 }) {
  const state = { page: 1, name: '', selected: null, rows: [] };
  const search = searchable ? input(`${id}-search`, { placeholder: 'Name (* wildcard)' }) : null;
  const message = h('div');
  const notice = h('div');
  const notify = (...els) => replace(notice, ...els);
  const actions = h('div', { class: 'gv-actions' });
  const barBox = toolbar(search, actions);
  const tableBox = h('div', {}, spinner('lg'));
  const pagerBox = h('div');
  if (search) search.control.addEventListener('keydown', (e) => { if (e.key === 'Enter') { state.name = search.value.trim(); state.page = 1; refresh(); } });
  replace(el, h('h1', { class: 'pf-v6-c-title pf-m-xl' }, title), search || tools ? barBox : null, message, notice, tableBox, pagerBox);
  const fail = (e) => replace(message, alert('danger', e.reason || 'Error', e.detail || e.message, 'view-error'));
  function draw() {
    const sel = state.rows.find((r) => r.id === state.selected);
    replace(actions, ...(tools ? tools(sel, refresh, fail, notify) : []));
    replace(tableBox, table({ id, columns, rows: state.rows, selected: state.selected, onSelect: (r) => { state.selected = r.id; draw(); } }));
    if (paged) replace(pagerBox, pager({ page: state.page, size: paged, shown: state.rows.length, onPage: (p) => { state.page = p; refresh(); } }));
  }
  async function refresh() {
    state.rows = await load(state);
    replace(message);
    draw();
  }
  let last = Date.now();
  refresh().catch(fail);
  return {
    refresh: () => {
      if (Date.now() - last < every) return undefined;
      last = Date.now();
      return refresh().catch(fail);
    },
  };
}

const DISK_PAGE = 100;

export function disksView(el) {
  return listView(el, {
    title: 'Disks', id: 'disks-table', paged: DISK_PAGE, searchable: true,
    tools: (sel, refresh, fail, notify) => [
      button('Edit', () => editDiskDialog({
        diskId: sel.id,
        onDone: async (saved) => { notify(alert('success', 'Disk saved', diskSaved(saved), 'view-success')); await refresh(); },
      }).catch(fail), { id: 'disk-edit', disabled: !sel }),
    ],
    load: async (s) => {
      const q = pageSearch(s.name, s.page);
      const [disks, sds] = await Promise.all([
        list(`/disks?max=${DISK_PAGE}${q ? `&search=${encodeURIComponent(q)}` : ''}`, 'disk'), storageDomains()]);
      return disks.map((d) => ({ ...d, sdName: d.storage_domains ? (sds.get(d.storage_domains.storage_domain[0].id) || {}).name : '' }));
    },
    columns: [
      { title: 'Alias', cell: (d) => d.alias },
      { title: 'Type', cell: (d) => (d.storage_type === 'lun' ? 'Direct LUN' : 'Image') },
      { title: 'Size', cell: (d) => gib(d.provisioned_size) },
      { title: 'Status', cell: (d) => status(d.status) },
      { title: 'Storage Domain', cell: (d) => d.sdName || '' },
      { title: 'LUN', cell: (d) => { const u = d.lun_storage && d.lun_storage.logical_units.logical_unit[0]; return u ? `${u.target || ''} #${u.lun_mapping ?? ''}` : ''; } },
      { title: 'SCSI Pass-Through', cell: passThrough },
      { title: 'Shareable', cell: (d) => yesNo(d.shareable) },
      { title: 'Description', cell: (d) => d.description || '' },
    ],
  });
}

export function hostsView(el) {
  return listView(el, {
    title: 'Hosts', id: 'hosts-table',
    load: async () => { const [hs, cls] = await Promise.all([list('/hosts', 'host'), clusters()]); return hs.map((x) => ({ ...x, cl: (cls.get(x.cluster && x.cluster.id) || {}).name })); },
    columns: [
      { title: 'Name', cell: (x) => x.name }, { title: 'Status', cell: (x) => status(x.status) },
      { title: 'Address', cell: (x) => x.address || '' }, { title: 'Cluster', cell: (x) => x.cl || '' },
    ],
  });
}

export function storageDomainsView(el) {
  return listView(el, {
    title: 'Storage Domains', id: 'sds-table',
    load: () => list('/storagedomains', 'storage_domain'),
    columns: [
      { title: 'Name', cell: (x) => x.name }, { title: 'Status', cell: (x) => status(x.status || x.external_status || 'active') },
      { title: 'Type', cell: (x) => x.type || '' }, { title: 'Storage', cell: (x) => (x.storage ? `${x.storage.type || ''} ${x.storage.path || ''}` : '') },
      { title: 'Description', cell: (x) => x.description || '' },
    ],
  });
}

export function rolesView(el) {
  return listView(el, {
    title: 'Roles', id: 'roles-table', every: 15000,
    load: () => list('/roles', 'role'),
    tools: (sel, refresh, fail) => [
      button('New', () => roleDialog({ onDone: refresh }).catch(fail), { id: 'role-new', variant: 'primary' }),
      button('Edit', () => sel && roleDialog({ role: sel, onDone: refresh }).catch(fail), { id: 'role-edit', disabled: !sel || sel.mutable !== 'true' }),
      button('Remove', async () => { try { await del(`/roles/${sel.id}`); forget('roles'); await refresh(); } catch (e) { fail(e); } },
        { id: 'role-remove', disabled: !sel || sel.mutable !== 'true' }),
    ],
    columns: [
      { title: 'Name', cell: (r) => r.name },
      { title: 'Account Type', cell: (r) => (r.administrative === 'true' ? 'Admin' : 'User') },
      { title: 'Locked', cell: (r) => (r.mutable === 'true' ? 'No' : 'Yes') },
      { title: 'Description', cell: (r) => r.description || '' },
    ],
  });
}

const OBJECT_KINDS = [['vm', 'VM'], ['disk', 'Disk'], ['cluster', 'Cluster'], ['data_center', 'Data Center'], ['storage_domain', 'Storage Domain'], ['host', 'Host']];

/** permissionsView lists every user's permissions that the caller may see, on any object. */
export function permissionsView(el) {
  return listView(el, {
    title: 'Permissions', id: 'perms-table', every: 30000,
    load: async () => {
      forget('users');
      const [us, rs] = await Promise.all([users(), roles()]);
      const perUser = await Promise.all([...us.values()].map((u) => list(`/users/${u.id}/permissions`, 'permission').catch(() => [])));
      return Promise.all(perUser.flat().map(async (p) => {
        const k = OBJECT_KINDS.find(([f]) => p[f]);
        const obj = k ? `${k[1]} ${(await objectName(k[0], p[k[0]].id)) || p[k[0]].id}` : 'System';
        return { ...p, obj, userName: (us.get(p.user.id) || {}).user_name || p.user.id, roleName: (rs.get(p.role.id) || {}).name || p.role.id };
      }));
    },
    columns: [
      { title: 'User', cell: (p) => p.userName }, { title: 'Role', cell: (p) => p.roleName }, { title: 'Object', cell: (p) => p.obj },
    ],
  });
}

export function eventsView(el) {
  return listView(el, {
    title: 'Events', id: 'events-table',
    load: () => list('/events?max=200', 'event'),
    columns: [
      { title: 'Severity', cell: (e) => status(e.severity === 'normal' ? 'ok' : e.severity === 'warning' ? 'maintenance' : 'error', e.severity) },
      { title: 'Time', cell: (e) => new Date(e.time).toLocaleString() },
      { title: 'Message', cell: (e) => e.description },
      { title: 'User', cell: (e) => (e.user && e.user.name) || '' },
    ],
  });
}

