// Pilot office: every zone ranked, each zone's application summary against the thresholds, reports.
import { ApiError, api } from '../api.js';
import { RED, makeChart } from '../charts.js';
import { averageTicket, fenToInput, lastDays, localDay, num, parseYuan, periodRange, yuan } from '../format.js';
import { SCENARIOS, nameOf, scenarioLabel, t } from '../i18n.js';
import {
  badge, clear, clearFormError, empty, errorBanner, field, h, loading, pageHeader, section, showFormError, table, toast,
} from '../ui.js';
import { reportsPanel } from './reports.js';

const METRICS = ['payment_fen', 'net_fen', 'payment_count', 'active_wallets', 'wallets_opened', 'merchants_accepting',
  'merchants_enrolled', 'scenarios_covered', 'average_ticket_fen', 'subsidy_driven_fen'];
const PERIODS = [7, 30, 90];

function metricValue(key, v, totals) {
  if (key === 'average_ticket_fen') return averageTicket(v, totals.payment_count);
  return key.endsWith('_fen') ? yuan(v) : num(v);
}

export async function ranking(ctx) {
  const { view } = ctx;
  let by = 'payment_fen';
  let days = 30;
  const bySelect = h('select', { id: 'ranking-by' },
    METRICS.map((m) => h('option', { value: m, selected: m === by ? true : null }, t(`metric.${m}`))));
  const periodSelect = h('select', { id: 'ranking-period' },
    PERIODS.map((d) => h('option', { value: String(d), selected: d === days ? true : null }, t('zones.last_days', { n: d }))));
  const chartSlot = h('div', {});
  const tableSlot = h('div', {}, loading());
  let chart = null;
  ctx.onCleanup(() => chart?.destroy());
  clear(view).append(pageHeader(t('office.ranking_title')), h('p', { class: 'muted' }, t('office.ranking_intro')),
    h('div', { class: 'inline-form' }, field(t('office.rank_by'), bySelect), field(t('zones.period'), periodSelect)),
    section(t('office.ranking_chart'), chartSlot), section(t('office.ranking_table'), tableSlot));

  async function load() {
    clear(tableSlot).append(loading());
    const r = await api.get('/zones/ranking', { by, ...lastDays(days) });
    if (!ctx.isCurrent()) return;
    clear(tableSlot).append(h('p', { class: 'muted small', id: 'ranking-period-range' }, periodRange(r.from, r.to)), table({
      caption: t('office.ranking_table'),
      columns: [
        // Zones with the same figure share a rank, and say so ("并列 2").
        { label: t('office.rank'), header: true, num: true,
          render: (i) => (r.items.filter((o) => o.rank === i.rank).length > 1 ? t('office.rank_tied', { n: i.rank }) : String(i.rank)) },
        { label: t('office.zone'), render: (i) => h('a', { class: 'nowrap', href: `#/zones/${i.zone.id}` }, nameOf(i.zone)) },
        { label: t(`metric.${by}`), num: true, render: (i) => h('strong', {}, metricValue(by, i.value, i.totals)) },
        // The usual figures beside it, except the one ranked by (already shown).
        ...[
          ['payment_fen', t('kpi.payment_fen'), (i) => yuan(i.totals.payment_fen)],
          ['payment_count', t('kpi.payment_count'), (i) => num(i.totals.payment_count)],
          ['active_wallets', t('kpi.active_wallets'), (i) => num(i.totals.active_wallets)],
          ['merchants_accepting', t('kpi.merchants'),
            (i) => `${num(i.totals.merchants_accepting)} / ${num(i.totals.merchants_enrolled)}`],
          ['scenarios_covered', t('kpi.scenarios'),
            (i) => `${i.totals.scenario_coverage.covered_count} / ${i.totals.scenario_coverage.of}`],
        ].filter(([key]) => key !== by).map(([, label, render]) => ({ label, num: true, render })),
      ],
      rows: r.items,
      rowAttrs: (i) => ({ dataset: { rankZone: i.zone.id, rank: i.rank } }),
    }));
    chart?.destroy();
    clear(chartSlot);
    const box = h('div', { class: 'chart-box' });
    chartSlot.append(box);
    chart = makeChart(box, {
      type: 'bar',
      data: {
        labels: r.items.map((i) => nameOf(i.zone)),
        datasets: [{ label: t(`metric.${by}`), data: r.items.map((i) => (by.endsWith('_fen') ? i.value / 100 : i.value)),
          backgroundColor: RED }],
      },
      options: { indexAxis: 'y', plugins: { legend: { display: false } }, scales: { x: { beginAtZero: true,
        // Money reads as money on the axis; counts have whole ticks.
        ticks: by.endsWith('_fen') ? { callback: (v) => `¥${Number(v).toLocaleString()}` } : { precision: 0 } } } },
    }, t('office.ranking_chart_label', { metric: t(`metric.${by}`) }), { emptyText: t('office.ranking_empty') });
  }

  const reload = () => load().catch((err) => { if (ctx.isCurrent()) clear(tableSlot).append(errorBanner(err, { onRetry: reload })); });
  bySelect.addEventListener('change', () => { by = bySelect.value; reload(); });
  periodSelect.addEventListener('change', () => { days = Number(periodSelect.value); reload(); });
  await load();
}

export async function summary(ctx) {
  const { view } = ctx;
  // Ends today, like every other "last N days" in the console (the window's length is a threshold).
  const s = await api.get('/zones/application-summary', { to: localDay(0) });
  if (!ctx.isCurrent()) return;
  const dl = h('button', { type: 'button', class: 'btn', id: 'summary-csv' }, t('office.summary_csv'));
  const status = h('div', { 'aria-live': 'polite' });
  dl.addEventListener('click', async () => {
    dl.disabled = true;
    clear(status);
    try {
      const name = await api.download('/zones/application-summary', { format: 'csv', from: s.from, to: s.to },
        `zone-application-summary-${s.from}-${s.to}.csv`);
      toast(t('reports.downloaded', { name }));
    } catch (err) {
      status.append(errorBanner(err));
    } finally {
      dl.disabled = false;
    }
  });
  const th = s.thresholds;
  clear(view).append(pageHeader(t('office.summary_title'), dl), status,
    h('p', { class: 'muted', id: 'summary-period-range' }, t('office.summary_intro', { range: periodRange(s.from, s.to) })),
    h('div', { class: 'tiles' },
      h('div', { class: 'tile', dataset: { kpi: 'ready_count' } }, h('p', { class: 'tile-label' }, t('office.ready_zones')),
        h('p', { class: 'tile-value' }, `${s.ready_count} / ${s.zones.length}`)),
      h('div', { class: 'tile' }, h('p', { class: 'tile-label' }, t('office.window')), h('p', { class: 'tile-value' },
        t('office.days', { n: th.window_days })))),
    thresholdsEditor(th, () => summary(ctx)),
    s.zones.length ? section(t('office.overview'), overview(s.zones)) : '',
    s.zones.length ? h('div', { class: 'summary-list' }, s.zones.map((z) => zoneSummary(z))) : empty(t('zones.none')));
}

const THRESHOLD_KEYS = ['window_days', 'scenarios_covered', 'merchants_enrolled', 'merchants_accepting', 'active_wallets',
  'wallets_opened', 'payment_count', 'payment_fen'];

/** The pilot office sets the thresholds here (payment volume typed in yuan); saving re-reads the summary. */
function thresholdsEditor(th, onSaved) {
  const inputs = Object.fromEntries(THRESHOLD_KEYS.map((k) => [k, h('input', {
    id: `threshold-${k}`, type: 'text', inputmode: k === 'payment_fen' ? 'decimal' : 'numeric', dataset: { field: k },
    value: k === 'payment_fen' ? fenToInput(th[k]) : String(th[k]) })]));
  const slot = h('div', { class: 'form-errors' });
  const save = h('button', { type: 'submit', class: 'btn btn-primary', id: 'thresholds-save' }, t('office.thresholds_save'));
  const form = h('form', { novalidate: true, id: 'thresholds-form' }, slot,
    h('div', { class: 'form-grid' }, THRESHOLD_KEYS.map((k) => field(t(`threshold.${k}`), inputs[k]))), save);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearFormError(form, slot);
    const body = {};
    const errors = [];
    for (const k of THRESHOLD_KEYS) {
      const raw = inputs[k].value.trim();
      const v = k === 'payment_fen' ? parseYuan(raw) : (/^\d{1,9}$/.test(raw) ? Number(raw) : null);
      if (v === null) errors.push({ field: k, reason: t('office.threshold_invalid') });
      body[k] = v;
    }
    if (errors.length) { showFormError(form, slot, new ApiError(422, { code: 'console_invalid', errors })); return; }
    save.disabled = true;
    try {
      await api.put('/zones/application-thresholds', body);
      toast(t('office.thresholds_saved'));
      await onSaved();
    } catch (err) {
      showFormError(form, slot, err);
      save.disabled = false;
    }
  });
  return h('details', { class: 'card', id: 'thresholds-edit' }, h('summary', {}, t('office.thresholds_edit')), form);
}

function fmt(check, v) {
  return check.key === 'payment_fen' ? yuan(v) : num(v);
}

function overview(zones) {
  return table({
    caption: t('office.overview'),
    columns: [
      { label: t('office.zone'), header: true, render: (z) => h('a', { href: `#summary-${z.zone.id}`, onclick: (e) => {
        e.preventDefault();
        const el = document.getElementById(`summary-${z.zone.id}`);
        el.scrollIntoView({ block: 'start' });
        el.querySelector('a')?.focus({ preventScroll: true });
      } }, nameOf(z.zone)) },
      { label: t('office.met_count'), num: true, render: (z) => `${z.checks.filter((c) => c.met).length} / ${z.checks.length}` },
      { label: t('office.result'), render: (z) => (z.ready ? badge(t('office.ready'), 'ok') : badge(t('office.not_ready_short'), 'bad')) },
    ],
    rows: zones,
    stack: false,
  });
}

function zoneSummary(z) {
  const met = z.checks.filter((c) => c.met).length;
  return h('article', { class: 'card summary-card', dataset: { summaryZone: z.zone.id, ready: String(z.ready) },
    'aria-labelledby': `summary-${z.zone.id}` },
  h('div', { class: 'app-card-head' },
    h('h2', { id: `summary-${z.zone.id}` }, h('a', { href: `#/zones/${z.zone.id}` }, nameOf(z.zone)),
      ' ', h('span', { class: 'muted small' }, `${z.zone.district} · ${t(`zone_kind.${z.zone.kind}`)}`)),
    z.ready ? badge(t('office.ready'), 'ok') : badge(t('office.not_ready', { met, of: z.checks.length }), 'bad')),
  table({
    caption: t('office.checks', { zone: nameOf(z.zone) }),
    columns: [
      { label: t('office.check'), header: true, render: (c) => (c.key === 'payment_fen' ? t('office.payment_yuan')
        : (nameOf(c, 'label') || c.key)) },
      { label: t('office.value_of_threshold'), num: true, render: (c) => `${fmt(c, c.value)} / ${fmt(c, c.threshold)}` },
      { label: t('office.met'), render: (c) => (c.met ? badge(t('office.met_yes'), 'ok')
        : badge(t('office.short_by', { v: fmt(c, c.shortfall) }), 'bad')) },
    ],
    rows: z.checks,
    rowAttrs: (c) => ({ dataset: { check: c.key, met: String(c.met) } }),
    stack: false,
  }),
  z.missing_scenarios.length ? h('p', { class: 'coverage-missing' }, t('zones.missing'), ' ',
    SCENARIOS.filter((x) => z.missing_scenarios.includes(x)).map((x) => scenarioLabel(x)).join('、')) : null);
}

export async function reports(ctx) {
  const { view } = ctx;
  const zones = await api.get('/zones');
  if (!ctx.isCurrent()) return;
  const select = h('select', { id: 'reports-zone' }, zones.map((z) => h('option', { value: String(z.id) }, nameOf(z))));
  const panel = h('div', {});
  clear(view).append(pageHeader(t('office.reports_title')), h('p', { class: 'muted' }, t('office.reports_intro')),
    h('div', { class: 'inline-form' }, field(t('office.zone'), select)), panel);
  if (!zones.length) { panel.append(empty(t('zones.none'))); return; }
  const show = async () => {
    const zone = zones.find((z) => z.id === Number(select.value));
    clear(panel).append(loading());
    try { await reportsPanel(ctx, panel, zone); } catch (err) { if (ctx.isCurrent()) clear(panel).append(errorBanner(err)); }
  };
  select.addEventListener('change', show);
  await show();
}
