// api.js: the portal's only way to the engine, oVirt's REST API in JSON
// with the SSO token. Faults keep the API's reason and detail so dialogs
// can show them as they are.

const API = '/ovirt-engine/api';
const SSO = '/ovirt-engine/sso/oauth';
const KEY = 'govirt.session';

/** ApiError carries the API's fault: reason and detail, and the status. */
export class ApiError extends Error {
  constructor(status, reason, detail) {
    super(detail || reason || `HTTP ${status}`);
    this.status = status;
    this.reason = reason;
    this.detail = detail;
  }
}

/** Session is the logged-in user's token, kept across reloads. */
export const session = {
  get() {
    try {
      const s = JSON.parse(localStorage.getItem(KEY) || 'null');
      if (s && s.token && (!s.exp || s.exp > Date.now())) return s;
    } catch { /* a broken entry is no session */ }
    return null;
  },
  set(s) { localStorage.setItem(KEY, JSON.stringify(s)); },
  clear() { localStorage.removeItem(KEY); },
};

let onUnauthorized = () => {};
/** whenUnauthorized sets what happens when the token stops working. */
export function whenUnauthorized(fn) { onUnauthorized = fn; }

async function form(path, fields) {
  return fetch(SSO + path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' },
    body: new URLSearchParams(fields),
  });
}

/** login gets a token from the SSO endpoint and keeps it. */
export async function login(username, password) {
  const resp = await form('/token', { grant_type: 'password', scope: 'ovirt-app-api', username, password });
  const body = await resp.json().catch(() => ({}));
  if (!resp.ok || !body.access_token) {
    throw new ApiError(resp.status, body.error_code || 'Login failed', body.error || `HTTP ${resp.status}`);
  }
  const s = { token: body.access_token, user: username, exp: Number(body.exp) || 0 };
  session.set(s);
  const root = await request('GET', '');
  s.userId = root.authenticated_user && root.authenticated_user.id;
  session.set(s);
  return s;
}

/** logout revokes the token at the SSO endpoint, then forgets it. */
export async function logout() {
  const s = session.get();
  session.clear();
  if (s) await form('/revoke', { token: s.token }).catch(() => {});
}

/** request sends one API call; body is JSON; answers are JSON or null. */
export async function request(method, path, body) {
  const s = session.get();
  const headers = { Accept: 'application/json' };
  if (s) headers.Authorization = `Bearer ${s.token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const resp = await fetch(API + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await resp.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = null; }
  }
  if (!resp.ok) {
    if (resp.status === 401) onUnauthorized();
    const f = data && (data.fault || data);
    throw new ApiError(resp.status, f && f.reason, f && f.detail);
  }
  return data;
}

/**
 * takePrefetched returns the answer index.html's prefetch got for path, once
 * (null when there is none for that path).
 */
async function takePrefetched(path) {
  const p = window.gvPrefetch;
  if (!p || p.path !== path) return null;
  window.gvPrefetch = null;
  const resp = await p.response.catch(() => null);
  if (!resp || !resp.ok) return null; // the app asks again and handles faults
  return resp.json();
}

export const get = (path) => request('GET', path);
export const post = (path, body) => request('POST', path, body === undefined ? {} : body);
export const put = (path, body) => request('PUT', path, body);
export const del = (path) => request('DELETE', path);

/** list reads a collection's array (oVirt names it after its element). */
export async function list(path, element) {
  const data = (await takePrefetched(path)) || (await get(path));
  return (data && data[element]) || [];
}
