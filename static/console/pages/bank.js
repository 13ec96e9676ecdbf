// Bank reviewer: the queue of merchant applications for their bank (approve / reject with a reason),
// and the merchants their bank approved.
import { ApiError, api } from '../api.js';
import { dateTime } from '../format.js';
import { nameOf, t } from '../i18n.js';
import {
  badge, clear, clearFormError, empty, errorBanner, field, h, loading, pageHeader, section, showFormError, table, toast,
} from '../ui.js';

const PAGE = 20;

function scenarioLabel(m) {
  return `${m.scenario_zh} ${t(`scenario.${m.scenario}`)}`;
}

/** "黄老板 · 139****0001": who applied (the reviewer calls them about the application). */
function applicantText(m) {
  const a = m.applicant;
  if (!a) return '—';
  return [a.display_name, a.phone_masked].filter(Boolean).join(' · ');
}

/** The licence number with the result of its GB 32100 check character. */
function usccFacts(m) {
  return h('span', {}, h('code', { class: 'nowrap' }, m.uscc), ' ',
    m.uscc_check_ok ? badge(t('merchant.uscc_ok'), 'ok') : badge(t('merchant.uscc_bad'), 'bad'));
}

/** The zone the merchant lands in on approval (placed by its coordinates), filled in when known. */
function zoneSlot(m) {
  const slot = h('dd', { dataset: { zoneOf: m.id } }, '…');
  api.get('/zones/locate', { lat: m.latitude, lon: m.longitude, radius_m: 1, limit: 1 })
    .then((r) => { slot.textContent = r.zone ? nameOf(r.zone) : t('merchant.zone_none'); })
    .catch(() => { slot.textContent = '—'; });
  return slot;
}

function applicationCard(m, onReview) {
  const approveBtn = h('button', { type: 'button', class: 'btn btn-primary', dataset: { action: 'approve', merchant: m.id } },
    t('bank.approve'));
  const rejectBtn = h('button', { type: 'button', class: 'btn btn-danger-outline', dataset: { action: 'reject', merchant: m.id } },
    t('bank.reject'));
  approveBtn.addEventListener('click', () => onReview(m, 'approve', approveBtn));
  rejectBtn.addEventListener('click', () => onReview(m, 'reject', rejectBtn));
  const title = nameOf(m);
  return h('article', { class: 'app-card', id: `application-${m.id}`, 'aria-labelledby': `application-${m.id}-title` },
    h('div', { class: 'app-card-head' },
      h('h3', { id: `application-${m.id}-title` }, title),
      badge(t('status.pending'), 'warn')),
    h('dl', { class: 'facts' },
      // The other language's name is part of what is reviewed (it is printed in the QR code), so it is a
      // labelled fact, not a second title.
      h('div', {}, h('dt', {}, t('merchant.name_other')), h('dd', {}, nameOf(m) === m.name_zh ? m.name_en : m.name_zh)),
      h('div', {}, h('dt', {}, t('merchant.applicant')), h('dd', { class: 'nowrap' }, applicantText(m))),
      h('div', {}, h('dt', {}, t('merchant.number')), h('dd', {}, m.merchant_number)),
      h('div', {}, h('dt', {}, t('merchant.uscc')), h('dd', {}, usccFacts(m))),
      h('div', {}, h('dt', {}, t('merchant.zone')), zoneSlot(m)),
      h('div', {}, h('dt', {}, t('merchant.scenario')), h('dd', {}, scenarioLabel(m))),
      h('div', {}, h('dt', {}, t('merchant.mcc')), h('dd', {}, m.mcc)),
      h('div', {}, h('dt', {}, t('merchant.address')), h('dd', {}, m.address)),
      h('div', {}, h('dt', {}, t('merchant.location')), h('dd', {}, `${m.latitude.toFixed(5)}, ${m.longitude.toFixed(5)}`)),
      h('div', {}, h('dt', {}, t('merchant.applied_at')), h('dd', {}, dateTime(m.created_at)))),
    h('div', { class: 'app-card-actions' }, approveBtn, rejectBtn));
}

/** The review dialog: decision, reason (required to reject), confirm. Resolves with the reviewed merchant. */
function reviewDialog(m, decision, opener) {
  return new Promise((resolve) => {
    const reason = h('textarea', { id: 'review-reason', rows: '3', maxlength: '500', dataset: { field: 'reason' },
      required: decision === 'reject' ? true : null });
    const slot = h('div', { class: 'form-errors' });
    const confirm = h('button', { type: 'submit', class: decision === 'approve' ? 'btn btn-primary' : 'btn btn-danger',
      id: 'review-confirm' }, decision === 'approve' ? t('bank.confirm_approve') : t('bank.confirm_reject'));
    const cancel = h('button', { type: 'button', class: 'btn btn-ghost', id: 'review-cancel' }, t('common.cancel'));
    const form = h('form', { method: 'dialog', novalidate: true }, slot,
      field(decision === 'approve' ? t('bank.reason_optional') : t('bank.reason_required'), reason,
        decision === 'approve' ? t('bank.approve_hint') : t('bank.reject_hint')),
      h('div', { class: 'dialog-actions' }, cancel, confirm));
    const dlg = h('dialog', { class: 'dialog', 'aria-labelledby': 'review-title' },
      h('h2', { id: 'review-title' }, decision === 'approve' ? t('bank.approve_title') : t('bank.reject_title')),
      h('p', {}, h('strong', {}, nameOf(m)), ` · ${m.merchant_number} · `, h('code', {}, m.uscc)),
      form);
    let result = null;
    const close = () => dlg.close();
    cancel.addEventListener('click', close);
    dlg.addEventListener('close', () => {
      dlg.remove();
      opener?.focus();
      resolve(result);
    });
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      clearFormError(form, slot);
      if (decision === 'reject' && !reason.value.trim()) {
        showFormError(form, slot, new ApiError(422, { code: 'console_invalid',
          errors: [{ field: 'reason', reason: t('bank.reason_missing') }] }));
        reason.focus();
        return;
      }
      confirm.disabled = true;
      try {
        result = await api.post(`/merchants/${m.id}/review`, { decision, reason: reason.value });
        close();
      } catch (err) {
        showFormError(form, slot, err);
      } finally {
        confirm.disabled = false;
      }
    });
    document.body.append(dlg);
    dlg.showModal();
    reason.focus();
  });
}

export async function queue(ctx) {
  const { view } = ctx;
  const status = h('div', { class: 'status-slot', 'aria-live': 'polite' });
  const list = h('div', { class: 'app-list' });
  const more = h('div', { class: 'more' });
  let next = null;
  let count = 0;
  const countBadge = h('span', { class: 'count-badge', id: 'pending-count' });

  function setCount() { countBadge.textContent = t('bank.pending_count', { n: count }); }

  async function onReview(m, decision, opener) {
    const done = await reviewDialog(m, decision, opener);
    if (!done) return;
    document.getElementById(`application-${m.id}`)?.remove();
    count = Math.max(0, count - 1);
    setCount();
    const msg = done.status === 'approved' ? t('bank.approved_msg', { name: nameOf(done) })
      : t('bank.rejected_msg', { name: nameOf(done) });
    clear(status).append(h('div', { class: 'banner banner-success', role: 'status' }, h('p', { class: 'banner-title' }, msg)));
    toast(msg);
    if (!list.querySelector('.app-card')) showEmpty();
    const title = document.getElementById('page-title');
    if (title && !list.contains(document.activeElement)) title.focus();
  }

  function showEmpty() {
    clear(list).append(empty(t('bank.queue_empty'), t('bank.queue_empty_hint')));
  }

  async function load(before) {
    const page = await api.get('/merchants', { status: 'pending', limit: PAGE, before });
    if (!ctx.isCurrent()) return;
    if (!before) clear(list);
    count += page.items.length;
    page.items.forEach((m) => list.append(applicationCard(m, onReview)));
    if (!before && !page.items.length) showEmpty();
    next = page.next_before;
    clear(more);
    if (next) {
      more.append(h('button', { type: 'button', class: 'btn', onclick: async (e) => {
        e.target.disabled = true;
        try { await load(next); } catch (err) { clear(status).append(errorBanner(err)); e.target.disabled = false; }
      } }, t('common.load_more')));
    }
    setCount();
  }

  const refresh = h('button', { type: 'button', class: 'btn', onclick: () => ctx.navigate('#/review') }, t('common.refresh'));
  clear(view).append(pageHeader(t('bank.queue_title'), refresh),
    h('p', { class: 'muted' }, t('bank.queue_intro')), countBadge, status, list, more);
  list.append(loading());
  await load();
}

/** Review history: every decided application of this bank, by status and search (name, USCC, number). */
export async function approved(ctx) {
  const { view } = ctx;
  const body = h('div', {}, loading());
  const more = h('div', { class: 'more' });
  const rows = [];
  const status = h('select', { id: 'history-status', dataset: { field: 'status' } },
    h('option', { value: 'approved' }, t('status.approved')),
    h('option', { value: 'rejected' }, t('status.rejected')),
    h('option', { value: '' }, t('bank.filter_all')));
  const search = h('input', { id: 'history-search', type: 'search', maxlength: '64', dataset: { field: 'q' },
    placeholder: t('bank.search_hint') });
  const filters = h('form', { class: 'inline-form', id: 'history-filters', role: 'search', novalidate: true },
    field(t('bank.filter_status'), status), field(t('bank.search'), search),
    h('button', { type: 'submit', class: 'btn' }, t('bank.search_go')));
  clear(view).append(pageHeader(t('bank.approved_title')), h('p', { class: 'muted' }, t('bank.approved_intro')),
    filters, section(t('bank.approved_list'), body, more));

  function draw() {
    clear(body);
    if (!rows.length) { body.append(empty(t('bank.approved_empty'), t('bank.approved_empty_hint'))); return; }
    body.append(table({
      caption: t('bank.approved_list'),
      columns: [
        { label: t('merchant.number'), key: 'merchant_number', header: true },
        { label: t('merchant.name'), render: (m) => h('span', {}, nameOf(m)) },
        { label: t('merchant.status'), render: (m) => badge(t(`status.${m.status}`), m.status === 'approved' ? 'ok' : m.status === 'rejected' ? 'bad' : 'warn') },
        { label: t('merchant.applicant'), render: (m) => h('span', { class: 'nowrap' }, applicantText(m)) },
        { label: t('merchant.uscc'), render: (m) => usccFacts(m) },
        { label: t('merchant.scenario'), render: (m) => scenarioLabel(m) },
        { label: t('merchant.reviewed_at'), render: (m) => (m.reviewed_at ? dateTime(m.reviewed_at) : '—') },
        { label: t('merchant.review_reason'), render: (m) => m.review_reason || '—' },
      ],
      rows,
      rowAttrs: (m) => ({ id: `approved-${m.id}`, dataset: { status: m.status } }),
    }));
  }

  let generation = 0;  // a newer search replaces the answer of an older one still on its way

  async function load(before) {
    const mine = generation;
    const query = { status: status.value || undefined, q: search.value.trim() || undefined, limit: 50, before };
    const page = await api.get('/merchants', query);
    if (!ctx.isCurrent() || mine !== generation) return;
    // Everything but the open applications (those are in the queue).
    rows.push(...page.items.filter((m) => m.status !== 'pending'));
    draw();
    clear(more);
    if (page.next_before) {
      more.append(h('button', { type: 'button', class: 'btn', onclick: async (e) => {
        e.target.disabled = true;
        try { await load(page.next_before); } catch (err) { more.append(errorBanner(err)); e.target.disabled = false; }
      } }, t('common.load_more')));
    }
  }

  async function reload() {
    generation += 1;
    rows.length = 0;
    clear(body).append(loading());
    try { await load(); } catch (err) { clear(body).append(errorBanner(err)); }
  }
  filters.addEventListener('submit', (e) => { e.preventDefault(); reload(); });
  status.addEventListener('change', reload);
  await load();
}
