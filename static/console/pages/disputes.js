// Complaints (issue #16 item 3): the bank reviewer's queue of complaints about its merchants (the pilot
// office's: all, and those escalated after their deadline), each with the merchant's answer, photos and the
// decision — uphold (with a refund through the ledger) or reject, with a reason.
import { ApiError, api, newIdempotencyKey, request } from '../api.js';
import { dateTime, fenToInput, parseYuan, yuan } from '../format.js';
import { extend, getLang, t } from '../i18n.js';
import {
  badge, clear, clearFormError, empty, errorBanner, field, h, loading, pageHeader, showFormError, toast,
} from '../ui.js';
import zh from '../locales/disputes.zh.json' with { type: 'json' };
import en from '../locales/disputes.en.json' with { type: 'json' };

extend({ zh, en });

const PENDING = ['open', 'answered'];
const STATUS_KIND = { open: 'warn', answered: 'live', upheld: 'ok', rejected: 'neutral', withdrawn: 'neutral' };

function subjectText(c) {
  return t(`disputes.subject.${c.subject_kind}`, { id: c.subject_id });
}

function payerText(c) {
  return c.payer ? [c.payer.name, c.payer.phone].filter(Boolean).join(' · ') : '—';
}

function due(iso, overdue) {
  return h('span', { class: 'nowrap' }, dateTime(iso), overdue ? [' ', badge(t('disputes.overdue'), 'bad')] : null);
}

/** The photos, fetched with the bearer token (an <img src> could not carry it) and shown as thumbnails. */
function photoStrip(c) {
  const strip = h('div', { class: 'dispute-photos' });
  c.photos.forEach((p, i) => {
    const img = h('img', { alt: t('disputes.photo_alt', { n: i + 1 }), width: '96', height: '96', loading: 'lazy' });
    strip.append(img);
    request('GET', `/protection/complaints/${c.id}/photos/${p.id}`, { raw: true })
      .then((resp) => resp.blob())
      .then((blob) => { img.src = URL.createObjectURL(blob); })
      .catch(() => { img.alt = '—'; });
  });
  return strip;
}

function decisionText(c) {
  if (!c.decided_at) return null;
  return h('div', {}, h('dt', {}, t('disputes.decision')),
    h('dd', {}, c.decision_reason || '—', c.refund_fen ? [' · ', t('disputes.refunded', { amount: yuan(c.refund_fen) })] : null));
}

function complaintCard(c, onDecide, standing) {
  const pending = PENDING.includes(c.status);
  const actions = pending ? h('div', { class: 'app-card-actions' },
    h('button', { type: 'button', class: 'btn btn-primary', dataset: { action: 'uphold', complaint: c.id },
      onclick: (e) => onDecide(c, 'upheld', e.currentTarget) }, t('disputes.uphold')),
    h('button', { type: 'button', class: 'btn btn-danger-outline', dataset: { action: 'reject', complaint: c.id },
      onclick: (e) => onDecide(c, 'rejected', e.currentTarget) }, t('disputes.reject'))) : null;
  return h('article', { class: 'app-card', id: `complaint-${c.id}`, 'aria-labelledby': `complaint-${c.id}-title`,
    dataset: { status: c.status } },
  h('div', { class: 'app-card-head' },
    h('h3', { id: `complaint-${c.id}-title` }, `#${c.id} · ${getLang() === 'en' ? c.category_en : c.category_zh}`),
    h('span', {}, c.escalated_at ? [badge(t('disputes.escalated'), 'bad'), ' '] : null,
      badge(t(`disputes.status.${c.status}`), STATUS_KIND[c.status] || 'neutral'))),
  h('dl', { class: 'facts' },
    h('div', {}, h('dt', {}, t('disputes.merchant')), h('dd', {}, c.merchant_name_zh)),
    standing ? h('div', {}, h('dt', {}, t('disputes.standing_label', { days: standing.days })),
      h('dd', { dataset: { standing: c.merchant_id } },
        t('disputes.standing', { n: standing.complaints, upheld: standing.upheld }))) : null,
    h('div', {}, h('dt', {}, t('disputes.subject')), h('dd', {}, subjectText(c))),
    h('div', {}, h('dt', {}, t('disputes.payer')), h('dd', { class: 'nowrap' }, payerText(c))),
    h('div', {}, h('dt', {}, t('disputes.created_at')), h('dd', {}, dateTime(c.created_at))),
    pending ? h('div', {}, h('dt', {}, t('disputes.answer_due')), h('dd', {}, due(c.answer_due_at, c.answer_overdue))) : null,
    pending ? h('div', {}, h('dt', {}, t('disputes.decision_due')), h('dd', {}, due(c.decision_due_at, c.decision_overdue))) : null,
    pending && c.refundable_fen !== null && c.refundable_fen !== undefined
      ? h('div', {}, h('dt', {}, t('disputes.refundable')), h('dd', {}, yuan(c.refundable_fen))) : null),
  h('dl', { class: 'facts facts-wide' },
    h('div', {}, h('dt', {}, t('disputes.text')), h('dd', {}, c.text)),
    h('div', {}, h('dt', {}, t('disputes.answer')), h('dd', {}, c.answer || h('span', { class: 'muted' }, t('disputes.no_answer')))),
    decisionText(c)),
  c.photos && c.photos.length ? photoStrip(c) : null,
  actions);
}

/** The decision dialog: refund (uphold, payments only) and reason. Resolves with the decided complaint or null. */
function decisionDialog(c, outcome, opener) {
  return new Promise((resolve) => {
    const canRefund = outcome === 'upheld' && c.refundable_fen !== null && c.refundable_fen !== undefined;
    const amount = h('input', { id: 'decision-refund', inputmode: 'decimal', dataset: { field: 'refund_fen' },
      value: canRefund ? fenToInput(c.refundable_fen) : '0.00', disabled: canRefund ? null : true });
    const reason = h('textarea', { id: 'decision-reason', rows: '3', maxlength: '500', required: true,
      dataset: { field: 'reason' } });
    const slot = h('div', { class: 'form-errors' });
    const confirm = h('button', { type: 'submit', id: 'decision-confirm',
      class: outcome === 'upheld' ? 'btn btn-primary' : 'btn btn-danger' },
    outcome === 'upheld' ? t('disputes.confirm_uphold') : t('disputes.confirm_reject'));
    const cancel = h('button', { type: 'button', class: 'btn btn-ghost', id: 'decision-cancel' }, t('common.cancel'));
    const form = h('form', { method: 'dialog', novalidate: true }, slot,
      outcome === 'upheld' ? field(t('disputes.refund_yuan'), amount, canRefund
        ? t('disputes.refund_hint', { max: yuan(c.refundable_fen) }) : t('disputes.refund_none_hint')) : null,
      field(t('disputes.reason'), reason, t('disputes.reason_hint')),
      h('div', { class: 'dialog-actions' }, cancel, confirm));
    const dlg = h('dialog', { class: 'dialog', 'aria-labelledby': 'decision-title' },
      h('h2', { id: 'decision-title' }, outcome === 'upheld' ? t('disputes.uphold_title') : t('disputes.reject_title')),
      h('p', {}, h('strong', {}, `#${c.id}`), ` · ${c.merchant_name_zh} · ${subjectText(c)}`),
      form);
    let result = null;
    const key = newIdempotencyKey('complaint');  // a retry of this decision is the same request
    cancel.addEventListener('click', () => dlg.close());
    dlg.addEventListener('close', () => { dlg.remove(); opener?.focus(); resolve(result); });
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      clearFormError(form, slot);
      const refund = canRefund ? parseYuan(amount.value) : 0;
      const errors = [];
      if (refund === null || refund > (c.refundable_fen || 0)) {
        errors.push({ field: 'refund_fen', reason: t('disputes.refund_invalid') });
      }
      if (reason.value.trim().length < 4) errors.push({ field: 'reason', reason: t('disputes.reason_missing') });
      if (errors.length) {
        showFormError(form, slot, new ApiError(422, { code: 'console_invalid', errors }));
        return;
      }
      confirm.disabled = true;
      try {
        result = await api.post(`/protection/complaints/${c.id}/decision`,
          { outcome, reason: reason.value.trim(), refund_fen: refund }, { idempotencyKey: key });
        dlg.close();
      } catch (err) {
        showFormError(form, slot, err);
      } finally {
        confirm.disabled = false;
      }
    });
    document.body.append(dlg);
    dlg.showModal();
    (canRefund ? amount : reason).focus();
  });
}

export async function queue(ctx) {
  const { view, user } = ctx;
  const office = user && user.role === 'pilot_admin';
  const status = h('select', { id: 'complaints-status', dataset: { field: 'status' } },
    h('option', { value: 'pending' }, t('disputes.filter_pending')),
    ['open', 'answered', 'upheld', 'rejected', 'withdrawn'].map((s) => h('option', { value: s }, t(`disputes.status.${s}`))),
    h('option', { value: '' }, t('disputes.filter_all')));
  const escalated = office ? h('input', { id: 'complaints-escalated', type: 'checkbox' }) : null;
  const filters = h('form', { class: 'inline-form', id: 'complaints-filters', novalidate: true },
    field(t('disputes.filter_status'), status),
    escalated ? h('div', { class: 'field' }, h('label', { for: 'complaints-escalated' }, escalated, ' ',
      t('disputes.filter_escalated'))) : null);
  const count = h('span', { class: 'count-badge', id: 'complaints-count' });
  const banner = h('div', { class: 'status-slot', 'aria-live': 'polite' });
  const list = h('div', { class: 'app-list', id: 'complaints-list' });
  const cfg = await api.get('/protection/complaint-categories');
  if (!ctx.isCurrent()) return;
  clear(view).append(pageHeader(t('disputes.title')),
    h('p', { class: 'muted' }, office ? t('disputes.intro_office')
      : t('disputes.intro', { answer: cfg.answer_days, decision: cfg.decision_days })),
    filters, count, banner, list);

  async function onDecide(c, outcome, opener) {
    const done = await decisionDialog(c, outcome, opener);
    if (!done) return;
    const msg = t('disputes.decided_msg', { id: done.id, outcome: t(`disputes.status.${done.status}`) });
    clear(banner).append(h('div', { class: 'banner banner-success', role: 'status' }, h('p', { class: 'banner-title' }, msg)));
    toast(msg);
    await load();
  }

  let generation = 0;
  async function load() {
    const mine = ++generation;
    clear(list).append(loading());
    try {
      const wanted = status.value === 'pending' ? PENDING : [status.value || undefined];
      const pages = await Promise.all(wanted.map((s) => api.get('/protection/complaints', {
        status: s, escalated: escalated && escalated.checked ? 'true' : undefined, limit: 100 })));
      const rows = pages.flatMap((p) => p.items).sort((a, b) => a.decision_due_at.localeCompare(b.decision_due_at));
      // The list has no photos or refundable amount: each card reads its complaint in full.
      const full = await Promise.all(rows.map((c) => api.get(`/protection/complaints/${c.id}`)));
      // Each merchant's standing: its complaints of the last 90 days and how many were upheld.
      const merchants = [...new Set(full.map((c) => c.merchant_id))];
      const standings = Object.fromEntries(await Promise.all(merchants.map(
        async (id) => [id, await api.get(`/protection/merchants/${id}/standing`)])));
      if (!ctx.isCurrent() || mine !== generation) return;
      clear(list);
      count.textContent = t('disputes.count', { n: full.length });
      if (!full.length) list.append(empty(t('disputes.empty'), t('disputes.empty_hint')));
      full.forEach((c) => list.append(complaintCard(c, onDecide, standings[c.merchant_id])));
    } catch (err) {
      if (mine === generation) clear(list).append(errorBanner(err, { onRetry: load }));
    }
  }
  status.addEventListener('change', load);
  escalated?.addEventListener('change', load);
  filters.addEventListener('submit', (e) => { e.preventDefault(); load(); });
  await load();
}
