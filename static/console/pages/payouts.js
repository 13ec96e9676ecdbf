// Payouts (工资/补贴/公款 e-CNY 发放, issue #14): a paying organisation's finance officer uploads a batch file
// and reads the validation report; an approver (never the preparer) approves or rejects it; both follow the
// progress live (per-line status, failed lines retried or cancelled, CSV exports). The pilot office registers
// organisations with their member-unit status and follows the member units tracker.
// The plug-in's strings live in locales/payouts.<lang>.json.
import { ApiError, api, newIdempotencyKey, request, session } from '../api.js';
import { dateTime, num, yuan } from '../format.js';
import { extend, has, t } from '../i18n.js';
import {
  badge, clear, clearFormError, empty, errorBanner, field, filePicker, h, pageHeader, section, showFormError, table, tile, toast,
} from '../ui.js';
import zh from '../locales/payouts.zh.json' with { type: 'json' };
import en from '../locales/payouts.en.json' with { type: 'json' };

extend({ zh, en });

const BASE = '/payouts';

/** Replace the page's content; parts a role does not get (null) are left out. */
const show = (view, ...parts) => clear(view).append(...parts.filter((p) => p !== null && p !== undefined));
const STATUS_KIND = { validated: 'warn', rejected: 'neutral', processing: 'warn', review: 'bad', closed: 'ok' };
const LINE_KIND = { invalid: 'bad', pending: 'neutral', paid: 'ok', failed: 'bad', cancelled: 'neutral' };
const CATEGORIES = ['salary', 'allowance', 'subsidy', 'reimbursement'];

const batchBadge = (s) => badge(t(`payouts.status.${s}`), STATUS_KIND[s] || 'neutral');
const lineBadge = (s) => h('span', { class: `badge badge-${LINE_KIND[s] || 'neutral'}`, dataset: { lineStatus: s } },
  t(`payouts.line.${s}`));
const category = (c) => t(`payouts.category.${c}`);
const codeText = (code) => (!code ? '' : has(`payouts.code.${code}`) ? t(`payouts.code.${code}`) : code);

function downloadButton(id, label, path, query, name, ctx) {
  const btn = h('button', { type: 'button', class: 'btn', id }, label);
  btn.addEventListener('click', async () => {
    btn.disabled = true;
    try {
      toast(t('reports.downloaded', { name: await api.download(path, query, name) }));
    } catch (err) {
      clear(ctx.banner).append(errorBanner(err));
    } finally {
      btn.disabled = false;
    }
  });
  return btn;
}

/** Follow the batch's server-sent events (fetch, so the bearer token goes in a header) until it closes. */
async function follow(batchId, onProgress, signal) {
  const resp = await fetch(`/api/v1${BASE}/batches/${batchId}/events`, { signal, cache: 'no-store',
    headers: { Accept: 'text/event-stream', Authorization: `Bearer ${session.token}` } });
  if (!resp.ok || !resp.body) return;
  const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += value;
    let cut;
    while ((cut = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, cut);
      buf = buf.slice(cut + 2);
      const event = /^event: (.*)$/m.exec(block);
      const data = /^data: (.*)$/m.exec(block);
      if (event && data) onProgress(event[1], JSON.parse(data[1]));
    }
  }
}

// ---------------------------------------------------------------- organisations (home)

export async function home(ctx) {
  const { view, user } = ctx;
  const orgs = (await api.get(`${BASE}/organisations`)).items;
  if (!ctx.isCurrent()) return;
  if (user.role === 'org_staff' && orgs.length === 1) {
    window.location.replace(`#${BASE}/orgs/${orgs[0].id}`);
    return;
  }
  const office = user.role === 'pilot_admin';
  const list = orgs.length ? table({
    caption: t('payouts.orgs'),
    columns: [
      { label: t('payouts.org_name'), header: true, render: (o) => h('a', { href: `#${BASE}/orgs/${o.id}` }, o.name) },
      { label: t('payouts.org_kind'), render: (o) => t(`payouts.kind.${o.kind}`) },
      { label: t('payouts.district'), render: (o) => o.district || '—' },
      { label: t('payouts.member_unit'), render: (o) => memberUnitCell(o, office) },
      { label: t('payouts.bank'), render: (o) => o.bank_code },
      { label: t('payouts.balance'), num: true, render: (o) => yuan(o.balance_fen) },
    ],
    rows: orgs,
    rowAttrs: (o) => ({ id: `payouts-org-${o.id}` }),
  }) : empty(t('payouts.no_orgs'), office ? t('payouts.no_orgs_hint') : null);
  show(view, pageHeader(t('payouts.title')), h('p', { class: 'muted' }, t(office ? 'payouts.intro_office'
    : 'payouts.intro_staff')), section(t('payouts.orgs'), list), office ? registerForm(ctx) : null);
}

function memberUnitCell(o, editable) {
  const label = badge(t(o.member_unit ? 'payouts.member_unit_yes' : 'payouts.member_unit_no'),
    o.member_unit ? 'ok' : 'neutral');
  if (!editable) return label;
  const btn = h('button', { type: 'button', class: 'btn btn-small', dataset: { action: 'toggle-member' } },
    t(o.member_unit ? 'payouts.unmark_member' : 'payouts.mark_member'));
  btn.addEventListener('click', async () => {
    btn.disabled = true;
    try {
      const next = await request('PATCH', `${BASE}/organisations/${o.id}`, { body: { member_unit: !o.member_unit } });
      const cell = btn.closest('td');
      clear(cell).append(memberUnitCell(next, true));
      toast(t('payouts.member_saved', { name: next.name }));
    } catch (err) {
      btn.disabled = false;
      toast(errorBanner(err).querySelector('.banner-title').textContent);
    }
  });
  return h('span', { class: 'member-cell' }, label, ' ', btn);
}

function registerForm(ctx) {
  const input = (id, fieldName, attrs = {}) => h('input', { id, dataset: { field: fieldName }, ...attrs });
  const name = input('org-name', 'name', { maxlength: '80' });
  const kind = h('select', { id: 'org-kind', dataset: { field: 'kind' } },
    ['department', 'soe', 'other'].map((k) => h('option', { value: k }, t(`payouts.kind.${k}`))));
  const uscc = input('org-uscc', 'uscc', { maxlength: '18', autocomplete: 'off' });
  const district = input('org-district', 'district', { maxlength: '20' });
  const bank = input('org-bank', 'bank_code', { maxlength: '16', value: 'ICBC' });
  const account = input('org-account', 'bank_account_number', { inputmode: 'numeric', autocomplete: 'off' });
  const member = h('input', { id: 'org-member', type: 'checkbox', checked: true, dataset: { field: 'member_unit' } });
  const slot = h('div', { class: 'form-errors' });
  const form = h('form', { id: 'org-form', novalidate: true }, slot,
    h('div', { class: 'inline-form' }, field(t('payouts.org_name'), name), field(t('payouts.org_kind'), kind),
      field(t('payouts.uscc'), uscc, t('payouts.uscc_hint')), field(t('payouts.district'), district)),
    h('div', { class: 'inline-form' }, field(t('payouts.bank'), bank),
      field(t('payouts.bank_account'), account, t('payouts.bank_account_hint'))),
    h('p', {}, h('label', { for: 'org-member' }, member, ' ', t('payouts.member_unit_check'))),
    h('button', { type: 'submit', class: 'btn btn-primary', id: 'org-submit' }, t('payouts.register')));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearFormError(form, slot);
    try {
      const org = await api.post(`${BASE}/organisations`, {
        name: name.value.trim(), kind: kind.value, uscc: uscc.value.trim(), district: district.value.trim(),
        member_unit: member.checked, bank_code: bank.value.trim(), bank_account_number: account.value.trim() });
      toast(t('payouts.registered', { name: org.name }));
      ctx.navigate(`#${BASE}/orgs/${org.id}`);
    } catch (err) {
      showFormError(form, slot, err);
    }
  });
  return section(t('payouts.register_title'), h('p', { class: 'muted' }, t('payouts.register_intro')), form);
}

// ---------------------------------------------------------------- one organisation

export async function organisation(ctx) {
  const { view, params } = ctx;
  const id = params.orgId;
  const [org, members, batches, transfers] = await Promise.all([
    api.get(`${BASE}/organisations/${id}`), api.get(`${BASE}/organisations/${id}/members`),
    api.get(`${BASE}/organisations/${id}/batches`, { limit: 50 }),
    api.get(`${BASE}/organisations/${id}/fund-transfers`, { limit: 20 })]);
  if (!ctx.isCurrent()) return;
  const tiles = h('div', { class: 'tiles' },
    tile(t('payouts.balance'), yuan(org.balance_fen), t('payouts.wallet_no', { number: org.wallet_number }),
      { id: 'org-balance' }),
    tile(t('payouts.my_role'), org.my_role ? t(`payouts.role.${org.my_role}`) : t('role.pilot_admin')),
    tile(t('payouts.bank'), org.bank_code, org.bank_account_masked),
    tile(t('payouts.member_unit'), t(org.member_unit ? 'payouts.member_unit_yes' : 'payouts.member_unit_no')));
  const batchList = batches.items.length ? table({
    caption: t('payouts.batches'),
    columns: [
      { label: t('payouts.reference'), header: true,
        render: (b) => h('a', { href: `#${BASE}/batches/${b.id}` }, b.reference) },
      { label: t('payouts.batch_title'), render: (b) => b.title || '—' },
      { label: t('payouts.status_label'), render: (b) => batchBadge(b.status) },
      { label: t('payouts.lines'), num: true, render: (b) => `${num(b.valid_count)} / ${num(b.line_count)}` },
      { label: t('payouts.total'), num: true, render: (b) => yuan(b.total_fen) },
      { label: t('payouts.paid'), num: true, render: (b) => `${b.progress.percent}%` },
      { label: t('payouts.created'), render: (b) => dateTime(b.created_at) },
    ],
    rows: batches.items,
    rowAttrs: (b) => ({ id: `payouts-batch-${b.id}` }),
  }) : empty(t('payouts.no_batches'), org.my_role === 'officer' ? t('payouts.no_batches_hint') : null);
  const staff = table({
    caption: t('payouts.members'),
    columns: [
      { label: t('payouts.member_name'), header: true, render: (m) => m.display_name || m.phone },
      { label: t('payouts.member_role'), render: (m) => t(`payouts.role.${m.role}`) },
    ],
    rows: members.items,
    stack: false,
  });
  const ft = transfers.items.length ? table({
    caption: t('payouts.fund_transfers'),
    columns: [
      { label: t('payouts.created'), header: true, render: (f) => dateTime(f.created_at) },
      { label: t('payouts.ft_from'), render: (f) => f.from_org.name },
      { label: t('payouts.ft_to'), render: (f) => f.to_org.name },
      { label: t('payouts.ft_purpose'), render: (f) => f.purpose_zh },
      { label: t('payouts.amount'), num: true, render: (f) => yuan(f.amount_fen) },
      { label: t('payouts.status_label'), render: (f) => badge(t(`payouts.ft_status.${f.status}`),
        f.status === 'executed' ? 'ok' : f.status === 'pending' ? 'warn' : 'neutral') },
    ],
    rows: transfers.items,
  }) : h('p', { class: 'muted' }, t('payouts.no_fund_transfers'));
  show(view,
    pageHeader(org.name, h('a', { class: 'btn', href: `#${BASE}` }, t('payouts.back_orgs'))),
    h('p', { class: 'muted' }, t(`payouts.kind.${org.kind}`), org.district ? ` · ${org.district}` : '', ' · ',
      t('payouts.uscc'), ' ', org.uscc),
    tiles,
    org.my_role === 'officer' ? uploadSection(ctx, org) : null,
    section(t('payouts.batches'), batchList),
    h('div', { class: 'grid-2' }, section(t('payouts.members'), staff), section(t('payouts.fund_transfers'), ft)));
}

function uploadSection(ctx, org) {
  const reference = h('input', { id: 'batch-reference', maxlength: '64', dataset: { field: 'reference' } });
  const title = h('input', { id: 'batch-title', maxlength: '80', dataset: { field: 'title' } });
  const file = h('input', { id: 'batch-file', type: 'file', accept: '.csv,.xlsx,text/csv', dataset: { field: 'file' } });
  const slot = h('div', { class: 'form-errors' });
  const problems = h('div', { id: 'upload-problems' });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary', id: 'batch-submit' }, t('payouts.upload'));
  const form = h('form', { id: 'upload-form', novalidate: true }, slot,
    h('div', { class: 'inline-form' }, field(t('payouts.reference'), reference, t('payouts.reference_hint')),
      field(t('payouts.batch_title'), title, t('payouts.batch_title_hint'))),
    field(t('payouts.file'), filePicker(file), t('payouts.file_hint')), submit, problems);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearFormError(form, slot);
    clear(problems);
    const missing = [
      ...(!reference.value.trim() ? [{ field: 'reference', reason: t('payouts.reference_missing') }] : []),
      ...(!file.files.length ? [{ field: 'file', reason: t('payouts.file_missing') }] : [])];
    if (missing.length) {
      showFormError(form, slot, new ApiError(422, { code: 'console_invalid', errors: missing }));
      return;
    }
    const data = new FormData();
    data.append('reference', reference.value.trim());
    data.append('title', title.value.trim());
    data.append('file', file.files[0]);
    submit.disabled = true;
    submit.textContent = t('payouts.uploading');
    try {
      const batch = await api.post(`${BASE}/organisations/${org.id}/batches`, data);
      toast(t('payouts.uploaded', { n: batch.line_count }));
      ctx.navigate(`#${BASE}/batches/${batch.id}`);
    } catch (err) {
      showFormError(form, slot, err);
      const list = err.problem && err.problem.problems;
      if (list && list.length) problems.append(fileProblems(list, err.problem.problem_count));
      submit.disabled = false;
      submit.textContent = t('payouts.upload');
    }
  });
  return section(t('payouts.upload_title'), h('p', { class: 'muted' }, t('payouts.upload_intro')), form);
}

/** A column of the file as people call it: the header's own words for the five known columns. */
function columnName(column) {
  if (!column) return '—';
  return has(`payouts.col.${column}`) ? t(`payouts.col.${column}`) : column;
}

function fileProblems(list, count) {
  return h('div', { class: 'card-inner' },
    h('p', {}, t('payouts.file_refused', { n: count || list.length })),
    table({
      caption: t('payouts.file_problems'),
      columns: [
        { label: t('payouts.line_no'), header: true, num: true, render: (p) => (p.line === null ? '—' : num(p.line)) },
        { label: t('payouts.column'), render: (p) => columnName(p.column) },
        // The server words the reason in the page's language, with what it found (Accept-Language).
        { label: t('payouts.problem'), render: (p) => h('span', {}, h('strong', {}, codeText(p.code)), ' ',
          h('span', { class: 'muted small' }, p.reason)) },
      ],
      rows: list,
      rowAttrs: (p) => ({ dataset: { problemLine: String(p.line ?? ''), problemCode: p.code } }),
    }));
}

// ---------------------------------------------------------------- one batch

function progressBlock(batch) {
  const p = batch.progress;
  const lines = p.lines;
  const bar = h('progress', { id: 'batch-progress-bar', max: '100', value: String(p.percent) });
  return h('div', { id: 'batch-progress', dataset: { status: batch.status } },
    h('div', { class: 'progress-row' }, h('label', { for: 'batch-progress-bar' }, t('payouts.paid_pct',
      { pct: p.percent })), bar),
    h('div', { class: 'tiles' },
      tile(t('payouts.line.paid'), num(lines.paid || 0), yuan(p.paid_fen), { id: 'progress-paid' }),
      tile(t('payouts.line.pending'), num(lines.pending || 0), yuan(p.amounts_fen.pending || 0)),
      tile(t('payouts.line.failed'), num(lines.failed || 0), yuan(p.amounts_fen.failed || 0), { id: 'progress-failed' }),
      tile(t('payouts.line.cancelled'), num(lines.cancelled || 0), yuan(p.amounts_fen.cancelled || 0)),
      tile(t('payouts.to_banks'), yuan(p.paid_to_banks_fen), t('payouts.to_banks_sub'))),
    batch.status === 'closed' ? h('p', { class: 'muted', id: 'batch-returned' },
      t('payouts.returned', { fen: yuan(batch.returned_fen) })) : null);
}

function reportBlock(report) {
  const b = report.batch;
  const byCat = table({
    caption: t('payouts.by_category'),
    columns: [
      { label: t('payouts.category_label'), header: true, render: (c) => category(c) },
      { label: t('payouts.payable_lines'), num: true, render: (c) => num(b.by_category[c].count) },
      { label: t('payouts.amount'), num: true, render: (c) => yuan(b.by_category[c].amount_fen) },
      { label: t('payouts.invalid_lines'), num: true, render: (c) => num(b.by_category[c].invalid_count) },
    ],
    rows: CATEGORIES.filter((c) => b.by_category[c]),
    stack: false,
  });
  const counts = (obj, kind) => Object.entries(obj).filter(([, n]) => n).map(([code, n]) =>
    h('li', { dataset: { [kind]: code } }, badge(codeText(code), kind === 'issue' ? 'bad' : 'warn'), ' ', num(n)));
  const issues = counts(report.issues, 'issue');
  const warnings = counts(report.warnings, 'warning');
  const flagged = report.flagged.length ? linesTable(report.flagged, t('payouts.flagged'), 'flagged') : null;
  return section(t('payouts.report'),
    h('div', { class: 'tiles' },
      tile(t('payouts.lines_in_file'), num(b.line_count)),
      tile(t('payouts.payable_lines'), num(b.valid_count), null, { id: 'report-valid' }),
      tile(t('payouts.total'), yuan(b.total_fen), t('payouts.total_sub'), { id: 'report-total' }),
      tile(t('payouts.invalid_lines'), num(b.line_count - b.valid_count))),
    byCat,
    h('div', { class: 'grid-2' },
      h('div', {}, h('h3', {}, t('payouts.issues')), issues.length ? h('ul', { class: 'plain', id: 'report-issues' },
        issues) : h('p', { class: 'muted' }, t('payouts.no_issues'))),
      h('div', {}, h('h3', {}, t('payouts.warnings')), warnings.length ? h('ul', { class: 'plain', id: 'report-warnings' },
        warnings) : h('p', { class: 'muted' }, t('payouts.no_warnings')))),
    flagged ? h('h3', {}, t('payouts.flagged')) : null, flagged);
}

function linesTable(rows, caption, idPrefix = 'line') {
  return table({
    caption,
    columns: [
      { label: t('payouts.line_no'), header: true, num: true, render: (r) => num(r.line_no) },
      { label: t('payouts.payee'), render: (r) => h('span', {}, r.payee_name, ' ',
        h('span', { class: 'muted small' }, r.phone_masked, r.holder_masked ? ` · ${t('payouts.holder', { name: r.holder_masked })}` : '')) },
      { label: t('payouts.category_label'), render: (r) => category(r.category) },
      { label: t('payouts.amount'), num: true, render: (r) => yuan(r.amount_fen) },
      { label: t('payouts.memo'), render: (r) => r.memo || '' },
      { label: t('payouts.status_label'), render: (r) => lineBadge(r.status) },
      { label: t('payouts.note'), render: (r) => h('span', {}, r.issue ? badge(codeText(r.issue), 'bad') : null,
        r.warning ? badge(codeText(r.warning), 'warn') : null,
        r.bank_fen ? ` ${t('payouts.split', { wallet: yuan(r.wallet_fen), bank: yuan(r.bank_fen) })}` : '') },
    ],
    rows,
    rowAttrs: (r) => ({ id: `${idPrefix}-${r.line_no}`, dataset: { status: r.status } }),
  });
}

function decisionBlock(ctx, batch, reload) {
  const slot = h('div', { class: 'form-errors' });
  const reason = h('textarea', { id: 'reject-reason', rows: '2', maxlength: '200', dataset: { field: 'reason' } });
  const approve = h('button', { type: 'button', class: 'btn btn-primary', id: 'batch-approve' },
    t('payouts.approve', { fen: yuan(batch.total_fen), n: num(batch.valid_count) }));
  const reject = h('button', { type: 'button', class: 'btn btn-danger-outline', id: 'batch-reject' }, t('payouts.reject'));
  const form = h('form', { id: 'decision-form', novalidate: true }, slot,
    h('p', {}, t('payouts.approve_intro', { fen: yuan(batch.total_fen), n: num(batch.valid_count) })),
    field(t('payouts.reject_reason'), reason, t('payouts.reject_hint')),
    h('div', { class: 'app-card-actions' }, approve, reject));
  const key = newIdempotencyKey('payout-approve');  // a second click is the same approval
  approve.addEventListener('click', async () => {
    clearFormError(form, slot);
    approve.disabled = true;
    try {
      await api.post(`${BASE}/batches/${batch.id}/approve`, { expected_total_fen: batch.total_fen,
        expected_line_count: batch.valid_count }, { idempotencyKey: key });
      toast(t('payouts.approved'));
      reload();
    } catch (err) {
      showFormError(form, slot, err);
      approve.disabled = false;
    }
  });
  reject.addEventListener('click', async () => {
    clearFormError(form, slot);
    if (!reason.value.trim()) {
      showFormError(form, slot, new ApiError(422, { code: 'console_invalid',
        errors: [{ field: 'reason', reason: t('payouts.reason_missing') }] }));
      return;
    }
    try {
      await api.post(`${BASE}/batches/${batch.id}/reject`, { reason: reason.value.trim() });
      toast(t('payouts.rejected'));
      reload();
    } catch (err) {
      showFormError(form, slot, err);
    }
  });
  return section(t('payouts.decision'), form);
}

function recoveryBlock(batch, reload) {
  const slot = h('div', { class: 'form-errors' });
  const form = h('form', { id: 'recovery-form', novalidate: true }, slot);
  const act = (verb) => async () => {
    clearFormError(form, slot);
    try {
      const r = await api.post(`${BASE}/batches/${batch.id}/${verb}`, {});
      toast(t(`payouts.${verb}_done`, { n: r.count }));
      reload();
    } catch (err) {
      showFormError(form, slot, err);
    }
  };
  const retry = h('button', { type: 'button', class: 'btn btn-primary', id: 'lines-retry', onclick: act('retry') },
    t('payouts.retry_failed'));
  const cancel = h('button', { type: 'button', class: 'btn btn-danger-outline', id: 'lines-cancel',
    onclick: act('cancel') }, t('payouts.cancel_failed'));
  form.append(h('p', {}, t('payouts.recovery_intro', { n: num(batch.progress.lines.failed || 0),
    fen: yuan(batch.progress.amounts_fen.failed || 0) })), h('div', { class: 'app-card-actions' }, retry, cancel));
  return section(t('payouts.recovery'), form);
}

function linesSection(ctx, batch) {
  const filter = h('select', { id: 'lines-filter' }, h('option', { value: '' }, t('payouts.all_lines')),
    ['paid', 'failed', 'pending', 'cancelled', 'invalid'].map((s) => h('option', { value: s }, t(`payouts.line.${s}`))));
  const body = h('div', { id: 'batch-lines' });
  const more = h('button', { type: 'button', class: 'btn', id: 'lines-more', hidden: true }, t('payouts.more'));
  let after = 0;
  let rows = [];
  async function load(reset) {
    if (reset) { after = 0; rows = []; }
    const page = await api.get(`${BASE}/batches/${batch.id}/lines`, { status: filter.value, after_line: after, limit: 100 });
    rows = rows.concat(page.items);
    after = page.next_after_line || 0;
    more.hidden = !page.next_after_line;
    clear(body).append(rows.length ? linesTable(rows, t('payouts.lines')) : h('p', { class: 'muted' }, t('payouts.no_lines')));
  }
  const guarded = (reset) => load(reset).catch((err) => clear(body).append(errorBanner(err)));
  filter.addEventListener('change', () => guarded(true));
  more.addEventListener('click', () => guarded(false));
  const exports = h('div', { class: 'page-actions' },
    downloadButton('export-all', t('payouts.export_all'), `${BASE}/batches/${batch.id}/export`, {},
      `batch-${batch.id}.csv`, ctx),
    downloadButton('export-failed', t('payouts.export_failed'), `${BASE}/batches/${batch.id}/export`,
      { status: 'failed' }, `batch-${batch.id}-failed.csv`, ctx));
  return { node: section(t('payouts.lines'), h('div', { class: 'inline-form' },
    field(t('payouts.filter'), filter), exports), body, more), load: () => guarded(true) };
}

export async function batchPage(ctx) {
  const { view, params } = ctx;
  const id = params.batchId;
  const report = await api.get(`${BASE}/batches/${id}/report`);
  const batch = report.batch;
  const org = await api.get(`${BASE}/organisations/${batch.org_id}`);
  if (!ctx.isCurrent()) return;
  const reload = () => ctx.navigate(`#${BASE}/batches/${id}`);
  const isApprover = org.my_role === 'approver';
  const lines = linesSection(ctx, batch);
  const progress = h('div', {}, progressBlock(batch));
  const live = h('p', { class: 'muted small', id: 'batch-live', 'aria-live': 'polite' });
  const running = ['processing', 'review', 'closed'].includes(batch.status);
  show(view,
    pageHeader(`${batch.title || batch.reference}`,
      h('a', { class: 'btn', href: `#${BASE}/orgs/${org.id}` }, t('payouts.back_org', { name: org.name }))),
    h('p', { id: 'batch-status' }, batchBadge(batch.status), ' ', h('span', { class: 'muted' },
      t('payouts.batch_facts', { reference: batch.reference, file: batch.file.name, created: dateTime(batch.created_at) }))),
    batch.status === 'rejected' ? h('div', { class: 'banner banner-error', role: 'status' },
      h('p', { class: 'banner-title' }, t('payouts.rejected_because', { reason: batch.reject_reason || '' }))) : null,
    running ? section(t('payouts.progress'), progress, live) : null,
    batch.status === 'validated' && isApprover ? decisionBlock(ctx, batch, reload) : null,
    batch.status === 'validated' && !isApprover ? h('p', { class: 'banner banner-warn', id: 'awaiting' },
      t('payouts.awaiting_approval')) : null,
    batch.status === 'review' && org.my_role ? recoveryBlock(batch, reload) : null,
    reportBlock(report),
    lines.node);
  if (batch.status === 'processing') {
    const ctl = new AbortController();
    ctx.onCleanup(() => ctl.abort());
    live.textContent = t('payouts.live');
    follow(id, (event, data) => {
      if (event === 'progress' && ctx.isCurrent()) {
        clear(progress).append(progressBlock({ ...batch, status: data.status, progress: data.progress }));
        if (data.status !== 'processing') reload();
      }
    }, ctl.signal).catch(() => { /* aborted on leaving the page, or the stream ended */ });
  }
  await lines.load();
}

// ---------------------------------------------------------------- member units tracker (pilot office)

export async function memberUnits(ctx) {
  const { view } = ctx;
  const [units, transfers] = await Promise.all([api.get(`${BASE}/member-units`),
    api.get(`${BASE}/fund-transfers`, { limit: 20 })]);
  if (!ctx.isCurrent()) return;
  const items = units.items;
  const met = items.filter((u) => u.target_met).length;
  const payees = items.reduce((s, u) => s + u.payees, 0);
  const opened = items.reduce((s, u) => s + u.payee_wallets_opened, 0);
  const tiles = h('div', { class: 'tiles' },
    tile(t('payouts.units'), num(items.length)),
    tile(t('payouts.units_met'), `${num(met)} / ${num(items.length)}`, t('payouts.units_met_sub'), { id: 'units-met' }),
    tile(t('payouts.wallets_opened'), `${num(opened)} / ${num(payees)}`, t('payouts.wallets_opened_sub')),
    tile(t('payouts.paid_total'), yuan(items.reduce((s, u) => s + u.paid_fen, 0))));
  const list = items.length ? table({
    caption: t('payouts.units'),
    columns: [
      { label: t('payouts.org_name'), header: true, render: (u) => h('a', { href: `#${BASE}/orgs/${u.org_id}` }, u.name) },
      { label: t('payouts.district'), render: (u) => u.district || '—' },
      { label: t('payouts.scenarios_landed'), num: true, render: (u) => num(u.scenarios_landed) },
      { label: t('payouts.scenarios'), render: (u) => u.scenarios.map((s) => t(`payouts.scenario.${s}`)).join('、') || '—' },
      { label: t('payouts.target'), render: (u) => badge(t(u.target_met ? 'payouts.target_met' : 'payouts.target_open'),
        u.target_met ? 'ok' : 'bad') },
      { label: t('payouts.wallets_opened'), num: true, render: (u) => `${num(u.payee_wallets_opened)} / ${num(u.payees)}` },
      { label: t('payouts.lines_paid'), num: true, render: (u) => num(u.lines_paid) },
      { label: t('payouts.paid_total'), num: true, render: (u) => yuan(u.paid_fen) },
      { label: t('payouts.public_funds'), num: true, render: (u) => yuan(u.public_funds_sent_fen) },
    ],
    rows: items,
    rowAttrs: (u) => ({ id: `unit-${u.org_id}` }),
  }) : empty(t('payouts.no_units'), t('payouts.no_units_hint'));
  const ft = transfers.items.length ? table({
    caption: t('payouts.fund_transfers'),
    columns: [
      { label: t('payouts.created'), header: true, render: (f) => dateTime(f.created_at) },
      { label: t('payouts.ft_from'), render: (f) => f.from_org.name },
      { label: t('payouts.ft_to'), render: (f) => f.to_org.name },
      { label: t('payouts.ft_purpose'), render: (f) => f.purpose_zh },
      { label: t('payouts.amount'), num: true, render: (f) => yuan(f.amount_fen) },
      { label: t('payouts.status_label'), render: (f) => t(`payouts.ft_status.${f.status}`) },
    ],
    rows: transfers.items,
  }) : h('p', { class: 'muted' }, t('payouts.no_fund_transfers'));
  show(view,
    pageHeader(t('payouts.units_title'), downloadButton('units-csv', t('payouts.units_csv'), `${BASE}/member-units`,
      { format: 'csv' }, 'member-units.csv', ctx)),
    h('p', { class: 'muted' }, t('payouts.units_intro')), tiles, section(t('payouts.units'), list),
    section(t('payouts.fund_transfers'), ft));
}
