// Zones: the list, and one zone's dashboard (KPI tiles, daily volume, scenario coverage, outline and
// merchants on a map, reports). Everything is read from the zones plug-in's endpoints.
import { api, getAll } from '../api.js';
import { RED, makeChart, scenarioLegend, zoneMap } from '../charts.js';
import { averageTicket, lastDays, num, periodRange, ratio, timeOnly, yuan } from '../format.js';
import { SCENARIOS, nameOf, scenarioLabel, t } from '../i18n.js';
import { badge, clear, empty, errorBanner, h, loading, pageHeader, section, table, tile } from '../ui.js';
import { reportsPanel } from './reports.js';

const PERIODS = [7, 30, 90];

export async function list(ctx) {
  const { view, user } = ctx;
  // A zone manager sees only the zones they manage; the pilot office sees them all.
  const zones = await api.get('/zones', { managed: true });
  if (!ctx.isCurrent()) return;
  clear(view).append(pageHeader(t('zones.list_title')),
    h('p', { class: 'muted' }, user.role === 'zone_manager' ? t('zones.list_intro_manager') : t('zones.list_intro_office')));
  if (!zones.length) { view.append(empty(t('zones.none'))); return; }
  view.append(h('ul', { class: 'zone-grid' }, zones.map((z) => h('li', {},
    h('a', { class: 'zone-card', href: `#/zones/${z.id}`, dataset: { zone: z.id } },
      h('span', { class: 'zone-card-name' }, nameOf(z)),
      h('span', { class: 'muted small' }, getLangOther(z)),
      h('span', { class: 'zone-card-meta' }, `${z.district} · ${kindName(z)}`,
        z.area_km2 !== undefined ? ` · ${t('zones.area', { km2: z.area_km2 })}` : ''))))));
}

function getLangOther(z) {
  return nameOf(z) === z.name_zh ? z.name_en : z.name_zh;
}

function kindName(z) {
  return t(`zone_kind.${z.kind}`);
}

export async function dashboard(ctx) {
  const { view, params } = ctx;
  const zoneId = params.zoneId;
  // The zone first: if it is not this person's, the server says so and nothing else is asked.
  let zone;
  try {
    zone = await api.get(`/zones/${zoneId}`);
  } catch (err) {
    if (!ctx.isCurrent()) return;
    clear(view).append(pageHeader(t('zones.dashboard_title')), errorBanner(err),
      h('p', {}, h('a', { href: '#/zones' }, t('zones.back_to_list'))));
    return;
  }
  if (!ctx.isCurrent()) return;
  let days = 30;
  const periodSelect = h('select', { id: 'kpi-period', 'aria-label': t('zones.period') },
    PERIODS.map((d) => h('option', { value: String(d), selected: d === days ? true : null }, t('zones.last_days', { n: d }))));
  const kpiBox = h('div', { class: 'kpi-area' }, loading());
  const chartSlot = h('div', {});
  const coverageSlot = h('div', {});
  const mapBox = h('div', { class: 'map', id: 'zone-map', tabindex: '0', role: 'region', 'aria-label': t('zones.map_label') });
  const merchantsSlot = h('div', {}, loading());
  let chart = null;
  let map = null;
  ctx.onCleanup(() => { chart?.destroy(); map?.remove(); });

  const other = nameOf(zone) === zone.name_zh ? zone.name_en : zone.name_zh;
  clear(view).append(
    pageHeader(nameOf(zone), h('label', { class: 'inline-label', for: 'kpi-period' }, t('zones.period')), periodSelect,
      ctx.user.role === 'zone_manager' || ctx.user.role === 'pilot_admin'
        ? h('a', { class: 'btn btn-primary', href: '#/campaigns/new' }, t('campaigns.new')) : null),
    h('p', { class: 'muted zone-sub' }, other, ' · ', zone.district, ' · ', kindName(zone),
      zone.area_km2 !== undefined ? ` · ${t('zones.area', { km2: zone.area_km2 })}` : '',
      ` · ${t('zones.managers')}: `, zone.managers.length ? zone.managers.map((m) => m.display_name || m.phone).join('、') : '—'),
    kpiBox,
    h('div', { class: 'grid-2' },
      section(t('zones.daily_volume'), chartSlot),
      section(t('zones.coverage'), coverageSlot)),
    section(t('zones.map'), h('p', { class: 'muted small' }, t('zones.map_hint')), mapBox, scenarioLegend(), merchantsSlot),
  );
  const reports = h('div', {});
  view.append(reports);
  reportsPanel(ctx, reports, zone).catch((err) => { if (ctx.isCurrent()) clear(reports).append(errorBanner(err)); });

  async function loadKpis() {
    clear(kpiBox).append(loading());
    const k = await api.get(`/zones/${zoneId}/kpis`, lastDays(days));
    if (!ctx.isCurrent()) return;
    renderKpis(k);
  }

  function renderKpis(k) {
    const tt = k.totals;
    const cov = tt.scenario_coverage;
    clear(kpiBox).append(
      h('p', { class: 'muted small', id: 'kpi-period-range' }, periodRange(k.from, k.to), ' · ',
        t('zones.as_of', { time: timeOnly(k.as_of) })),
      h('div', { class: 'tiles', id: 'kpi-tiles' },
        tile(t('kpi.payment_fen'), yuan(tt.payment_fen), t('kpi.net', { v: yuan(tt.net_fen) }), { dataset: { kpi: 'payment_fen' } }),
        tile(t('kpi.payment_count'), num(tt.payment_count), t('kpi.refunds', { n: num(tt.refund_count), v: yuan(tt.refund_fen) }),
          { dataset: { kpi: 'payment_count' } }),
        tile(t('kpi.average_ticket_fen'), averageTicket(tt.average_ticket_fen, tt.payment_count), null, { dataset: { kpi: 'average_ticket_fen' } }),
        tile(t('kpi.active_wallets'), num(tt.active_wallets), t('kpi.wallets_opened', { n: num(tt.wallets_opened) }),
          { dataset: { kpi: 'active_wallets' } }),
        tile(t('kpi.merchants'), `${num(tt.merchants_accepting)} / ${num(tt.merchants_enrolled)}`, t('kpi.merchants_sub'),
          { dataset: { kpi: 'merchants' } }),
        tile(t('kpi.scenarios'), `${cov.covered_count} / ${cov.of}`, null, { dataset: { kpi: 'scenarios' } }),
        tile(t('kpi.subsidy_fen'), yuan(tt.subsidy_fen), t('kpi.subsidised', { n: num(tt.subsidised_payment_count) }),
          { dataset: { kpi: 'subsidy_fen' } }),
        tile(t('kpi.leverage'), tt.campaign_leverage === null ? '—' : `${ratio(tt.campaign_leverage)}×`,
          t('kpi.leverage_sub', { v: yuan(tt.subsidy_driven_fen) }), { dataset: { kpi: 'leverage' } }),
      ));
    renderChart(k.days);
    renderCoverage(cov);
  }

  function renderChart(rows) {
    chart?.destroy();
    clear(chartSlot);
    const box = h('div', { class: 'chart-box' });
    const total = rows.reduce((a, r) => a + r.payment_count, 0);
    chartSlot.append(box);
    chart = makeChart(box, {
      type: 'bar',
      data: {
        labels: rows.map((r) => r.day.slice(5)),
        datasets: [
          { type: 'bar', label: t('chart.volume_yuan'), data: rows.map((r) => r.payment_fen / 100), backgroundColor: RED,
            yAxisID: 'y', order: 2 },
          { type: 'line', label: t('chart.payments'), data: rows.map((r) => r.payment_count), borderColor: '#1f3b57',
            backgroundColor: '#1f3b57', yAxisID: 'y1', pointRadius: 2, tension: 0.2, order: 1 },
        ],
      },
      options: {
        interaction: { mode: 'index', intersect: false },
        plugins: { legend: { position: 'bottom' } },
        scales: {
          y: { beginAtZero: true, title: { display: true, text: t('chart.yuan') } },
          y1: { beginAtZero: true, position: 'right', grid: { drawOnChartArea: false }, ticks: { precision: 0 },
            title: { display: true, text: t('chart.count') } },
        },
      },
    }, t('chart.daily_label', { n: rows.length, payments: total }));
    if (!total) chartSlot.append(h('p', { class: 'muted small' }, t('zones.no_payments_yet')));
  }

  function renderCoverage(cov) {
    clear(coverageSlot);
    const byScenario = Object.fromEntries(cov.by_scenario.map((s) => [s.scenario, s]));
    coverageSlot.append(
      h('p', { class: 'coverage-summary' }, t('zones.coverage_summary', { n: cov.covered_count, of: cov.of })),
      h('ul', { class: 'scenario-grid', id: 'scenario-coverage' }, SCENARIOS.map((s) => {
        const row = byScenario[s] || { merchants_enrolled: 0, payment_count: 0, payment_fen: 0, name_zh: '' };
        const covered = cov.covered.includes(s);
        const enrolled = cov.enrolled.includes(s);
        const state = covered ? 'covered' : enrolled ? 'idle' : 'missing';
        return h('li', { class: `scenario scenario-${state}`, dataset: { scenario: s, state } },
          h('span', { class: 'scenario-char', lang: 'zh-CN' }, row.name_zh || s),
          h('span', { class: 'scenario-name' }, t(`scenario.${s}`)),
          h('span', { class: 'scenario-state' }, t(`coverage.${state}`)),
          h('span', { class: 'scenario-fig muted small' }, t('zones.scenario_fig', {
            m: num(row.merchants_enrolled), n: num(row.payment_count), v: yuan(row.payment_fen) })));
      })),
      h('p', { class: 'muted small' }, t('zones.coverage_hint')));
    if (cov.missing.length) {
      coverageSlot.append(h('p', { class: 'coverage-missing' }, t('zones.missing'), ' ',
        cov.missing.map((s) => scenarioLabel(s)).join('、')));
    }
  }

  periodSelect.addEventListener('change', async () => {
    days = Number(periodSelect.value);
    try { await loadKpis(); } catch (err) { if (ctx.isCurrent()) clear(kpiBox).append(errorBanner(err)); }
  });

  const [kpiResult, merchantsResult] = await Promise.allSettled([loadKpis(), getAll(`/zones/${zoneId}/merchants`)]);
  if (!ctx.isCurrent()) return;
  if (kpiResult.status === 'rejected') clear(kpiBox).append(errorBanner(kpiResult.reason, { onRetry: () => loadKpis() }));
  if (merchantsResult.status === 'rejected') {
    clear(merchantsSlot).append(errorBanner(merchantsResult.reason));
    map = zoneMap(mapBox, zone.outline, []);
    return;
  }
  const merchants = merchantsResult.value;
  map = zoneMap(mapBox, zone.outline, merchants, {
    onMerchant: (m) => document.getElementById(`zone-merchant-${m.id}`)?.scrollIntoView({ block: 'nearest' }),
  });
  clear(merchantsSlot);
  if (!merchants.length) {
    merchantsSlot.append(empty(t('zones.no_merchants'), t('zones.no_merchants_hint')));
    return;
  }
  merchantsSlot.append(h('h3', {}, t('zones.merchants_count', { n: merchants.length })), table({
    caption: t('zones.merchants'),
    columns: [
      { label: t('merchant.name'), header: true, render: (m) => nameOf(m) },
      { label: t('merchant.scenario'), render: (m) => `${m.scenario_zh} ${t(`scenario.${m.scenario}`)}` },
      { label: t('merchant.mcc'), key: 'mcc' },
      { label: t('merchant.address'), key: 'address' },
      { label: t('merchant.status'), render: (m) => badge(t(`status.${m.status}`), m.status === 'approved' ? 'ok' : 'warn') },
    ],
    rows: merchants,
    rowAttrs: (m) => ({ id: `zone-merchant-${m.id}` }),
  }));
}
