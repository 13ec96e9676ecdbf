// Small DOM helpers: element builder, banners, loading and empty states, tables, toasts, dialogs.
import { has, t } from './i18n.js';

/** Create an element: h('button', {class: 'btn', onclick}, 'text', child, ...). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'text') el.textContent = v;
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

export function loading(label) {
  return h('p', { class: 'loading', role: 'status' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }),
    label || t('common.loading'));
}

export function empty(title, hint) {
  return h('div', { class: 'empty' }, h('p', { class: 'empty-title' }, title), hint ? h('p', { class: 'muted' }, hint) : null);
}

/** What went wrong, in the console's words, with the server's detail and each field's reason. */
export function describeError(err) {
  const code = err && err.code;
  const status = err && err.status;
  let headline;
  if (code && has(`err.${code}`)) headline = t(`err.${code}`);
  else if (status === 0) headline = t('err.network');
  else if (status >= 500) headline = t('err.server');
  else if (status && has(`err.http_${status}`)) headline = t(`err.http_${status}`);
  else headline = (err && (err.title || err.message)) || t('err.unknown');
  return {
    headline,
    detail: err && err.detail && err.detail !== headline ? err.detail : '',
    code: code || '',
    status: status || 0,
    fields: (err && err.fieldErrors) || [],
  };
}

/** The label a person sees for the form control the API names `field` (or null if none is on the page). */
function fieldLabel(field) {
  const el = document.querySelector(`[data-field="${CSS.escape(field)}"]`);
  if (!el) return null;
  const label = el.matches('fieldset') ? el.querySelector('legend')
    : el.id && document.querySelector(`label[for="${CSS.escape(el.id)}"]`);
  return label ? label.textContent.trim() : null;
}

/** An error banner (role=alert) for an ApiError or any Error. */
export function errorBanner(err, { onRetry } = {}) {
  const d = describeError(err);
  const box = h('div', { class: 'banner banner-error', role: 'alert', dataset: { code: d.code, status: String(d.status) } },
    h('p', { class: 'banner-title' }, d.headline),
    // The detail is left out when it only repeats a field's reason listed below.
    d.detail && !d.fields.some((f) => f.reason === d.detail)
      ? h('p', { class: 'banner-detail' }, d.detail) : null,
    d.fields.length ? h('ul', { class: 'field-errors' },
      d.fields.map((f) => {
        const label = fieldLabel(f.field);
        // People read the form's label; the API's field name shows only where the page has no such control.
        return h('li', { dataset: { errorField: f.field } }, label ? h('strong', {}, label) : h('code', {}, f.field), '：',
          h('span', {}, f.reason));
      })) : null,
    onRetry ? h('button', { type: 'button', class: 'btn btn-small', onclick: onRetry }, t('common.retry')) : null,
  );
  return box;
}

export function successBanner(text) {
  return h('div', { class: 'banner banner-success', role: 'status' }, h('p', { class: 'banner-title' }, text));
}

/** Show an error next to a form: the banner, and each field's reason under its input (by data-field). */
export function showFormError(form, slot, err) {
  clear(slot).append(errorBanner(err));
  form.querySelectorAll('.field-error').forEach((e) => e.remove());
  form.querySelectorAll('[aria-invalid]').forEach((e) => e.removeAttribute('aria-invalid'));
  for (const f of (err && err.fieldErrors) || []) {
    const input = form.querySelector(`[data-field="${CSS.escape(f.field)}"]`);
    if (!input) continue;
    input.setAttribute('aria-invalid', 'true');
    const id = `${input.id || f.field}-error`;
    input.setAttribute('aria-describedby', id);
    input.closest('.field')?.append(h('p', { class: 'field-error', id }, f.reason));
  }
  slot.querySelector('.banner')?.focus?.();
}

export function clearFormError(form, slot) {
  clear(slot);
  form.querySelectorAll('.field-error').forEach((e) => e.remove());
  form.querySelectorAll('[aria-invalid]').forEach((e) => e.removeAttribute('aria-invalid'));
}

/** A table in a horizontally scrolling, focusable region (keyboard users can scroll it too). */
export function table({ caption, columns, rows, rowAttrs, stack = true }) {
  const thead = h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col', class: c.num ? 'num' : null }, c.label))));
  const tbody = h('tbody', {}, rows.map((r, i) => h('tr', rowAttrs ? rowAttrs(r, i) : {},
    columns.map((c, j) => {
      const v = c.render ? c.render(r, i) : r[c.key];
      return j === 0 && c.header ? h('th', { scope: 'row', class: c.num ? 'num' : null, 'data-label': c.label }, v)
        : h('td', { class: c.num ? 'num' : null, 'data-label': c.label }, v);
    }))));
  return h('div', { class: stack ? 'table-wrap' : 'table-wrap no-stack', tabindex: '0', role: 'region', 'aria-label': caption },
    h('table', {}, caption ? h('caption', { class: 'sr-only' }, caption) : null, thead, tbody));
}

let toastTimer;
export function toast(text) {
  const el = document.getElementById('toast');
  el.textContent = text;
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { el.hidden = true; }, 4000);
}

export function pageHeader(title, ...actions) {
  return h('div', { class: 'page-header' },
    h('h1', { tabindex: '-1', id: 'page-title' }, title),
    actions.length ? h('div', { class: 'page-actions' }, actions) : null);
}

export function section(title, ...children) {
  const id = `s-${Math.random().toString(36).slice(2, 8)}`;
  return h('section', { class: 'card', 'aria-labelledby': id }, h('h2', { id }, title), children);
}

export function badge(text, kind = 'neutral') {
  return h('span', { class: `badge badge-${kind}` }, text);
}

export function tile(label, value, sub, attrs = {}) {
  return h('div', { class: 'tile', ...attrs }, h('p', { class: 'tile-label' }, label),
    h('p', { class: 'tile-value' }, value), sub ? h('p', { class: 'tile-sub muted' }, sub) : null);
}

/** A field: label + control (+ hint). The control gets the id, and data-field for server errors. */
export function field(label, control, hint) {
  // The control may be a wrapper (a file picker): the label and hint belong to the input inside it.
  const input = control.matches('input, select, textarea') ? control : control.querySelector('input, select, textarea') || control;
  const hintId = hint ? `${input.id}-hint` : null;
  if (hintId) input.setAttribute('aria-describedby', hintId);
  return h('div', { class: 'field' }, h('label', { for: input.id }, label), control,
    hint ? h('p', { class: 'hint muted', id: hintId }, hint) : null);
}

/** A file input whose button and "no file" words follow the console's language (the browser's own button
 * speaks the browser's language: "Choose File" on a Chinese page). The native input stays in the page,
 * focusable and labelled, so keyboards, screen readers and tests use it as before. */
export function filePicker(input) {
  const name = h('span', { class: 'file-picker-name muted', 'aria-hidden': 'true' }, t('common.no_file'));
  input.classList.add('file-picker-input');
  input.addEventListener('change', () => {
    name.textContent = input.files.length ? [...input.files].map((f) => f.name).join(', ') : t('common.no_file');
  });
  return h('span', { class: 'file-picker' }, input,
    h('label', { for: input.id, class: 'btn file-picker-button', 'aria-hidden': 'true' }, t('common.choose_file')), name);
}

/**
 * A confirmation dialog: ``body`` nodes, a confirm button whose text may change while it is open
 * (``labelOf()``), and ``run`` doing the request. Resolves with run's result, or null when dismissed.
 */
export function confirmDialog({ id, title, body, labelOf, danger = false, run, opener }) {
  return new Promise((resolve) => {
    const slot = h('div', { class: 'form-errors', 'aria-live': 'assertive' });
    const confirm = h('button', { type: 'submit', class: danger ? 'btn btn-danger' : 'btn btn-primary', id: `${id}-confirm` },
      labelOf());
    const cancel = h('button', { type: 'button', class: 'btn btn-ghost', id: `${id}-cancel` }, t('common.cancel'));
    const form = h('form', { method: 'dialog', novalidate: true }, ...body, slot, h('div', { class: 'dialog-actions' }, cancel, confirm));
    const dlg = h('dialog', { class: 'dialog', id, 'aria-labelledby': `${id}-title` }, h('h2', { id: `${id}-title` }, title), form);
    let result = null;
    form.addEventListener('change', () => { confirm.textContent = labelOf(); });
    cancel.addEventListener('click', () => dlg.close());
    dlg.addEventListener('close', () => { dlg.remove(); opener?.focus(); resolve(result); });
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      clear(slot);
      confirm.disabled = true;
      try {
        result = await run(form);
        dlg.close();
      } catch (err) {
        slot.append(errorBanner(err));
      } finally {
        confirm.disabled = false;
      }
    });
    document.body.append(dlg);
    dlg.showModal();
    confirm.focus();
  });
}
