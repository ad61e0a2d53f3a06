// The New SCSI Policy and Remove SCSI Policy dialogs of the SCSI Policies
// view. The rule lists follow the base as the API's compiler does (no
// allow rules on unfiltered, no deny rules on none); the API checks every
// rule and its fault (an unknown command, a policy disks use) shows in the
// dialog.
import { h, replace } from '../dom.js';
import { del, post } from '../api.js';
import { policyBody, ruleFields } from '../rules.js';
import { field, form, input, modal, select, setDisabled, textarea } from '../ui.js';

/** BASE_LABELS names a custom policy's bases. */
const BASE_LABELS = [
  { value: 'filtered', label: 'Filtered (the commands Linux allows unprivileged SG_IO users)' },
  { value: 'unfiltered', label: 'Unfiltered (every command)' },
  { value: 'none', label: 'None (no command)' },
];

const RULE_HINT = 'One rule a line: a command (unmap, persistent-reserve-out), an operation code (0x5f) or a code and service action (0x5f/0x01).';

export async function newPolicyDialog({ onDone }) {
  const name = input('policy-name', { placeholder: 'lower case, e.g. trim-only' });
  const description = input('policy-description');
  const base = select('policy-base', BASE_LABELS, 'filtered');
  const allow = textarea('policy-allow', { placeholder: 'unmap' });
  const deny = textarea('policy-deny', { placeholder: 'write-same-16' });
  const allowWhy = h('span', { id: 'policy-allow-reason' });
  const denyWhy = h('span', { id: 'policy-deny-reason' });
  function drawRules() {
    const f = ruleFields(base.value);
    setDisabled(allow, !f.allow.ok);
    setDisabled(deny, !f.deny.ok);
    replace(allowWhy, f.allow.reason || `Added to the base. ${RULE_HINT}`);
    replace(denyWhy, f.deny.reason || `Taken from the base; a deny wins over an allow. ${RULE_HINT}`);
  }
  base.control.addEventListener('change', drawRules);
  drawRules();
  modal({
    title: 'New SCSI Command Policy', id: 'policy-dialog',
    body: form(field('Name', name), field('Description', description), field('Base', base),
      field('Allow', allow, allowWhy), field('Deny', deny, denyWhy)),
    onOk: async () => {
      await post('/scsipolicies', policyBody({
        name: name.value, description: description.value, base: base.value, allow: allow.value, deny: deny.value,
      }));
      if (onDone) await onDone();
    },
  });
}

/** removePolicyDialog asks before removing; a policy disks use stays, with the API's reason. */
export function removePolicyDialog({ policy, onDone }) {
  modal({
    title: 'Remove SCSI Command Policy', id: 'policy-remove-dialog', okLabel: 'Remove',
    body: h('p', {}, `Remove the SCSI command policy \u201c${policy.name}\u201d? A policy that disks use cannot be removed: give them another first.`),
    onOk: async () => {
      await del(`/scsipolicies/${encodeURIComponent(policy.id)}`);
      if (onDone) await onDone();
    },
  });
}
