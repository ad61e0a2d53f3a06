// rules.js: what the dialogs offer, derived from what the API says about
// operating systems, cluster levels and the user's permits. Pure functions:
// the API enforces; the portal only mirrors, and tests cover these.

export const INTERFACE_LABELS = {
  virtio_scsi: 'VirtIO-SCSI',
  virtio: 'VirtIO',
  sata: 'SATA',
  ide: 'IDE',
  spapr_vscsi: 'sPAPR VSCSI',
};

const names = (list) => ((list && list.disk_interface) || []);

/** hasFeature tells whether a cluster level lists a feature by name. */
export function hasFeature(level, name) {
  const fs = (level && level.cluster_features && level.cluster_features.cluster_feature) || [];
  return fs.some((f) => f.name === name);
}

/**
 * virtioScsiAvailability: may a VM with this OS in a cluster of this level
 * have VirtIO-SCSI? {ok, reason}.
 */
export function virtioScsiAvailability(os, level, clusterVersion) {
  if (level && !hasFeature(level, 'virtio_scsi')) {
    return { ok: false, reason: `Cluster compatibility version ${clusterVersion || level.id} does not support VirtIO-SCSI.` };
  }
  if (os && !names(os.disk_interfaces).includes('virtio_scsi')) {
    return { ok: false, reason: `${os.description || os.name} has no VirtIO-SCSI driver.` };
  }
  return { ok: true, reason: '' };
}

/**
 * diskInterfaces lists what the Add Disk dialog offers for a VM: the OS's
 * interfaces in a fixed order, VirtIO-SCSI only when the VM has it, and on a
 * running VM only those the OS can hot-plug. Each entry says why when it is
 * left out, for the dialog's hint.
 */
export function diskInterfaces({ os, virtioScsiEnabled, running }) {
  const order = ['virtio_scsi', 'virtio', 'sata', 'ide'];
  const supported = names(os && os.disk_interfaces);
  const hot = names(os && os.hot_plug_disk_interfaces);
  const offered = [];
  const left = [];
  for (const i of order) {
    if (!supported.includes(i)) left.push({ iface: i, why: 'the guest OS has no driver' });
    else if (i === 'virtio_scsi' && !virtioScsiEnabled) left.push({ iface: i, why: 'VirtIO-SCSI is not enabled on the VM' });
    else if (running && !hot.includes(i)) left.push({ iface: i, why: 'the guest OS cannot hot-plug it' });
    else offered.push(i);
  }
  return { offered, left };
}

/**
 * systemGroups returns the action groups (permit names) the user holds on
 * the system, from their permissions and the permits of each role.
 * permitsByRole maps a role id to its permit names.
 */
export function systemGroups(permissions, permitsByRole) {
  const out = new Set();
  for (const p of permissions || []) {
    const onObject = p.vm || p.disk || p.cluster || p.data_center || p.storage_domain || p.host;
    if (onObject || !p.role) continue;
    for (const name of permitsByRole[p.role.id] || []) out.add(name);
  }
  return out;
}

export const SGIO_GROUP = 'configure_scsi_generic_io';

/**
 * privilegedScsi: may the user do what needs "Manipulate SCSI I/O
 * Privileges" on the system: allow privileged SCSI I/O on a new LUN (the
 * default), or what the phrase `what` says (define SCSI command policies,
 * give a disk a custom one)? {ok, reason}.
 */
export function privilegedScsi(groups, what = 'allow privileged (unfiltered) SCSI I/O') {
  if (groups.has(SGIO_GROUP)) return { ok: true, reason: '' };
  return {
    ok: false,
    reason: `You need the "Manipulate SCSI I/O Privileges" permission on the system to ${what}.`,
  };
}

/** sgioOf maps the LUN tab's two checkboxes onto the disk's sgio. */
export function sgioOf(passThrough, privileged) {
  if (!passThrough) return undefined;
  return privileged ? 'unfiltered' : 'filtered';
}

/**
 * scsiPolicyOf picks the policy a new pass-through LUN asks for: a custom
 * policy chosen with "Allow Privileged SCSI I/O", else none (sgio says
 * filtered or unfiltered).
 */
export function scsiPolicyOf(passThrough, privileged, chosen) {
  if (!passThrough || !privileged || !chosen || chosen === 'unfiltered') return undefined;
  return { name: chosen };
}

/** BUILT_IN_POLICIES are the policies oVirt's sgio names; a disk takes them as sgio. */
export const BUILT_IN_POLICIES = ['filtered', 'unfiltered'];

/**
 * passThrough describes a disk's SCSI pass-through as the tables show it:
 * the policy the host enforces (sgio_effective), '' for an image.
 */
export function passThrough(d) {
  if (!d || d.storage_type !== 'lun') return '';
  if (!d.sgio || d.sgio === 'disabled') return 'No';
  const policy = d.sgio_effective || d.sgio;
  if (policy === 'filtered') return 'Yes';
  if (policy === 'unfiltered') return 'Yes (privileged SCSI I/O)';
  return `Yes (policy ${policy})`;
}

/**
 * policyChoice is the entry of the Edit Disk dialog's policy select that a
 * disk has: filtered, unfiltered or a custom policy's name; '' when the
 * disk is no pass-through LUN (no policy applies).
 */
export function policyChoice(d) {
  if (!d || d.storage_type !== 'lun' || !d.sgio || d.sgio === 'disabled') return '';
  return (d.scsi_policy && d.scsi_policy.name) || d.sgio_effective || d.sgio;
}

/**
 * diskEdit builds the body of PUT /disks/{id} from the Edit Disk dialog:
 * only what changed (an empty object when nothing did). A built-in policy
 * is oVirt's sgio, a custom one govirt's scsi_policy by name.
 */
export function diskEdit(d, { alias, description, policy }) {
  const body = {};
  if (alias !== undefined && alias.trim() !== (d.alias || '')) body.alias = alias.trim();
  if (description !== undefined && description !== (d.description || '')) body.description = description;
  const cur = policyChoice(d);
  if (cur && policy && policy !== cur) {
    if (BUILT_IN_POLICIES.includes(policy)) body.sgio = policy;
    else body.scsi_policy = { name: policy };
  }
  return body;
}

/** diskSaved says what the Edit Disk dialog saved: for a pass-through LUN, the policy the host enforces now. */
export function diskSaved(d) {
  const name = d.alias || d.id;
  const choice = policyChoice(d);
  if (choice) return `${name}: the host enforces the SCSI command policy "${d.sgio_effective || choice}".`;
  return `${name} saved.`;
}

/** parseRules reads a rule list as typed: one rule a line or comma-separated, blanks dropped. */
export function parseRules(text) {
  return String(text || '').split(/[\n,]/).map((r) => r.trim()).filter(Boolean);
}

/** ruleText formats a policy's allow or deny list ({rule: [...]}) for a table cell. */
export const ruleText = (rules) => ((rules && rules.rule) || []).join(', ');

/**
 * ruleFields says which rule lists a policy's base takes, as the API's
 * compiler does: no allow rules on an unfiltered base (it allows every
 * command), no deny rules on a none base (it allows nothing); a none base
 * needs allow rules. {allow: {ok, reason}, deny: {ok, reason}}.
 */
export function ruleFields(base) {
  const yes = (reason = '') => ({ ok: true, reason });
  const no = (reason) => ({ ok: false, reason });
  if (base === 'unfiltered') return { allow: no('An unfiltered base allows every command: only deny rules apply.'), deny: yes() };
  if (base === 'none') return { allow: yes('A none base allows only these commands: give at least one.'), deny: no('A none base allows nothing to deny: only allow rules apply.') };
  return { allow: yes(), deny: yes() };
}

/**
 * policyBody builds the body of POST /scsipolicies from the New Policy
 * dialog's fields (allow and deny as typed); a list the base does not take
 * is left out, as the dialog disables it.
 */
export function policyBody({ name, description, base, allow, deny }) {
  const f = ruleFields(base);
  const body = { name: String(name || '').trim(), base };
  if (description && description.trim()) body.description = description.trim();
  const a = f.allow.ok ? parseRules(allow) : [];
  const d = f.deny.ok ? parseRules(deny) : [];
  if (a.length) body.allow = { rule: a };
  if (d.length) body.deny = { rule: d };
  return body;
}

/** permitTree groups a level's permits by category, in the API's order. */
export function permitTree(permits) {
  const cats = new Map();
  for (const p of permits || []) {
    const c = p.category || 'Other';
    if (!cats.has(c)) cats.set(c, []);
    cats.get(c).push(p);
  }
  return [...cats].map(([category, items]) => ({ category, items }));
}

/** gib formats a byte count in GiB, as oVirt's tables do (MiB below 1 GiB). */
export function gib(bytes) {
  const n = Number(bytes);
  if (!Number.isFinite(n) || n <= 0) return '';
  if (n < 2 ** 30) return `${Math.max(1, Math.round(n / 2 ** 20))} MiB`;
  const g = n / 2 ** 30;
  return g >= 10 || Number.isInteger(g) ? `${Math.round(g)} GiB` : `${g.toFixed(1)} GiB`;
}

/** shortAddress prints {bus=0, controller=0, type=drive, target=0, unit=3} as 0:0:0:3 (controller:bus:target:unit). */
export function shortAddress(a) {
  if (!a) return '';
  const get = (k) => (a.match(new RegExp(`${k}=(\\d+)`)) || [])[1];
  const parts = ['controller', 'bus', 'target', 'unit'].map(get);
  return parts.every((x) => x !== undefined) ? parts.join(':') : a;
}

/** pageSearch builds oVirt's search with paging: "name=web* page 2". */
export function pageSearch(name, page) {
  const parts = [];
  if (name) parts.push(`name=${name.includes('*') ? name : `${name}*`}`);
  if (page > 1) parts.push(`page ${page}`);
  return parts.join(' ');
}
