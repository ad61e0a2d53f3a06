// ui.js: the PatternFly pieces the views and dialogs share: tables with
// status icons, toolbars, pagination, tabs, modals with a fault alert, and
// form fields.
import { h, replace } from './dom.js';

let uid = 0;
const nextId = (p) => `${p}-${++uid}`;

/** button: a PatternFly button; variant primary, secondary, link, plain. */
export function button(label, onclick, { variant = 'secondary', id, disabled, title } = {}) {
  return h('button', { class: `pf-v6-c-button pf-m-${variant}`, type: 'button', id, disabled, title, onclick },
    h('span', { class: 'pf-v6-c-button__text' }, label));
}

const STATUS_CLASS = {
  up: 'up', ok: 'ok', active: 'up', down: 'down', illegal: 'illegal', maintenance: 'busy', locked: 'busy',
  powering_up: 'busy', powering_down: 'busy', wait_for_launch: 'busy', image_locked: 'busy', paused: 'busy',
  not_responding: 'error', non_responsive: 'error', unknown: '', inactive: 'down',
};

/** status: an icon and text, as oVirt's tables show status; label overrides the text. */
export function status(s, label) {
  const text = label || (s || 'unknown').replace(/_/g, ' ');
  return h('span', { class: 'gv-status', 'data-status': s || 'unknown' },
    h('span', { class: `gv-dot ${STATUS_CLASS[s] ?? ''}`, 'aria-hidden': 'true' }), text);
}

/** spinner is PatternFly's (an SVG circle); label says what is going on. */
export function spinner(size = 'md', label = 'Loading') {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('class', `pf-v6-c-spinner pf-m-${size}`);
  svg.setAttribute('role', 'progressbar');
  svg.setAttribute('viewBox', '0 0 100 100');
  svg.setAttribute('aria-valuetext', label);
  const c = document.createElementNS(ns, 'circle');
  for (const [k, v] of Object.entries({ class: 'pf-v6-c-spinner__path', cx: '50', cy: '50', r: '45', fill: 'none' })) c.setAttribute(k, v);
  svg.append(c);
  return svg;
}

/** yesNo renders a boolean cell. */
export const yesNo = (b) => (b === true || b === 'true' ? 'Yes' : 'No');

/**
 * table renders rows of objects with columns [{title, cell(row)}]. Clicking
 * a row calls onSelect; the selected row (by id) is highlighted.
 */
export function table({ id, columns, rows, selected, onSelect, onOpen, empty = 'No items', timing }) {
  const head = h('thead', { class: 'pf-v6-c-table__thead' },
    h('tr', { class: 'pf-v6-c-table__tr' }, columns.map((c) => h('th', { class: 'pf-v6-c-table__th', scope: 'col' }, c.title))));
  const body = h('tbody', { class: 'pf-v6-c-table__tbody' });
  if (!rows.length) {
    body.append(h('tr', { class: 'pf-v6-c-table__tr' }, h('td', { class: 'pf-v6-c-table__td', colspan: columns.length }, empty)));
  }
  rows.forEach((r, i) => {
    const tr = h('tr', {
      class: `pf-v6-c-table__tr${r.id === selected ? ' gv-selected' : ''}`,
      dataset: { id: r.id, name: r.name || r.alias || '' },
      tabindex: onSelect || onOpen ? '0' : undefined,
      'aria-selected': r.id === selected ? 'true' : undefined,
      onclick: () => onSelect && onSelect(r),
      ondblclick: () => onOpen && onOpen(r),
      // Keyboard: Space selects, Enter opens (or selects where rows do not open).
      onkeydown: (e) => {
        if (e.key === ' ' && onSelect) {
          e.preventDefault();
          onSelect(r);
          // Selecting redraws the table: keep the focus on the row.
          if (id) requestAnimationFrame(() => document.querySelector(`#${CSS.escape(id)} tr[data-id="${CSS.escape(r.id)}"]`)?.focus());
        }
        if (e.key === 'Enter') (onOpen || onSelect || (() => {}))(r);
      },
    }, columns.map((c, j) => h('td', {
      class: 'pf-v6-c-table__td', 'data-label': c.title,
      // Element Timing: the benchmark observes when the first row is painted.
      elementtiming: timing && i === 0 && j === 0 ? timing : undefined,
    }, c.cell(r))));
    body.append(tr);
  });
  return h('table', { class: 'pf-v6-c-table pf-m-compact pf-m-grid-md', role: 'grid', id }, head, body);
}

/** toolbar lays out buttons and a search box above a table. */
export function toolbar(...items) {
  return h('div', { class: 'pf-v6-c-toolbar' }, h('div', { class: 'pf-v6-c-toolbar__content' },
    h('div', { class: 'pf-v6-c-toolbar__content-section' },
      items.filter(Boolean).map((it) => h('div', { class: 'pf-v6-c-toolbar__item' }, it)))));
}

/** pager shows oVirt's "1 - 100" with previous and next, for APIs without counts. */
export function pager({ page, size, shown, onPage }) {
  const first = shown ? (page - 1) * size + 1 : 0;
  return h('div', { class: 'gv-pager' },
    h('span', { id: 'page-range' }, shown ? `${first} - ${(page - 1) * size + shown}` : 'No items'),
    h('nav', { 'aria-label': 'Pagination' },
      button('\u2039', () => onPage(page - 1), { variant: 'plain', disabled: page <= 1, title: 'Previous page', id: 'page-prev' }),
      button('\u203A', () => onPage(page + 1), { variant: 'plain', disabled: shown < size, title: 'Next page', id: 'page-next' })));
}

/** tabs: [{title, id, render()}]; returns the element and select(id). */
export function tabs(items, { onChange } = {}) {
  // Every panel is built once and kept, hidden when not current, so that
  // what a user typed on one tab survives switching to another.
  const panel = h('div', { class: 'gv-tab-panel' });
  const panels = new Map();
  const lis = new Map();
  const list = h('ul', { class: 'pf-v6-c-tabs__list', role: 'tablist' });
  function select(id) {
    for (const [k, li] of lis) li.classList.toggle('pf-m-current', k === id);
    if (!panels.has(id)) {
      const p = h('div', { role: 'tabpanel', 'data-panel': id }, items.find((t) => t.id === id).render());
      panels.set(id, p);
      panel.append(p);
    }
    for (const [k, p] of panels) p.hidden = k !== id;
    if (onChange) onChange(id);
  }
  for (const it of items) {
    const li = h('li', { class: 'pf-v6-c-tabs__item', role: 'presentation' },
      h('button', { class: 'pf-v6-c-tabs__link', type: 'button', role: 'tab', 'data-tab': it.id, onclick: () => select(it.id) },
        h('span', { class: 'pf-v6-c-tabs__item-text' }, it.title)));
    lis.set(it.id, li);
    list.append(li);
  }
  const el = h('div', {}, h('div', { class: 'pf-v6-c-tabs' }, list), panel);
  for (const it of [...items].reverse()) select(it.id); // build all, show the first
  return { el, select };
}

/** alert: a PatternFly inline alert. */
export function alert(variant, title, detail, id) {
  return h('div', { class: `pf-v6-c-alert pf-m-inline pf-m-${variant}`, id, role: 'alert' },
    h('p', { class: 'pf-v6-c-alert__title' }, title),
    detail ? h('div', { class: 'pf-v6-c-alert__description' }, detail) : null);
}

/**
 * modal opens a dialog. body is an element; onOk runs on OK and may throw
 * an ApiError, whose reason and detail are shown in the dialog, which
 * stays open. Returns {close}.
 */
export function modal({ title, body, okLabel = 'OK', onOk, id, size = 'md' }) {
  const error = h('div', { class: 'gv-dialog-error' });
  const ok = button(okLabel, run, { variant: 'primary', id: 'dialog-ok' });
  const cancel = button('Cancel', close, { variant: 'link', id: 'dialog-cancel' });
  const box = h('div', { class: `pf-v6-c-modal-box pf-m-${size}`, role: 'dialog', 'aria-modal': 'true', id, 'aria-label': title },
    h('header', { class: 'pf-v6-c-modal-box__header' }, h('h1', { class: 'pf-v6-c-modal-box__title' }, title)),
    h('div', { class: 'pf-v6-c-modal-box__body gv-modal-body' }, error, body),
    h('footer', { class: 'pf-v6-c-modal-box__footer' }, ok, cancel));
  const backdrop = h('div', { class: 'pf-v6-c-backdrop' }, h('div', { class: 'pf-v6-l-bullseye' }, box));
  document.body.append(backdrop);
  async function run() {
    ok.disabled = true;
    replace(error, spinner('md', 'Working'));
    try {
      await onOk();
      close();
    } catch (e) {
      replace(error, alert('danger', e.reason || 'Error', e.detail || e.message, 'dialog-error'));
      ok.disabled = false;
    }
  }
  function close() { backdrop.remove(); }
  return { close, box };
}

/** field: a labelled form group around a control. */
export function field(label, control, helper) {
  const target = control.control || control;
  const id = target.id || nextId('f');
  target.id = id;
  return h('div', { class: 'pf-v6-c-form__group' },
    h('div', { class: 'pf-v6-c-form__group-label' }, h('label', { class: 'pf-v6-c-form__label', for: id },
      h('span', { class: 'pf-v6-c-form__label-text' }, label))),
    h('div', { class: 'pf-v6-c-form__group-control' }, control,
      helper ? h('div', { class: 'pf-v6-c-form__helper-text' }, h('div', { class: 'pf-v6-c-helper-text' },
        h('div', { class: 'pf-v6-c-helper-text__item' }, h('span', { class: 'pf-v6-c-helper-text__item-text' }, helper)))) : null));
}

/** input: a text or number input in PatternFly's form-control wrapper. */
export function input(id, { type = 'text', value = '', min, placeholder } = {}) {
  const el = h('input', { id, type, value, min, placeholder, 'aria-label': id });
  return wrap(el);
}

/** textarea: a multi-line text input (rule lists), wrapped like input. */
export function textarea(id, { value = '', rows = 3, placeholder } = {}) {
  const w = wrap(h('textarea', { id, rows, placeholder, 'aria-label': id }));
  w.value = value;
  w.classList.add('pf-m-textarea');
  return w;
}

function wrap(el) {
  const span = h('span', { class: 'pf-v6-c-form-control' }, el);
  // Expose the control itself for reading values.
  span.control = el;
  Object.defineProperty(span, 'value', { get: () => el.value, set: (v) => { el.value = v; } });
  return span;
}

/** select: options [{value, label, disabled}]. */
export function select(id, options, value) {
  const el = h('select', { id, 'aria-label': id },
    options.map((o) => h('option', { value: o.value, selected: o.value === value, disabled: o.disabled }, o.label)));
  const w = wrap(el);
  w.classList.add('pf-m-select');
  w.append(h('span', { class: 'pf-v6-c-form-control__utilities' },
    h('span', { class: 'pf-v6-c-form-control__toggle-icon', 'aria-hidden': 'true' }, '\u25BE')));
  return w;
}

/** check: a checkbox with a label and an optional reason shown under it. */
export function check(id, label, { checked, disabled, reason, onchange } = {}) {
  const el = h('input', { class: 'pf-v6-c-check__input', type: 'checkbox', id, checked, disabled, onchange });
  const wrapEl = h('div', { class: 'pf-v6-c-check' }, el,
    h('label', { class: `pf-v6-c-check__label${disabled ? ' pf-m-disabled' : ''}`, for: id }, label),
    reason ? h('span', { class: 'pf-v6-c-check__description', id: `${id}-reason` }, reason) : null);
  wrapEl.control = el;
  return wrapEl;
}

/** group puts controls without a label of their own (checks, radios) in a form group. */
export function group(label, ...controls) {
  return h('div', { class: 'pf-v6-c-form__group' },
    h('div', { class: 'pf-v6-c-form__group-label' }, label ? h('span', { class: 'pf-v6-c-form__label' }, h('span', { class: 'pf-v6-c-form__label-text' }, label)) : null),
    h('div', { class: 'pf-v6-c-form__group-control' }, controls));
}

/** setDisabled disables a wrapped control and greys its wrapper. */
export function setDisabled(w, off) {
  (w.control || w).disabled = off;
  w.classList.toggle('pf-m-disabled', off);
}

/** form wraps groups in a PatternFly form. */
export const form = (...groups) => h('form', { class: 'pf-v6-c-form pf-m-horizontal', onsubmit: (e) => e.preventDefault() }, groups);

/** section: a titled part of a dialog tab. */
export const section = (title, ...children) => h('section', { class: 'pf-v6-c-form__section' },
  h('div', { class: 'pf-v6-c-form__section-title' }, title), children);
