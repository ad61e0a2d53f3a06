// main.js: the portal's shell: login, masthead, navigation, a router over
// history paths (/vms, /vms/{id}, /disks ...) and live refresh of the view
// on screen.
import { h, replace } from './dom.js';
import { login, logout, session, whenUnauthorized } from './api.js';
import { forget } from './cache.js';
import { alert, button } from './ui.js';
import { vmsView } from './views/vms.js';
import { vmDetailView } from './views/vmdetail.js';
import { scsiPoliciesView } from './views/scsipolicies.js';
import { disksView, hostsView, storageDomainsView, rolesView, permissionsView, eventsView } from './views/lists.js';

/** How often the view on screen re-reads the API (live status). */
export const REFRESH_MS = 3000;

const NAV = [
  { path: '/vms', label: 'Virtual Machines', view: vmsView },
  { path: '/disks', label: 'Disks', view: disksView },
  { path: '/hosts', label: 'Hosts', view: hostsView },
  { path: '/storagedomains', label: 'Storage Domains', view: storageDomainsView },
  { path: '/scsipolicies', label: 'SCSI Policies', view: scsiPoliciesView },
  { path: '/roles', label: 'Roles', view: rolesView },
  { path: '/permissions', label: 'Permissions', view: permissionsView },
  { path: '/events', label: 'Events', view: eventsView },
];

const root = document.getElementById('app');
let current = null; // {destroy}
let timer = 0;

/** navigate changes the path and renders its view. */
export function navigate(path) {
  if (location.pathname !== path) history.pushState(null, '', path);
  render();
}

function route(path) {
  const m = path.match(/^\/vms\/([^/]+)(?:\/(\w+))?$/);
  if (m) return { view: vmDetailView, params: { id: decodeURIComponent(m[1]), tab: m[2] }, nav: '/vms' };
  const item = NAV.find((n) => n.path === path) || NAV[0];
  return { view: item.view, params: {}, nav: item.path };
}

function stop() {
  clearInterval(timer);
  if (current && current.destroy) current.destroy();
  current = null;
}

function render() {
  stop();
  const s = session.get();
  if (!s) {
    loginPage();
    return;
  }
  const r = route(location.pathname);
  const main = h('section', { class: 'pf-v6-c-page__main-section' });
  replace(root, shell(s, r.nav, main));
  const view = r.view(main, r.params, { navigate });
  current = view;
  if (view.refresh) timer = setInterval(() => { if (!document.hidden) view.refresh(); }, REFRESH_MS);
}

function shell(s, active, main) {
  const nav = h('nav', { class: 'pf-v6-c-nav', 'aria-label': 'Global' }, h('ul', { class: 'pf-v6-c-nav__list', role: 'list' },
    NAV.map((n) => h('li', { class: 'pf-v6-c-nav__item' }, h('a', {
      class: `pf-v6-c-nav__link${n.path === active ? ' pf-m-current' : ''}`, href: n.path, 'data-nav': n.path.slice(1),
      onclick: (e) => { e.preventDefault(); navigate(n.path); },
    }, h('span', { class: 'pf-v6-c-nav__link-text' }, n.label))))));
  return h('div', { class: 'pf-v6-c-page' },
    h('header', { class: 'pf-v6-c-masthead' },
      h('div', { class: 'pf-v6-c-masthead__main' }, h('span', { class: 'pf-v6-c-masthead__brand' },
        h('strong', {}, 'govirt'), '\u00a0Administration Portal')),
      h('div', { class: 'pf-v6-c-masthead__content' },
        h('span', { id: 'current-user', class: 'gv-user' }, s.user),
        button('Log out', async () => { stop(); await logout(); forget(); render(); }, { id: 'logout', variant: 'secondary' }))),
    h('div', { class: 'pf-v6-c-page__sidebar' }, h('div', { class: 'pf-v6-c-page__sidebar-body' }, nav)),
    h('div', { class: 'pf-v6-c-page__main-container' }, h('main', { class: 'pf-v6-c-page__main', tabindex: '-1' }, main)));
}

function loginPage(message) {
  const user = h('input', { id: 'login-user', type: 'text', autocomplete: 'username', value: 'admin@internal' });
  const pass = h('input', { id: 'login-pass', type: 'password', autocomplete: 'current-password' });
  const err = h('div', {}, message ? alert('danger', message) : null);
  const submit = async (e) => {
    e.preventDefault();
    replace(err);
    try {
      await login(user.value.trim(), pass.value);
      forget();
      render();
    } catch (ex) {
      replace(err, alert('danger', ex.detail || ex.message, null, 'login-error'));
    }
  };
  replace(root, h('div', { class: 'gv-login pf-v6-c-card' },
    h('div', { class: 'pf-v6-c-card__title' }, h('h1', { class: 'pf-v6-c-title pf-m-2xl' }, 'govirt Administration Portal')),
    h('div', { class: 'pf-v6-c-card__body' }, err,
      h('form', { class: 'pf-v6-c-form', onsubmit: submit },
        h('div', { class: 'pf-v6-c-form__group' }, h('label', { class: 'pf-v6-c-form__label', for: 'login-user' }, 'User name (user@domain)'),
          h('span', { class: 'pf-v6-c-form-control' }, user)),
        h('div', { class: 'pf-v6-c-form__group' }, h('label', { class: 'pf-v6-c-form__label', for: 'login-pass' }, 'Password'),
          h('span', { class: 'pf-v6-c-form-control' }, pass)),
        h('div', { class: 'pf-v6-c-form__actions' },
          h('button', { class: 'pf-v6-c-button pf-m-primary pf-m-block', type: 'submit', id: 'login-submit' }, 'Log in'))))));
  pass.focus();
}

whenUnauthorized(() => {
  stop();
  session.clear();
  forget();
  loginPage('Your session has ended: log in again.');
});
window.addEventListener('popstate', render);
render();
