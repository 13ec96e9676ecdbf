// Prepaid supervision (预付费监管): the bank's review queue of prepaid applications; the regulator's (and the
// pilot office's) overview of outstanding liabilities with warning signs, and a merchant's page with its credit
// grade (override with a reason), complaints, today's statement and suspension / closure with refund progress.
import { ApiError, api } from '../api.js';
import { dateTime, num, yuan } from '../format.js';
import { getLang, t } from '../i18n.js';
import {
  badge, clear, clearFormError, empty, errorBanner, field, h, pageHeader, section, showFormError, table, tile, toast,
} from '../ui.js';

const GRADE_KIND = { A: 'ok', B: 'warn', C: 'bad' };

function industryLabel(m) {
  const name = t(`prepaid.industry.${m.industry}`);
  return getLang() === 'zh' || !m.industry_zh ? name : `${m.industry_zh} ${name}`;
}

function gradeBadge(grade) {
  if (!grade) return badge(t('prepaid.no_grade'));
  const g = typeof grade === 'string' ? grade : grade.grade;
  return h('span', { class: `badge badge-${GRADE_KIND[g] || 'neutral'} grade-badge`, dataset: { grade: g } },
    t('prepaid.grade_badge', { grade: g }));
}

function statusBadge(status) {
  const kind = { approved: 'ok', pending: 'warn', suspended: 'bad', closed: 'bad', rejected: 'neutral' }[status];
  return badge(t(`prepaid.status.${status}`), kind || 'neutral');
}

function pct(bp) { return bp === null || bp === undefined ? '—' : `${(bp / 100).toFixed(2)}%`; }

// ---------------------------------------------------------------- the bank's review queue

function reviewCard(m, onDone) {
  const reason = h('textarea', { id: `prepaid-reason-${m.id}`, rows: '2', maxlength: '500', dataset: { field: 'reason' } });
  const slot = h('div', { class: 'form-errors' });
  const form = h('form', { novalidate: true }, slot, field(t('prepaid.review_reason'), reason, t('prepaid.review_hint')));
  async function decide(decision, btn) {
    clearFormError(form, slot);
    if (decision === 'reject' && !reason.value.trim()) {
      showFormError(form, slot, new ApiError(422, { code: 'console_invalid',
        errors: [{ field: 'reason', reason: t('bank.reason_missing') }] }));
      reason.focus();
      return;
    }
    btn.disabled = true;
    try {
      onDone(await api.post(`/prepaid/merchants/${m.id}/review`, { decision, reason: reason.value }));
    } catch (err) {
      showFormError(form, slot, err);
      btn.disabled = false;
    }
  }
  const approve = h('button', { type: 'button', class: 'btn btn-primary', dataset: { action: 'approve' } },
    t('bank.approve'));
  const reject = h('button', { type: 'button', class: 'btn btn-danger-outline', dataset: { action: 'reject' } },
    t('bank.reject'));
  approve.addEventListener('click', () => decide('approve', approve));
  reject.addEventListener('click', () => decide('reject', reject));
  return h('article', { class: 'app-card', id: `prepaid-application-${m.id}` },
    h('div', { class: 'app-card-head' }, h('h3', {}, m.name_zh, ' ', h('span', { class: 'muted small' }, m.name_en)),
      badge(t('status.pending'), 'warn')),
    h('dl', { class: 'facts' },
      h('div', {}, h('dt', {}, t('prepaid.industry')), h('dd', {}, industryLabel(m))),
      h('div', {}, h('dt', {}, t('prepaid.bank')), h('dd', {}, m.bank_code)),
      h('div', {}, h('dt', {}, t('merchant.applied_at')), h('dd', {}, dateTime(m.created_at)))),
    form, h('div', { class: 'app-card-actions' }, approve, reject));
}

export async function review(ctx) {
  const { view } = ctx;
  const status = h('div', { class: 'status-slot', 'aria-live': 'polite' });
  const list = h('div', { class: 'app-list' });
  const page = await api.get('/prepaid/merchants', { status: 'pending', limit: 100 });
  if (!ctx.isCurrent()) return;
  const onDone = (done) => {
    document.getElementById(`prepaid-application-${done.id}`)?.remove();
    const msg = t(done.status === 'approved' ? 'prepaid.approved_msg' : 'prepaid.rejected_msg', { name: done.name_zh });
    clear(status).append(h('div', { class: 'banner banner-success', role: 'status' }, h('p', { class: 'banner-title' }, msg)));
    toast(msg);
    if (!list.querySelector('.app-card')) list.append(empty(t('prepaid.queue_empty'), t('prepaid.queue_empty_hint')));
  };
  page.items.forEach((m) => list.append(reviewCard(m, onDone)));
  if (!page.items.length) list.append(empty(t('prepaid.queue_empty'), t('prepaid.queue_empty_hint')));
  clear(view).append(pageHeader(t('prepaid.queue_title')), h('p', { class: 'muted' }, t('prepaid.queue_intro')),
    status, list);
}

// ---------------------------------------------------------------- the regulator's overview

export async function overview(ctx) {
  const { view } = ctx;
  const data = await api.get('/prepaid/supervision');
  if (!ctx.isCurrent()) return;
  const outstanding = data.industries.reduce((s, i) => s + i.outstanding_fen, 0);
  const warnings = data.merchants.reduce((s, m) => s + m.warnings.length, 0);
  const csv = h('button', { type: 'button', class: 'btn', id: 'prepaid-csv' }, t('prepaid.csv'));
  csv.addEventListener('click', async () => {
    csv.disabled = true;
    try {
      toast(t('reports.downloaded', { name: await api.download('/prepaid/supervision', { format: 'csv' },
        'prepaid-supervision.csv') }));
    } catch (err) {
      clear(ctx.banner).append(errorBanner(err));
    } finally {
      csv.disabled = false;
    }
  });
  const tiles = h('div', { class: 'tiles' },
    tile(t('prepaid.outstanding'), yuan(outstanding), t('prepaid.outstanding_sub'), { id: 'prepaid-outstanding' }),
    tile(t('prepaid.merchants'), num(data.merchants.length)),
    tile(t('prepaid.warnings'), num(warnings), null, { id: 'prepaid-warning-count' }));
  const industries = table({
    caption: t('prepaid.by_industry'),
    columns: [
      { label: t('prepaid.industry'), header: true, render: (r) => industryLabel(r) },
      { label: t('prepaid.merchants'), num: true, render: (r) => num(r.merchants) },
      { label: t('prepaid.outstanding'), num: true, render: (r) => yuan(r.outstanding_fen) },
      { label: t('prepaid.sold_30d'), num: true, render: (r) => yuan(r.sold_30d_fen) },
      { label: t('prepaid.released_30d'), num: true, render: (r) => yuan(r.released_30d_fen) },
      { label: t('prepaid.refunds_30d'), num: true, render: (r) => num(r.refunds_30d) },
      { label: t('prepaid.complaints_30d'), num: true, render: (r) => num(r.complaints_30d) },
    ],
    rows: data.industries,
  });
  const merchants = data.merchants.length ? table({
    caption: t('prepaid.by_merchant'),
    columns: [
      { label: t('prepaid.merchant'), header: true,
        render: (r) => h('a', { href: `#/prepaid/merchants/${r.prepaid_merchant_id}` }, r.name_zh) },
      { label: t('prepaid.industry'), render: (r) => t(`prepaid.industry.${r.industry}`) },
      { label: t('prepaid.status_label'), render: (r) => statusBadge(r.status) },
      { label: t('prepaid.grade'), render: (r) => gradeBadge(r.credit_grade) },
      { label: t('prepaid.outstanding'), num: true, render: (r) => yuan(r.outstanding_fen) },
      { label: t('prepaid.sold_30d'), num: true, render: (r) => yuan(r.sold_30d_fen) },
      { label: t('prepaid.release_rate'), num: true, render: (r) => pct(r.release_rate_bp) },
      { label: t('prepaid.refunds_30d'), num: true, render: (r) => num(r.refunds_30d) },
      { label: t('prepaid.complaints_30d'), num: true, render: (r) => num(r.complaints_30d) },
      { label: t('prepaid.warnings'), render: (r) => (r.warnings.length
        ? h('span', {}, r.warnings.map((w) => badge(t(`prepaid.warning.${w}`), 'bad')))
        : badge(t('prepaid.no_warning'), 'ok')) },
    ],
    rows: data.merchants,
    rowAttrs: (r) => ({ id: `prepaid-row-${r.prepaid_merchant_id}` }),
  }) : empty(t('prepaid.none'), t('prepaid.none_hint'));
  clear(view).append(pageHeader(t('prepaid.overview_title'), csv),
    h('p', { class: 'muted' }, t('prepaid.overview_intro')), tiles,
    section(t('prepaid.by_industry'), industries), section(t('prepaid.by_merchant'), merchants));
}

// ---------------------------------------------------------------- one merchant

function gradeSection(m, grade, canOverride, reload) {
  const inputs = grade.now ? table({
    caption: t('prepaid.grade_inputs'),
    columns: [
      { label: t('prepaid.input'), header: true, render: (r) => t(`prepaid.input.${r[0]}`) },
      { label: t('prepaid.value'), num: true, render: (r) => (r[0].endsWith('_bp') ? pct(r[1]) : num(r[1])) },
      { label: t('prepaid.points'), num: true, render: (r) => num(grade.now.points[r[0]]) },
    ],
    rows: Object.keys(grade.now.points).map((k) => [k, grade.now.inputs[k]]),
    stack: false,
  }) : null;
  const history = (grade.history || []).length ? table({
    caption: t('prepaid.grade_history'),
    columns: [
      { label: t('prepaid.when'), header: true, render: (r) => r.day || dateTime(r.created_at) },
      { label: t('prepaid.kind'), render: (r) => t(`prepaid.grade_kind.${r.kind}`) },
      { label: t('prepaid.grade'), render: (r) => (r.grade ? gradeBadge(r.grade) : '—') },
      { label: t('prepaid.reason'), render: (r) => r.reason || '' },
    ],
    rows: grade.history,
  }) : null;
  let form = null;
  if (canOverride) {
    const select = h('select', { id: 'grade-select', dataset: { field: 'grade' } },
      h('option', { value: 'A' }, 'A'), h('option', { value: 'B' }, 'B'), h('option', { value: 'C' }, 'C'),
      h('option', { value: '' }, t('prepaid.clear_override')));
    const reason = h('textarea', { id: 'grade-reason', rows: '2', maxlength: '500', dataset: { field: 'reason' } });
    const slot = h('div', { class: 'form-errors' });
    form = h('form', { id: 'grade-form', novalidate: true }, slot, field(t('prepaid.override_grade'), select),
      field(t('prepaid.reason'), reason, t('prepaid.override_hint')),
      h('button', { type: 'submit', class: 'btn btn-primary', id: 'grade-submit' }, t('prepaid.override_submit')));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      clearFormError(form, slot);
      try {
        await api.post(`/prepaid/merchants/${m.id}/grade`, { grade: select.value || null, reason: reason.value });
        toast(t('prepaid.override_done'));
        reload();
      } catch (err) {
        showFormError(form, slot, err);
      }
    });
  }
  return section(t('prepaid.grade'),
    h('p', { id: 'prepaid-grade' }, gradeBadge(grade), ' ',
      h('span', { class: 'muted' }, t(`prepaid.grade_source.${grade.source}`),
        grade.score !== null && grade.score !== undefined ? ` · ${t('prepaid.score', { score: grade.score })}` : '',
        grade.reason ? ` · ${grade.reason}` : '')),
    h('p', { class: 'muted small' }, t('prepaid.grade_doc')), inputs, form, history);
}

function statusSection(m, canChange, reload) {
  if (!canChange || !['approved', 'suspended'].includes(m.status)) return null;
  const target = h('select', { id: 'status-select', dataset: { field: 'status' } },
    ...(m.status === 'approved' ? ['suspended', 'closed'] : ['approved', 'closed'])
      .map((s) => h('option', { value: s }, t(`prepaid.status_action.${s}`))));
  const reason = h('textarea', { id: 'status-reason', rows: '2', maxlength: '500', dataset: { field: 'reason' } });
  const slot = h('div', { class: 'form-errors' });
  const progress = h('div', { id: 'closure-progress', 'aria-live': 'polite' });
  const form = h('form', { id: 'status-form', novalidate: true }, slot, field(t('prepaid.status_change'), target),
    field(t('prepaid.reason'), reason, t('prepaid.status_hint')),
    h('button', { type: 'submit', class: 'btn btn-danger', id: 'status-submit' }, t('prepaid.status_submit')));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearFormError(form, slot);
    try {
      const body = await api.post(`/prepaid/merchants/${m.id}/status`, { status: target.value, reason: reason.value });
      if (body.closure) {
        const c = body.closure;
        clear(progress).append(h('div', { class: 'banner banner-success', role: 'status' },
          h('p', { class: 'banner-title' }, t('prepaid.closure_progress', {
            counted: c.counted, refunded: c.refunded, failed: c.failed, fen: yuan(c.refunded_fen) }))));
      }
      toast(t('prepaid.status_done'));
      setTimeout(reload, 1500);
    } catch (err) {
      showFormError(form, slot, err);
    }
  });
  return section(t('prepaid.status_change'), h('p', { class: 'muted' }, t('prepaid.status_intro')), form, progress);
}

export async function merchant(ctx) {
  const { view, params, user } = ctx;
  const id = params.prepaidMerchantId;
  const today = new Date().toLocaleDateString('sv-SE', { timeZone: 'Asia/Shanghai' });
  const [m, grade, complaints, statement] = await Promise.all([
    api.get(`/prepaid/merchants/${id}`), api.get(`/prepaid/merchants/${id}/grade`),
    api.get('/prepaid/complaints', { prepaid_merchant_id: id, limit: 50 }),
    api.get(`/prepaid/merchants/${id}/statements/${today}`)]);
  if (!ctx.isCurrent()) return;
  const reload = () => ctx.navigate(`#/prepaid/merchants/${id}`);
  const canOverride = ['industry_regulator', 'pilot_admin'].includes(user.role);
  const s = statement;
  const facts = h('div', { class: 'tiles' },
    tile(t('prepaid.escrow_end'), yuan(s.escrow_end_fen), t('prepaid.escrow_start', { fen: yuan(s.escrow_start_fen) })),
    tile(t('prepaid.sold_today'), yuan(s.sold_fen), t('prepaid.contracts_n', { n: s.contracts_sold })),
    tile(t('prepaid.released_today'), yuan(s.released_fen), t('prepaid.releases_n', { n: s.releases })),
    tile(t('prepaid.refunded_today'), yuan(s.refunded_fen), t('prepaid.refunds_n', { n: s.refunds })),
    tile(t('prepaid.ties_out'), s.ties_out ? t('prepaid.yes') : t('prepaid.no'), null, { id: 'prepaid-ties-out' }));
  const complaintList = complaints.items.length ? h('ul', { class: 'complaint-list' },
    complaints.items.map((c) => h('li', {}, h('span', { class: 'muted small' }, dateTime(c.created_at)), ' ', c.text)))
    : h('p', { class: 'muted' }, t('prepaid.no_complaints'));
  clear(view).append(
    pageHeader(m.name_zh, h('a', { class: 'btn', href: '#/prepaid' }, t('prepaid.back'))),
    h('p', {}, industryLabel(m), ' · ', statusBadge(m.status), ' · ', m.bank_code),
    section(t('prepaid.statement_today'), facts),
    gradeSection(m, grade, canOverride, reload),
    statusSection(m, ['industry_regulator', 'pilot_admin', 'bank_reviewer'].includes(user.role), reload),
    section(t('prepaid.complaints'), complaintList));
}
