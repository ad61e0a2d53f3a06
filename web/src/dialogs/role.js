// The New/Edit Role dialog: name, description, account type and the tree
// of action groups by category (from the API's cluster level), including
// "Manipulate SCSI I/O Privileges" under Disk.
import { h, replace } from '../dom.js';
import { del, list, post, put } from '../api.js';
import { forget, newestLevel } from '../cache.js';
import { permitTree } from '../rules.js';
import { button, field, form, group, input, modal } from '../ui.js';

export async function roleDialog({ role, onDone }) {
  const level = await newestLevel();
  const permits = (level.permits && level.permits.permit) || [];
  const had = role ? new Set((await list(`/roles/${role.id}/permits`, 'permit')).map((p) => p.name)) : new Set(['login']);
  const name = input('role-name', { value: role ? role.name : '' });
  const desc = input('role-description', { value: (role && role.description) || '' });
  let admin = role ? role.administrative === 'true' : false;
  const boxes = new Map(); // permit name -> checkbox
  const treeBox = h('div', { id: 'role-tree', class: 'gv-tree-box' });
  const expanded = new Set();

  function drawTree() {
    const tree = permitTree(permits);
    replace(treeBox, h('ul', { class: 'gv-tree gv-tree-root' }, tree.map(({ category, items }) => {
      const open = expanded.has(category);
      const usable = items.filter((p) => admin || p.administrative !== 'true');
      const on = usable.filter((p) => isChecked(p.name)).length;
      const all = h('input', { type: 'checkbox', 'data-category': category, 'aria-label': `All of ${category}`,
        checked: usable.length > 0 && on === usable.length,
        onchange: (e) => { for (const p of usable) setChecked(p.name, e.target.checked); drawTree(); } });
      all.indeterminate = on > 0 && on < usable.length;
      return h('li', {},
        h('button', { class: 'gv-tree-toggle', type: 'button', 'aria-expanded': String(open), 'data-toggle': category,
          onclick: () => { if (open) expanded.delete(category); else expanded.add(category); drawTree(); } }, open ? '\u25BE' : '\u25B8'),
        h('label', {}, all, ` ${category}`),
        open ? h('ul', { class: 'gv-tree' }, items.map((p) => {
          const off = !admin && p.administrative === 'true';
          const cb = h('input', { type: 'checkbox', 'data-permit': p.name, id: `permit-${p.name}`, disabled: off,
            checked: !off && isChecked(p.name),
            onchange: (e) => { setChecked(p.name, e.target.checked); drawTree(); } });
          boxes.set(p.name, cb);
          return h('li', { title: p.description || '' }, h('label', { for: `permit-${p.name}` }, cb, ` ${p.label || p.name}`),
            off ? h('span', { class: 'gv-reason' }, 'Admin roles only') : null);
        })) : null);
    })));
  }
  function isChecked(n) { return boxes.has(n) ? boxes.get(n).checked : had.has(n); }
  function setChecked(n, on) {
    const cb = boxes.get(n) || h('input', { type: 'checkbox' });
    cb.checked = on;
    boxes.set(n, cb);
  }
  const chosen = () => permits.filter((p) => (admin || p.administrative !== 'true') && isChecked(p.name)).map((p) => p.name);

  const typeRadio = (value, label) => h('div', { class: 'pf-v6-c-radio' },
    h('input', { class: 'pf-v6-c-radio__input', type: 'radio', name: 'role-type', id: `role-type-${value}`, checked: admin === (value === 'admin'),
      onchange: () => { admin = value === 'admin'; drawTree(); } }),
    h('label', { class: 'pf-v6-c-radio__label', for: `role-type-${value}` }, label));
  drawTree();
  const body = h('div', {},
    form(field('Name', name), field('Description', desc),
      group('Account Type', typeRadio('user', 'User'), typeRadio('admin', 'Admin'))),
    h('div', { class: 'gv-tree-head' }, h('strong', {}, 'Check Boxes to Allow Action'), ' ',
      button('Expand All', () => { for (const c of permitTree(permits)) expanded.add(c.category); drawTree(); }, { variant: 'link', id: 'role-expand' }),
      button('Collapse All', () => { expanded.clear(); drawTree(); }, { variant: 'link', id: 'role-collapse' })),
    treeBox);

  modal({
    title: role ? 'Edit Role' : 'New Role', id: 'role-dialog', size: 'md', body,
    onOk: async () => {
      const want = chosen();
      if (!role) {
        await post('/roles', { name: name.value.trim(), description: desc.value, administrative: String(admin),
          permits: { permit: want.map((n) => ({ name: n })) } });
      } else {
        await put(`/roles/${role.id}`, { name: name.value.trim(), description: desc.value });
        const ids = new Map(permits.map((p) => [p.name, p.id]));
        for (const n of want) if (!had.has(n)) await post(`/roles/${role.id}/permits`, { name: n });
        for (const n of had) if (!want.includes(n)) await del(`/roles/${role.id}/permits/${ids.get(n)}`);
      }
      forget('roles');
      forget('permits:');
      if (onDone) await onDone();
    },
  });
}
