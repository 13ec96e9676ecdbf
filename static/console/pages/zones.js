// Zones: the list, and one zone's dashboard (KPI tiles, daily volume, scenario coverage, outline and
// merchants on a map, reports). Everything is read from the zones plug-in's endpoints.
import { api, getAll, request } from '../api.js';
import { RED, makeChart, scenarioLegend, zoneMap } from '../charts.js';
import { averageTicket, lastDays, num, periodRange, ratio, timeOnly, yuan } from '../format.js';
import { SCENARIOS, nameOf, scenarioLabel, t } from '../i18n.js';
import {
  badge, clear, clearFormError, empty, errorBanner, field, filePicker, h, loading, pageHeader, section, showFormError, table, tile, toast,
} from '../ui.js';
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
      h('span', { class: 'zone-card-meta' }, `${z.district} · ${kindName(z)}`,
        z.area_km2 !== undefined ? ` · ${t('zones.area', { km2: z.area_km2 })}` : ''))))));
}

function kindName(z) {
  return t(`zone_kind.${z.kind}`);
}

/** The pilot office replaces a zone's outline: pick a GeoJSON file, see it dashed over the current outline,
 * then save (the server checks it and places the merchants again) or pick another. */
function outlineEditor(zone, getMap, onSaved) {
  const file = h('input', { type: 'file', id: 'outline-file', accept: '.geojson,.json,application/geo+json,application/json',
    dataset: { field: 'geometry' } });
  const slot = h('div', { 'aria-live': 'polite' });
  const save = h('button', { type: 'button', class: 'btn btn-primary', id: 'outline-save', disabled: true }, t('zones.outline_save'));
  let geometry = null;
  let preview = null;
  file.addEventListener('change', async () => {
    clear(slot);
    save.disabled = true;
    preview?.remove();
    geometry = null;
    const chosen = file.files[0];
    if (!chosen) return;
    try {
      geometry = JSON.parse(await chosen.text());
      preview = window.L.geoJSON(geometry, { style: { color: '#1f3b57', weight: 2.5, dashArray: '6 4', fillOpacity: 0.05 },
        interactive: false }).addTo(getMap());
      getMap().fitBounds(preview.getBounds(), { padding: [24, 24] });
      slot.append(h('p', { class: 'muted small', id: 'outline-preview-note' }, t('zones.outline_preview')));
      save.disabled = false;
    } catch {
      geometry = null;
      slot.append(h('div', { class: 'banner banner-error', role: 'alert' }, h('p', { class: 'banner-title' }, t('zones.outline_unreadable'))));
    }
  });
  save.addEventListener('click', async () => {
    save.disabled = true;
    try {
      await api.patch(`/zones/${zone.id}`, { geometry });
      toast(t('zones.outline_saved'));
      onSaved();
    } catch (err) {
      clear(slot).append(errorBanner(err));
      save.disabled = false;
    }
  });
  return h('details', { class: 'outline-edit', id: 'outline-edit' }, h('summary', {}, t('zones.outline_edit')),
    h('p', { class: 'muted small' }, t('zones.outline_hint')), field(t('zones.outline_file'), filePicker(file)), save, slot);
}

/** A small form of labelled inputs that posts `body()` to `path` and then calls `done`. */
function adminForm(id, fields, submitLabel, send, done) {
  const slot = h('div', { class: 'form-errors' });
  const btn = h('button', { type: 'submit', class: 'btn btn-primary', id: `${id}-submit` }, submitLabel);
  const form = h('form', { class: 'inline-form', id, novalidate: true }, slot, ...fields, btn);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearFormError(form, slot);
    btn.disabled = true;
    try { await send(); done(); } catch (err) { showFormError(form, slot, err); btn.disabled = false; }
  });
  return form;
}

/** The pilot office's part of a zone: who manages it, and which funds pay for its promotions. */
function zoneAdmin(zone, reload) {
  const managers = h('ul', { class: 'plain-list', id: 'zone-managers' }, zone.managers.map((m) => h('li', { dataset: { manager: m.user_id } },
    `${m.display_name || '—'} · ${maskPhone(m.phone)} `,
    h('button', { type: 'button', class: 'btn btn-small', onclick: async (e) => {
      e.target.disabled = true;
      try { await request('DELETE', `/zones/${zone.id}/managers/${m.user_id}`); reload(); } catch (err) { e.target.after(errorBanner(err)); e.target.disabled = false; }
    } }, t('zones.manager_remove')))));
  const managerPhone = h('input', { id: 'manager-phone', type: 'tel', inputmode: 'numeric', maxlength: '11', dataset: { field: 'phone' } });
  const funderName = h('input', { id: 'funder-name', type: 'text', maxlength: '80', dataset: { field: 'name' } });
  const funderPhone = h('input', { id: 'funder-phone', type: 'tel', inputmode: 'numeric', maxlength: '11', dataset: { field: 'phone' } });
  const funders = h('div', {}, loading());
  api.get('/campaigns/funders').then((r) => {
    const mine = r.items.filter((f) => f.zone_id === zone.id);
    clear(funders).append(mine.length ? h('ul', { class: 'plain-list', id: 'zone-funders' }, mine.map((f) => h('li', { dataset: { funder: f.id } },
      `${f.name} · ${t('wizard.balance')} ${yuan(f.balance_fen)}`))) : h('p', { class: 'muted' }, t('zones.funders_none')));
  }).catch((err) => clear(funders).append(errorBanner(err)));
  return section(t('zones.admin_title'),
    h('h3', {}, t('zones.managers')), zone.managers.length ? managers : h('p', { class: 'muted' }, t('zones.managers_none')),
    adminForm('manager-form', [field(t('zones.manager_phone'), managerPhone, t('zones.manager_phone_hint'))], t('zones.manager_add'),
      () => api.post(`/zones/${zone.id}/managers`, { phone: managerPhone.value.trim() }), reload),
    h('h3', {}, t('zones.funders')), funders,
    adminForm('funder-form', [field(t('zones.funder_name'), funderName), field(t('zones.funder_phone'), funderPhone, t('zones.funder_phone_hint'))],
      t('zones.funder_add'), () => api.post('/campaigns/funders', { name: funderName.value.trim(), phone: funderPhone.value.trim(), zone_id: zone.id }),
      reload));
}

function maskPhone(p) {
  return p && p.length >= 7 ? `${p.slice(0, 3)}****${p.slice(-4)}` : p || '';
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

  clear(view).append(
    pageHeader(nameOf(zone), h('label', { class: 'inline-label', for: 'kpi-period' }, t('zones.period')), periodSelect,
      ctx.user.role === 'zone_manager' || ctx.user.role === 'pilot_admin'
        ? h('a', { class: 'btn btn-primary', href: '#/campaigns/new' }, t('campaigns.new')) : null),
    h('p', { class: 'muted zone-sub' }, zone.district, ' · ', kindName(zone),
      zone.area_km2 !== undefined ? ` · ${t('zones.area', { km2: zone.area_km2 })}` : '',
      ` · ${t('zones.managers')}: `, zone.managers.length ? zone.managers.map((m) => m.display_name || m.phone).join('、') : '—'),
    kpiBox,
    h('div', { class: 'grid-2' },
      section(t('zones.daily_volume'), chartSlot),
      section(t('zones.coverage'), coverageSlot)),
    section(t('zones.map'), h('p', { class: 'muted small' }, t('zones.map_hint')), mapBox, scenarioLegend(),
      ctx.user.role === 'pilot_admin' ? outlineEditor(zone, () => map, () => ctx.navigate(`#/zones/${zone.id}`)) : '',
      merchantsSlot),
    ctx.user.role === 'pilot_admin' ? zoneAdmin(zone, () => ctx.navigate(`#/zones/${zone.id}`)) : '',
  );
  const reports = h('div', {});
  view.append(reports);
  reportsPanel(ctx, reports, zone).catch((err) => { if (ctx.isCurrent()) clear(reports).append(errorBanner(err)); });

  async function loadKpis() {
    clear(kpiBox).append(loading());
    // The period and the one of the same length just before it (环比).
    const [k, prev] = await Promise.all([api.get(`/zones/${zoneId}/kpis`, lastDays(days)),
      api.get(`/zones/${zoneId}/kpis`, lastDays(days, new Date(Date.now() - days * 86400000)))]);
    if (!ctx.isCurrent()) return;
    renderKpis(k);
    renderChanges(k, prev);
  }

  const COMPARED = [['payment_fen', true], ['payment_count', false], ['active_wallets', false], ['subsidy_fen', true]];

  function change(now, before) {
    if (!before) return now ? t('kpi.change_from_zero') : t('kpi.change_none');
    const pct = ((now - before) / before) * 100;
    return t('kpi.change', { v: `${pct >= 0 ? '+' : '−'}${ratio(Math.abs(pct), 1)}%` });
  }

  function renderChanges(k, prev) {
    for (const [key] of COMPARED) {
      const tileEl = kpiBox.querySelector(`[data-kpi=${key}]`);
      tileEl?.append(h('p', { class: 'tile-change small', dataset: { change: key } }, change(k.totals[key], prev.totals[key])));
    }
    const exportBtn = h('button', { type: 'button', class: 'btn btn-small', id: 'kpi-export' }, t('kpi.export'));
    exportBtn.addEventListener('click', () => downloadKpis(k, prev));
    kpiBox.querySelector('#kpi-period-range')?.append(' ', exportBtn);
  }

  /** The figures of the period and the one before as CSV for people: yuan, with the unit in the header. */
  function downloadKpis(k, prev) {
    const yuanText = (fen) => (fen / 100).toFixed(2);
    const rows = [[t('kpi.csv_metric'), `${t('kpi.csv_now')} ${k.from}~${k.to}`, `${t('kpi.csv_before')} ${prev.from}~${prev.to}`, t('kpi.csv_change')]];
    for (const [key, money] of COMPARED) {
      const label = money ? `${t(`kpi.${key}`)}（${t('chart.yuan')}）` : t(`kpi.${key}`);
      rows.push([label, money ? yuanText(k.totals[key]) : k.totals[key], money ? yuanText(prev.totals[key]) : prev.totals[key],
        change(k.totals[key], prev.totals[key])]);
    }
    const csv = '\ufeff' + rows.map((r) => r.map((c) => `"${String(c).replace(/"/g, '""')}"`).join(',')).join('\r\n') + '\r\n';
    const a = h('a', { href: URL.createObjectURL(new Blob([csv], { type: 'text/csv;charset=utf-8' })),
      download: `zone-${zone.code}-kpis-${k.from}-${k.to}.csv`, hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
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
    }, t('chart.daily_label', { n: rows.length, payments: total }), { emptyText: t('zones.no_payments_yet') });
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
