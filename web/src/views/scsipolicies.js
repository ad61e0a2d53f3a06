// The SCSI Policies view: the built-in filtered and unfiltered and the
// custom SCSI command policies, with New and Remove. Both need
// "Manipulate SCSI I/O Privileges" on the system; without it they are
// disabled with the reason, as the API would refuse them.
import { h } from '../dom.js';
import { list } from '../api.js';
import { myGroups } from '../cache.js';
import { privilegedScsi, ruleText } from '../rules.js';
import { button, yesNo } from '../ui.js';
import { listView } from './lists.js';
import { newPolicyDialog, removePolicyDialog } from '../dialogs/scsipolicy.js';

export function scsiPoliciesView(el) {
  let groups = new Set();
  return listView(el, {
    title: 'SCSI Policies', id: 'policies-table',
    load: async () => {
      const [rows, g] = await Promise.all([list('/scsipolicies', 'scsi_policy'), myGroups().catch(() => new Set())]);
      groups = g;
      return rows;
    },
    tools: (sel, refresh, fail) => {
      const priv = privilegedScsi(groups, 'define or remove SCSI command policies');
      const builtIn = sel && sel.built_in === 'true';
      const removeWhy = priv.reason || (builtIn ? `${sel.name} is built in: it cannot be removed.` : '');
      return [
        button('New Policy', () => newPolicyDialog({ onDone: refresh }).catch(fail),
          { id: 'policy-new', variant: 'primary', disabled: !priv.ok, title: priv.reason || undefined }),
        button('Remove', () => removePolicyDialog({ policy: sel, onDone: refresh }),
          { id: 'policy-remove', disabled: !priv.ok || !sel || builtIn, title: removeWhy || undefined }),
        priv.ok ? null : h('span', { class: 'pf-v6-c-helper-text gv-reason', id: 'policy-reason' }, priv.reason),
      ];
    },
    columns: [
      { title: 'Name', cell: (p) => p.name },
      { title: 'Base', cell: (p) => p.base || '' },
      { title: 'Allow', cell: (p) => h('span', { class: 'gv-mono' }, ruleText(p.allow)) },
      { title: 'Deny', cell: (p) => h('span', { class: 'gv-mono' }, ruleText(p.deny)) },
      { title: 'Built-in', cell: (p) => yesNo(p.built_in) },
      { title: 'Description', cell: (p) => p.description || '' },
    ],
  });
}
