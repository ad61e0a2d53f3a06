// cache.js: reference data the views and dialogs look up (hosts, clusters,
// operating systems, cluster levels, roles, the user's system permits),
// read once per session and refreshed on demand.
import { get, list, session } from './api.js';
import { systemGroups } from './rules.js';

const memo = new Map();

/** once reads key with load() the first time and remembers the promise. */
function once(key, load) {
  if (!memo.has(key)) memo.set(key, load().catch((e) => { memo.delete(key); throw e; }));
  return memo.get(key);
}

/** forget drops cached entries whose key starts with prefix (all when empty). */
export function forget(prefix = '') {
  for (const k of [...memo.keys()]) if (k.startsWith(prefix)) memo.delete(k);
}

const byId = (items) => new Map(items.map((i) => [i.id, i]));

export const hosts = () => once('hosts', async () => byId(await list('/hosts', 'host')));
export const clusters = () => once('clusters', async () => byId(await list('/clusters', 'cluster')));
export const storageDomains = () => once('sds', async () => byId(await list('/storagedomains', 'storage_domain')));
export const roles = () => once('roles', async () => byId(await list('/roles', 'role')));
export const users = () => once('users', async () => byId(await list('/users', 'user')));
export const operatingSystems = () => once('oses', () => list('/operatingsystems', 'operating_system'));
export const level = (version) => once(`level:${version}`, () => get(`/clusterlevels/${version}`));
export const rolePermits = (roleId) => once(`permits:${roleId}`, async () =>
  (await list(`/roles/${roleId}/permits`, 'permit')).map((p) => p.name));

/** osByName finds an operating system by its REST name. */
export async function osByName(name) {
  return (await operatingSystems()).find((o) => o.name === name);
}

/** clusterVersion is "4.8" for a cluster. */
export const versionOf = (cl) => (cl && cl.version ? `${cl.version.major}.${cl.version.minor}` : '');

/**
 * myGroups: the action groups the logged-in user holds on the system, read
 * from /users/{me}/permissions and the roles' permits.
 */
export const myGroups = () => once('mygroups', async () => {
  const s = session.get();
  if (!s || !s.userId) return new Set();
  const perms = await list(`/users/${s.userId}/permissions`, 'permission');
  const permits = {};
  for (const p of perms) {
    if (p.role && !(p.role.id in permits)) permits[p.role.id] = await rolePermits(p.role.id);
  }
  return systemGroups(perms, permits);
});

/** newestLevel is the newest cluster level: the role dialog reads its permits. */
export const newestLevel = () => once('levels', async () => {
  const all = await list('/clusterlevels', 'cluster_level');
  return all[all.length - 1];
});

const COLLECTIONS = { vm: 'vms', disk: 'disks', cluster: 'clusters', data_center: 'datacenters', storage_domain: 'storagedomains', host: 'hosts' };

/** objectName names the object a permission is on ("" when unreadable). */
export const objectName = (kind, id) => once(`name:${kind}:${id}`, async () => {
  const o = await get(`/${COLLECTIONS[kind]}/${id}`).catch(() => null);
  return (o && (o.name || o.alias)) || '';
});
