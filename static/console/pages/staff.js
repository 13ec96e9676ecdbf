// The pilot office's staff accounts: create a bank reviewer, zone manager or pilot-office colleague, find
// accounts, disable and re-enable them, set a new password. Every change asks why (kept in the audit log).
import { ApiError, api } from '../api.js';
import { dateTime } from '../format.js';
import { nameOf, t } from '../i18n.js';
import {
  badge, clear, clearFormError, confirmDialog, empty, errorBanner, field, h, loading, pageHeader, section,
  showFormError, table, toast,
} from '../ui.js';

const MADE_HERE = ['bank_reviewer', 'zone_manager', 'pilot_admin'];
const LISTED = [...MADE_HERE, 'industry_regulator', 'org_staff'];
const PAGE = 50;
const MIN_REASON = 4;

export async function list(ctx) {
  const { view } = ctx;
  const banks = (await api.get('/banks')).items;
  if (!ctx.isCurrent()) return;
  const results = h('div', { id: 'staff-results' }, loading(t('common.loading')));
  const filters = filterForm(() => load());
  clear(view).append(pageHeader(t('staff.title')), h('p', { class: 'muted' }, t('staff.intro')),
    createForm(banks, () => load()), section(t('staff.accounts'), filters.form, results));

  /** The first page (``into`` null) replaces the results; "load more" appends rows to the same table. */
  async function load(before = null, into = null) {
    let page;
    try {
      page = await api.get('/staff', { limit: PAGE, ...filters.query(), ...(before ? { before } : {}) });
    } catch (err) {
      clear(results).append(errorBanner(err, { onRetry: () => load() }));
      return;
    }
    if (!ctx.isCurrent()) return;
    const columns = staffColumns(ctx.user, () => load());
    if (!into) {
      clear(results);
      if (!page.items.length) {
        results.append(empty(t('staff.none'), t('staff.none_hint')));
        return;
      }
      into = staffTable(page.items, columns);
      results.append(into);
    } else {
      const tbody = into.querySelector('tbody');
      for (const tr of staffTable(page.items, columns).querySelectorAll('tbody tr')) tbody.append(tr);
    }
    results.querySelector('.more')?.remove();
    if (page.next_before) {
      const more = h('button', { type: 'button', class: 'btn', id: 'staff-more' }, t('common.load_more'));
      more.addEventListener('click', () => load(page.next_before, into));
      results.append(h('div', { class: 'more' }, more));
    }
  }
  await load();
}

function staffTable(rows, columns) {
  return table({
    caption: t('staff.accounts'), columns, rows,
    rowAttrs: (u) => ({ id: `staff-${u.id}`, dataset: { role: u.role, active: String(u.is_active) } }),
  });
}

function staffColumns(me, reload) {
  return [
    { label: t('staff.name'), header: true, render: (u) => u.display_name || '—' },
    { label: t('staff.phone'), render: (u) => h('span', { class: 'nowrap' }, u.phone) },
    { label: t('staff.role'), render: (u) => t(`role.${u.role}`) },
    { label: t('staff.bank'), render: (u) => (u.bank ? nameOf(u.bank) : '—') },
    { label: t('staff.state'), render: (u) => (u.is_active ? badge(t('staff.active'), 'ok') : badge(t('staff.disabled'), 'bad')) },
    { label: t('staff.created_at'), render: (u) => (u.created_at ? dateTime(u.created_at) : '—') },
    { label: t('common.actions'), render: (u) => actions(u, me, reload) },
  ];
}

function filterForm(onChange) {
  const role = h('select', { id: 'staff-filter-role', dataset: { field: 'role' } },
    h('option', { value: '' }, t('staff.all_roles')), LISTED.map((r) => h('option', { value: r }, t(`role.${r}`))));
  const state = h('select', { id: 'staff-filter-active', dataset: { field: 'active' } },
    h('option', { value: '' }, t('staff.all_states')), h('option', { value: 'true' }, t('staff.active')),
    h('option', { value: 'false' }, t('staff.disabled')));
  const q = h('input', { id: 'staff-search', type: 'search', maxlength: '64', dataset: { field: 'q' } });
  const go = h('button', { type: 'submit', class: 'btn', id: 'staff-search-go' }, t('bank.search_go'));
  const form = h('form', { class: 'inline-form', role: 'search', id: 'staff-filters' },
    field(t('staff.role'), role), field(t('staff.state'), state), field(t('staff.search'), q, t('staff.search_hint')), go);
  form.addEventListener('submit', (e) => { e.preventDefault(); onChange(); });
  role.addEventListener('change', onChange);
  state.addEventListener('change', onChange);
  return {
    form,
    query: () => Object.fromEntries([['role', role.value], ['active', state.value], ['q', q.value.trim()]].filter(([, v]) => v)),
  };
}

/** The new account's form: the bank is asked only for a bank reviewer. */
function createForm(banks, onCreated) {
  const name = h('input', { id: 'staff-name', type: 'text', maxlength: '64', autocomplete: 'off', dataset: { field: 'display_name' } });
  const phone = h('input', { id: 'staff-phone', type: 'tel', inputmode: 'numeric', autocomplete: 'off', dataset: { field: 'phone' } });
  const role = h('select', { id: 'staff-role', dataset: { field: 'role' } },
    MADE_HERE.map((r) => h('option', { value: r }, t(`role.${r}`))));
  const bank = h('select', { id: 'staff-bank', dataset: { field: 'bank_code' } },
    h('option', { value: '' }, t('staff.bank_choose')), banks.map((b) => h('option', { value: b.code }, nameOf(b))));
  const password = h('input', { id: 'staff-password', type: 'password', autocomplete: 'new-password', dataset: { field: 'password' } });
  const bankField = field(t('staff.bank'), bank);
  const slot = h('div', { class: 'form-errors', 'aria-live': 'assertive' });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary', id: 'staff-create' }, t('staff.create'));
  const form = h('form', { novalidate: true, id: 'staff-form' }, slot,
    h('div', { class: 'form-grid' }, field(t('staff.name'), name), field(t('staff.phone'), phone), field(t('staff.role'), role),
      bankField, field(t('staff.password'), password, t('staff.password_hint'))), submit);
  const syncBank = () => { bankField.hidden = role.value !== 'bank_reviewer'; };
  role.addEventListener('change', syncBank);
  syncBank();
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearFormError(form, slot);
    const missing = [
      ...(!name.value.trim() ? [{ field: 'display_name', reason: t('staff.name_missing') }] : []),
      ...(!phone.value.trim() ? [{ field: 'phone', reason: t('login.phone_required') }] : []),
      ...(role.value === 'bank_reviewer' && !bank.value ? [{ field: 'bank_code', reason: t('staff.bank_missing') }] : []),
      ...(!password.value ? [{ field: 'password', reason: t('login.password_required') }] : []),
    ];
    if (missing.length) {
      showFormError(form, slot, new ApiError(422, { code: 'console_invalid', errors: missing }));
      return;
    }
    submit.disabled = true;
    try {
      const made = await api.post('/staff', {
        display_name: name.value.trim(), phone: phone.value.trim(), role: role.value, password: password.value,
        bank_code: role.value === 'bank_reviewer' ? bank.value : null,
      });
      toast(t('staff.created', { name: made.display_name, role: t(`role.${made.role}`) }));
      form.reset();
      syncBank();
      await onCreated();
    } catch (err) {
      showFormError(form, slot, err);
    } finally {
      submit.disabled = false;
    }
  });
  return h('details', { class: 'card', id: 'staff-new' }, h('summary', {}, t('staff.new')),
    h('p', { class: 'muted small' }, t('staff.new_hint')), form);
}

function reasonField(id) {
  const reason = h('textarea', { id, rows: '2', maxlength: '500', required: true, dataset: { field: 'reason' } });
  return { reason, node: field(t('staff.reason'), reason, t('staff.reason_hint')) };
}

function checkReason(reason) {
  if (reason.value.trim().length >= MIN_REASON) return;
  throw new ApiError(422, { code: 'console_invalid', errors: [{ field: 'reason', reason: t('staff.reason_missing') }] });
}

function actions(u, me, reload) {
  if (me && u.id === me.id) return h('span', { class: 'muted small' }, t('staff.you'));
  const out = [];
  if (u.is_active) {
    const off = h('button', { type: 'button', class: 'btn btn-danger-outline', id: `staff-disable-${u.id}` }, t('staff.disable'));
    off.addEventListener('click', async (e) => {
      const { reason, node } = reasonField('staff-disable-reason');
      const done = await confirmDialog({
        id: 'staff-disable-dialog', title: t('staff.disable_title', { name: u.display_name }), danger: true,
        opener: e.currentTarget, labelOf: () => t('staff.disable_confirm'),
        body: [h('p', {}, t('staff.disable_intro')), node],
        run: async () => { checkReason(reason); return api.post(`/staff/${u.id}/disable`, { reason: reason.value.trim() }); },
      });
      if (done) { toast(t('staff.disabled_msg', { name: u.display_name })); reload(); }
    });
    out.push(off);
  } else {
    const on = h('button', { type: 'button', class: 'btn', id: `staff-enable-${u.id}` }, t('staff.enable'));
    on.addEventListener('click', async (e) => {
      const { reason, node } = reasonField('staff-enable-reason');
      const done = await confirmDialog({
        id: 'staff-enable-dialog', title: t('staff.enable_title', { name: u.display_name }), opener: e.currentTarget,
        labelOf: () => t('staff.enable_confirm'), body: [h('p', {}, t('staff.enable_intro')), node],
        run: async () => { checkReason(reason); return api.post(`/staff/${u.id}/enable`, { reason: reason.value.trim() }); },
      });
      if (done) { toast(t('staff.enabled_msg', { name: u.display_name })); reload(); }
    });
    out.push(on);
  }
  const pw = h('button', { type: 'button', class: 'btn btn-ghost', id: `staff-password-${u.id}` }, t('staff.new_password'));
  pw.addEventListener('click', async (e) => {
    const password = h('input', { id: 'staff-new-password', type: 'password', autocomplete: 'new-password', dataset: { field: 'password' } });
    const { reason, node } = reasonField('staff-password-reason');
    const done = await confirmDialog({
      id: 'staff-password-dialog', title: t('staff.password_title', { name: u.display_name }), opener: e.currentTarget,
      labelOf: () => t('staff.password_confirm'),
      body: [h('p', {}, t('staff.password_intro')), field(t('staff.password'), password, t('staff.password_hint')), node],
      run: async () => {
        checkReason(reason);
        return api.post(`/staff/${u.id}/password`, { password: password.value, reason: reason.value.trim() });
      },
    });
    if (done) toast(t('staff.password_msg', { name: u.display_name }));
  });
  out.push(pw);
  return h('div', { class: 'row-actions' }, out);
}
