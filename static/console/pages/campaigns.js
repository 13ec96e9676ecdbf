// Campaigns: the list, the launch wizard (details → the simulator's forecast → launch), and one
// campaign's live monitor with its settlement figures. Everything comes from the campaigns plug-in.
import { ApiError, api, getAll, newIdempotencyKey, request } from '../api.js';
import { RED, makeChart } from '../charts.js';
import { dateTime, inputToIso, localInputValue, num, parseYuan, ratio, timeOnly, yuan } from '../format.js';
import { SCENARIOS, nameOf, scenarioLabel, t } from '../i18n.js';
import {
  badge, clear, clearFormError, confirmDialog, empty, errorBanner, field, h, loading, pageHeader, section, showFormError, table, tile, toast,
} from '../ui.js';

const STATUS_KIND = {
  draft: 'neutral', scheduled: 'warn', live: 'live', paused: 'warn', ended: 'neutral', cancelled: 'bad', settled: 'ok',
};
const STATUSES = ['draft', 'scheduled', 'live', 'paused', 'ended', 'cancelled', 'settled'];
const KINDS = ['grab', 'coupon', 'lottery'];

function statusBadge(status) {
  return badge(t(`campaign_status.${status}`), STATUS_KIND[status] || 'neutral');
}

function zoneNames(ids, zonesById) {
  return ids.map((id) => (zonesById[id] ? nameOf(zonesById[id]) : `#${id}`)).join('、');
}

async function zonesById() {
  const zones = await api.get('/zones', { managed: true });
  return Object.fromEntries(zones.map((z) => [z.id, z]));
}

function windowOf(c) {
  const w = c.windows;
  const startAt = w.claim_starts_at || w.registration_starts_at;
  const endAt = w.claim_ends_at || w.registration_ends_at;
  return `${dateTime(startAt)} – ${dateTime(endAt)}`;
}

async function launch(c, btn, slot, ctx) {
  btn.disabled = true;
  clear(slot);
  try {
    await api.post(`/campaigns/${c.id}/launch`, undefined, { idempotencyKey: newIdempotencyKey(`launch-${c.id}`) });
    toast(t('campaigns.launched', { name: c.name }));
    ctx.navigate(`#/campaigns/${c.id}`);
  } catch (err) {
    slot.append(errorBanner(err));
    btn.disabled = false;
  }
}

// ---------------------------------------------------------------- list

export async function list(ctx) {
  const { view } = ctx;
  const statusSel = h('select', { id: 'campaign-status' }, h('option', { value: '' }, t('campaigns.all_statuses')),
    STATUSES.map((s) => h('option', { value: s }, t(`campaign_status.${s}`))));
  const slot = h('div', {}, loading());
  const status = h('div', { 'aria-live': 'polite' });
  clear(view).append(pageHeader(t('campaigns.list_title'), h('a', { class: 'btn btn-primary', href: '#/campaigns/new',
    id: 'new-campaign' }, t('campaigns.new'))), h('p', { class: 'muted' }, t('campaigns.list_intro')),
  h('div', { class: 'inline-form' }, field(t('campaigns.status'), statusSel)), status, slot);
  const zones = await zonesById();

  async function load() {
    clear(slot).append(loading());
    const items = await getAll('/campaigns', { status: statusSel.value || undefined }, 200);
    if (!ctx.isCurrent()) return;
    clear(slot);
    if (!items.length) { slot.append(empty(t('campaigns.none'), t('campaigns.none_hint'))); return; }
    slot.append(table({
      caption: t('campaigns.list_title'),
      columns: [
        { label: t('campaigns.name'), header: true, render: (c) => h('a', { href: `#/campaigns/${c.id}` }, c.name) },
        { label: t('campaigns.kind'), render: (c) => t(`campaign_kind.${c.kind}`) },
        { label: t('campaigns.status'), render: (c) => statusBadge(c.status) },
        { label: t('campaigns.zones'), render: (c) => zoneNames(c.zone_ids, zones) },
        { label: t('campaigns.budget'), num: true, render: (c) => yuan(c.budget_fen) },
        { label: t('campaigns.packets'), num: true, render: (c) => num(c.packet_count) },
        { label: t('campaigns.window'), render: (c) => windowOf(c) },
        { label: t('common.actions'), render: (c) => (c.status === 'draft'
          ? h('div', { class: 'btn-row' },
            h('a', { class: 'btn btn-small', href: `#/campaigns/${c.id}/edit`, dataset: { editCampaign: c.id } }, t('campaigns.edit')),
            h('button', { type: 'button', class: 'btn btn-small btn-primary', onclick: (e) => launch(c, e.currentTarget, status, ctx) },
              t('campaigns.launch')))
          : h('a', { class: 'btn btn-small', href: `#/campaigns/${c.id}` }, t('campaigns.open_monitor'))) },
      ],
      rows: items,
      rowAttrs: (c) => ({ dataset: { campaignRow: c.id, status: c.status } }),
    }));
  }
  statusSel.addEventListener('change', () => load().catch((err) => clear(slot).append(errorBanner(err))));
  await load();
}

// ---------------------------------------------------------------- wizard

/** The forecast's leverage note: never "no past campaign" beside a count of past campaigns. */
function leverageNote(f) {
  if (f.expected_subsidised_volume_fen !== null) return t('wizard.expected_volume', { v: yuan(f.expected_subsidised_volume_fen) });
  return f.history.campaigns ? t('wizard.no_subsidy_yet', { n: num(f.history.campaigns) }) : t('wizard.no_history');
}

/** Where the expected cost comes from, in the console's language. */
function costBasis(f) {
  const d = f.cost_basis_detail;
  if (!d || !d.similar_campaigns) return t('wizard.basis_none');
  const share = d.issued ? `${ratio((d.spent / d.issued) * 100, 1)}%` : '—';
  return t(d.unit === 'coupons' ? 'wizard.basis_coupons' : 'wizard.basis_red', {
    n: num(d.similar_campaigns), spent: d.unit === 'coupons' ? num(d.spent) : yuan(d.spent),
    issued: d.unit === 'coupons' ? num(d.issued) : yuan(d.issued), share,
    weight: `${ratio(d.history_weight * 100, 0)}%` });
}

function checkboxGroup(name, legend, options, checked, hint) {
  return h('fieldset', { class: 'field checks', dataset: { field: name } },
    h('legend', {}, legend),
    h('div', { class: 'check-row' }, options.map(([value, label]) => h('label', { class: 'check' },
      h('input', { type: 'checkbox', name, value: String(value), checked: checked.includes(value) ? true : null }), label))),
    hint ? h('p', { class: 'hint muted' }, hint) : null);
}

function radioGroup(name, legend, options, selected) {
  return h('fieldset', { class: 'field checks', dataset: { field: name } },
    h('legend', {}, legend),
    h('div', { class: 'check-row' }, options.map(([value, label]) => h('label', { class: 'check' },
      h('input', { type: 'radio', name, value, checked: value === selected ? true : null }), label))));
}

function checkedValues(form, name) {
  return [...form.querySelectorAll(`input[name="${name}"]:checked`)].map((i) => i.value);
}

/** Fen as a form value the person can edit ("888.00"), integers only. */
function fenInput(fen) {
  return fen === null || fen === undefined ? '' : `${Math.floor(fen / 100)}.${String(fen % 100).padStart(2, '0')}`;
}

/** The wizard: a new campaign (#/campaigns/new), or a draft to edit (#/campaigns/{id}/edit: prefilled, saved by PATCH). */
export async function wizard(ctx) {
  const { view } = ctx;
  const editId = (ctx.params || {}).campaignId || null;
  const [zones, funders, existing] = await Promise.all([api.get('/zones', { managed: true }), api.get('/campaigns/funders'),
    editId ? api.get(`/campaigns/${editId}`) : null]);
  if (!ctx.isCurrent()) return;
  if (existing && existing.status !== 'draft') {
    clear(view).append(pageHeader(t('wizard.edit_title', { name: existing.name })),
      h('div', { class: 'banner banner-warn', role: 'alert', id: 'edit-not-draft' }, h('p', { class: 'banner-title' },
        t('wizard.not_draft', { status: t(`campaign_status.${existing.status}`) }))),
      h('a', { class: 'btn', href: `#/campaigns/${existing.id}` }, t('campaigns.open_monitor')));
    return;
  }

  const stepper = h('ol', { class: 'stepper' }, ['details', 'forecast', 'launch'].map((s, i) => h('li', { dataset: { step: s } },
    h('span', { class: 'step-num' }, String(i + 1)), t(`wizard.step_${s}`))));
  const slot = h('div', { class: 'form-errors', 'aria-live': 'assertive' });

  // Step 1: details.
  const name = h('input', { id: 'c-name', type: 'text', maxlength: '80', required: true, dataset: { field: 'name' } });
  const kindGroup = radioGroup('kind', t('campaigns.kind'), KINDS.map((k) => [k, t(`campaign_kind.${k}`)]), 'grab');
  const splitGroup = radioGroup('split', t('wizard.split'), [['random', t('wizard.split_random')], ['fixed', t('wizard.split_fixed')]], 'random');
  const zoneGroup = checkboxGroup('zone_ids', t('campaigns.zones'), zones.map((z) => [z.id, nameOf(z)]),
    zones.length === 1 ? [zones[0].id] : [], ctx.user.role === 'zone_manager' ? t('wizard.zones_hint_manager') : null);
  const funderOwner = (f) => {
    const zone = f.zone_id && zones.find((z) => z.id === f.zone_id);
    return f.zone_id ? t('wizard.funder_of_zone', { zone: zone ? nameOf(zone) : `#${f.zone_id}` }) : t('wizard.funder_citywide');
  };
  const funder = h('select', { id: 'c-funder', dataset: { field: 'funder_id' } },
    funders.items.map((f) => h('option', { value: String(f.id) },
      // Whose fund it is (the zone it belongs to, or the whole pilot) and all of its balance.
      `${f.name}（${funderOwner(f)}）· ${t('wizard.balance')} ${yuan(f.balance_fen)}`)));
  const count = h('input', { id: 'c-count', type: 'number', min: '1', step: '1', inputmode: 'numeric', value: '100',
    dataset: { field: 'packet_count' } });
  const budget = h('input', { id: 'c-budget', type: 'text', inputmode: 'decimal', value: '888.00', dataset: { field: 'budget_fen' } });
  const discount = h('input', { id: 'c-discount', type: 'text', inputmode: 'decimal', value: '10.00', dataset: { field: 'discount_fen' } });
  const minSpend = h('input', { id: 'c-min-spend', type: 'text', inputmode: 'decimal', value: '50.00', dataset: { field: 'min_spend_fen' } });
  const stackable = h('input', { id: 'c-stackable', type: 'checkbox' });
  const deviceCap = h('input', { id: 'c-device-cap', type: 'number', min: '1', max: '100', step: '1', value: '1',
    dataset: { field: 'device_cap' } });
  const classGroup = checkboxGroup('wallet_classes', t('wizard.wallet_classes'), [4, 3, 2, 1].map((c) => [c, t('wizard.class_n', { n: c })]),
    [1, 2, 3, 4]);
  const scenarioGroup = checkboxGroup('scenarios', t('wizard.scenarios'), SCENARIOS.map((s) => [s, scenarioLabel(s)]), [],
    t('wizard.scenarios_hint'));
  const opens = h('input', { id: 'c-opens', type: 'datetime-local', step: '1', value: localInputValue(0), dataset: { field: 'claim_starts_at' } });
  const closes = h('input', { id: 'c-closes', type: 'datetime-local', step: '1', value: localInputValue(7 * 86400), dataset: { field: 'claim_ends_at' } });
  const spendEnds = h('input', { id: 'c-spend-ends', type: 'datetime-local', step: '1', value: localInputValue(30 * 86400),
    dataset: { field: 'spend_ends_at' } });
  const redFields = h('div', { class: 'form-grid' }, field(t('wizard.budget'), budget, t('wizard.budget_hint')));
  const couponFields = h('div', { class: 'form-grid' }, field(t('wizard.discount'), discount), field(t('wizard.min_spend'), minSpend),
    h('div', { class: 'field' }, h('label', { class: 'check' }, stackable, t('wizard.stackable'))));
  const opensLabel = h('span', {});
  const closesLabel = h('span', {});
  const details = h('form', { class: 'wizard-step', id: 'wizard-details', novalidate: true },
    h('div', { class: 'form-grid' }, field(t('campaigns.name'), name, t('wizard.name_hint')), field(t('wizard.funder'), funder)),
    kindGroup, splitGroup, zoneGroup,
    h('div', { class: 'form-grid' }, field(t('campaigns.packets'), count, t('wizard.count_hint'))),
    redFields, couponFields,
    h('div', { class: 'form-grid' }, field(t('wizard.device_cap'), deviceCap, t('wizard.device_cap_hint'))),
    classGroup, scenarioGroup,
    h('div', { class: 'form-grid' },
      h('div', { class: 'field' }, h('label', { for: 'c-opens' }, opensLabel), opens),
      h('div', { class: 'field' }, h('label', { for: 'c-closes' }, closesLabel), closes),
      field(t('wizard.spend_ends'), spendEnds, t('wizard.time_hint'))),
    h('div', { class: 'wizard-actions' }, h('a', { class: 'btn btn-ghost', href: editId ? `#/campaigns/${editId}` : '#/campaigns' },
      t('common.cancel')),
    editId ? h('button', { type: 'button', class: 'btn', id: 'wizard-save', onclick: (e) => saveDraft(e.currentTarget) },
      t('wizard.save_draft')) : null,
    h('button', { type: 'submit', class: 'btn btn-primary', id: 'wizard-forecast' }, t('wizard.to_forecast'))));

  const forecastSlot = h('div', {});
  const forecast = h('div', { class: 'wizard-step', id: 'wizard-forecast-step', hidden: true });
  const reviewSlot = h('div', {});
  const launchBtn = h('button', { type: 'button', class: 'btn btn-primary', id: 'wizard-launch' }, t('wizard.launch'));
  const confirm = h('div', { class: 'wizard-step', id: 'wizard-launch-step', hidden: true });

  let chart = null;
  ctx.onCleanup(() => chart?.destroy());
  let draft = existing; // the campaign once created (a failed launch is retried on the same draft)

  function kind() { return checkedValues(details, 'kind')[0]; }

  function setChecks(group, values) {
    const wanted = values.map(String);
    details.querySelectorAll(`input[name="${group}"]`).forEach((i) => { i.checked = wanted.includes(i.value); });
  }

  /** Fill the form from a draft as the API gives it; its kind cannot change (delete the draft instead). */
  function prefill(c) {
    name.value = c.name;
    setChecks('kind', [c.kind]);
    details.querySelectorAll('input[name="kind"]').forEach((i) => { i.disabled = true; });
    if (c.split) setChecks('split', [c.split]);
    setChecks('zone_ids', c.zone_ids);
    if (c.funder) funder.value = String(c.funder.id);
    count.value = String(c.packet_count);
    if (c.budget_fen !== null) budget.value = fenInput(c.budget_fen);
    if (c.discount_fen !== null) discount.value = fenInput(c.discount_fen);
    if (c.min_spend_fen !== null) minSpend.value = fenInput(c.min_spend_fen);
    stackable.checked = !!c.stackable;
    deviceCap.value = c.device_cap === null || c.device_cap === undefined ? '' : String(c.device_cap);
    setChecks('wallet_classes', c.eligibility.wallet_classes);
    setChecks('scenarios', c.scenarios || []);
    const w = c.windows;
    opens.value = localInputValue(0, new Date(w.claim_starts_at || w.registration_starts_at));
    closes.value = localInputValue(0, new Date(w.claim_ends_at || w.registration_ends_at));
    spendEnds.value = localInputValue(0, new Date(w.spend_ends_at));
  }

  /** The edit of a draft: every field but kind (scenarios sent even when none, so they can be cleared). */
  function editBody(b) {
    const out = { ...b, scenarios: b.scenarios || [] };
    delete out.kind;
    if (!('device_cap' in out)) out.device_cap = null;
    return out;
  }

  async function saveDraft(btn) {
    clearFormError(details, slot);
    try {
      const b = readBody();
      btn.disabled = true;
      draft = await request('PATCH', `/campaigns/${editId}`, { body: editBody(b) });
      if (!ctx.isCurrent()) return;
      toast(t('wizard.saved', { name: draft.name }));
      ctx.navigate(`#/campaigns/${editId}`);
    } catch (err) {
      showFormError(details, slot, err);
    } finally {
      btn.disabled = false;
    }
  }

  function syncKind() {
    const k = kind();
    redFields.hidden = k === 'coupon';
    couponFields.hidden = k !== 'coupon';
    splitGroup.hidden = k === 'coupon';
    const lottery = k === 'lottery';
    opensLabel.textContent = lottery ? t('wizard.registration_starts') : t('wizard.claim_starts');
    closesLabel.textContent = lottery ? t('wizard.registration_ends') : t('wizard.claim_ends');
    opens.dataset.field = lottery ? 'registration_starts_at' : 'claim_starts_at';
    closes.dataset.field = lottery ? 'registration_ends_at' : 'claim_ends_at';
  }
  if (existing) prefill(existing);
  details.addEventListener('change', (e) => { if (e.target.name === 'kind') syncKind(); });
  syncKind();

  function showStep(step) {
    details.hidden = step !== 'details';
    forecast.hidden = step !== 'forecast';
    confirm.hidden = step !== 'launch';
    stepper.querySelectorAll('li').forEach((li) => {
      if (li.dataset.step === step) li.setAttribute('aria-current', 'step'); else li.removeAttribute('aria-current');
    });
    const heading = (step === 'details' ? details : step === 'forecast' ? forecast : confirm).querySelector('h2');
    heading?.focus();
  }

  /** Read the form into the API's body; field mistakes raise an ApiError the form shows. */
  function readBody() {
    const errors = [];
    const k = kind();
    const body = { name: name.value.trim(), kind: k, funder_id: Number(funder.value),
      zone_ids: checkedValues(details, 'zone_ids').map(Number) };
    if (!body.name) errors.push({ field: 'name', reason: t('wizard.err_name') });
    if (!funder.value) errors.push({ field: 'funder_id', reason: t('wizard.err_funder') });
    if (!body.zone_ids.length) errors.push({ field: 'zone_ids', reason: t('wizard.err_zones') });
    const n = Number(count.value);
    if (!Number.isInteger(n) || n < 1) errors.push({ field: 'packet_count', reason: t('wizard.err_count') });
    body.packet_count = n;
    if (k === 'coupon') {
      body.discount_fen = parseYuan(discount.value);
      body.min_spend_fen = parseYuan(minSpend.value);
      body.stackable = stackable.checked;
      if (!body.discount_fen) errors.push({ field: 'discount_fen', reason: t('wizard.err_money') });
      if (body.min_spend_fen === null) errors.push({ field: 'min_spend_fen', reason: t('wizard.err_money') });
    } else {
      body.split = checkedValues(details, 'split')[0] || 'random';
      body.budget_fen = parseYuan(budget.value);
      if (!body.budget_fen) errors.push({ field: 'budget_fen', reason: t('wizard.err_money') });
    }
    if (deviceCap.value) body.device_cap = Number(deviceCap.value);
    const classes = checkedValues(details, 'wallet_classes').map(Number);
    if (!classes.length) errors.push({ field: 'wallet_classes', reason: t('wizard.err_classes') });
    body.wallet_classes = classes;
    const scen = checkedValues(details, 'scenarios');
    if (scen.length) body.scenarios = scen;
    const lottery = k === 'lottery';
    body[lottery ? 'registration_starts_at' : 'claim_starts_at'] = inputToIso(opens.value);
    body[lottery ? 'registration_ends_at' : 'claim_ends_at'] = inputToIso(closes.value);
    body.spend_ends_at = inputToIso(spendEnds.value);
    for (const [input, key] of [[opens, opens.dataset.field], [closes, closes.dataset.field], [spendEnds, 'spend_ends_at']]) {
      if (!input.value) errors.push({ field: key, reason: t('wizard.err_time') });
    }
    if (errors.length) throw new ApiError(422, { code: 'console_invalid', errors });
    return body;
  }

  function simulateBody(body) {
    const out = { kind: body.kind, zone_ids: body.zone_ids, packet_count: body.packet_count, wallet_classes: body.wallet_classes };
    for (const key of ['split', 'budget_fen', 'discount_fen', 'min_spend_fen']) if (body[key] !== undefined) out[key] = body[key];
    return out;
  }

  let body = null;
  details.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearFormError(details, slot);
    const btn = details.querySelector('#wizard-forecast');
    try {
      body = readBody();
      btn.disabled = true;
      const f = await api.post('/campaigns/simulate', simulateBody(body));
      if (!ctx.isCurrent()) return;
      renderForecast(f);
      showStep('forecast');
    } catch (err) {
      showFormError(details, slot, err);
    } finally {
      btn.disabled = false;
    }
  });

  const toLaunch = h('button', { type: 'button', class: 'btn btn-primary', id: 'wizard-to-launch',
    onclick: () => { renderReview(); showStep('launch'); } }, t('wizard.to_launch'));

  function renderForecast(f) {
    chart?.destroy();
    const funderRow = funders.items.find((x) => x.id === body.funder_id);
    const short = funderRow && funderRow.balance_fen < f.budget_fen;
    // The forecast says the funder cannot cover the budget: the wizard does not go on to launch it.
    toLaunch.disabled = Boolean(short);
    clear(forecastSlot).append(
      h('div', { class: 'tiles', id: 'forecast-tiles' },
        tile(t('wizard.escrow'), yuan(f.budget_fen), t('wizard.escrow_sub'), { dataset: { forecast: 'budget_fen' } }),
        tile(t('wizard.expected_cost'), yuan(f.expected_cost_fen), null, { dataset: { forecast: 'expected_cost_fen' } }),
        tile(t('wizard.expected_leverage'), f.expected_leverage === null ? '—' : `${ratio(f.expected_leverage)}×`,
          leverageNote(f), { dataset: { forecast: 'expected_leverage' } }),
        tile(t('wizard.history'), num(f.history.campaigns), t('wizard.similar', { n: num(f.history.similar_campaigns) }),
          { dataset: { forecast: 'history' } })),
      h('p', { class: 'muted small', id: 'forecast-basis' }, t('wizard.cost_basis'), ' ', costBasis(f)),
      ...(f.wallet_cap_warnings || []).map((w) => h('div', { class: 'banner banner-warn', role: 'alert',
        dataset: { capWarning: w.wallet_class } }, h('p', { class: 'banner-title' }, t('wizard.cap_warning', {
        n: w.wallet_class, cap: yuan(w.balance_cap_fen), max: yuan(w.largest_packet_fen),
        share: w.share_over < 0.001 ? '<0.1%' : `${ratio(w.share_over * 100, 1)}%` })))),
      short ? h('div', { class: 'banner banner-error', role: 'alert', id: 'forecast-funder-short' }, h('p', { class: 'banner-title' },
        t('wizard.funder_short', { balance: yuan(funderRow.balance_fen), budget: yuan(f.budget_fen) }))) : '');
    if (f.packet_amounts) {
      const keys = ['min_fen', 'p10_fen', 'p50_fen', 'p90_fen', 'p99_fen', 'max_fen'];
      const box = h('div', { class: 'chart-box' });
      forecastSlot.append(h('h3', {}, t('wizard.packet_distribution', { trials: num(f.trials) })), box,
        table({
          caption: t('wizard.packet_distribution', { trials: num(f.trials) }),
          columns: [{ label: '', header: true, render: (r) => r.label },
            ...keys.map((k) => ({ label: t(`wizard.pct_${k}`), num: true, render: (r) => yuan(r.d[k]) })),
            { label: t('wizard.pct_mean_fen'), num: true, render: (r) => yuan(r.d.mean_fen) }],
          rows: [{ label: t('wizard.every_packet'), d: f.packet_amounts }, { label: t('wizard.largest_packet'), d: f.largest_packet },
            { label: t('wizard.smallest_packet'), d: f.smallest_packet }],
        }));
      chart = makeChart(box, {
        type: 'bar',
        data: {
          labels: keys.map((k) => t(`wizard.pct_${k}`)),
          datasets: [
            { label: t('wizard.every_packet'), data: keys.map((k) => f.packet_amounts[k] / 100), backgroundColor: RED },
            { label: t('wizard.largest_packet'), data: keys.map((k) => f.largest_packet[k] / 100), backgroundColor: '#1f3b57' },
          ],
        },
        options: { plugins: { legend: { position: 'bottom' } },
          scales: { y: { beginAtZero: true, title: { display: true, text: t('chart.yuan') } } } },
      }, t('wizard.packet_chart_label'));
    } else {
      forecastSlot.append(h('p', {}, t('wizard.coupon_forecast', { n: num(f.packet_count), v: yuan(body.discount_fen) })));
    }
  }

  function renderReview() {
    const zoneMap = Object.fromEntries(zones.map((z) => [z.id, z]));
    const rows = [
      [t('campaigns.name'), body.name],
      [t('campaigns.kind'), t(`campaign_kind.${body.kind}`)],
      [t('campaigns.zones'), zoneNames(body.zone_ids, zoneMap)],
      [t('wizard.funder'), funder.selectedOptions[0]?.textContent || ''],
      [t('campaigns.packets'), num(body.packet_count)],
      body.kind === 'coupon'
        ? [t('wizard.coupon_terms'), t('wizard.coupon_terms_v', { min: yuan(body.min_spend_fen), off: yuan(body.discount_fen) })]
        : [t('wizard.budget'), `${yuan(body.budget_fen)} · ${t(`wizard.split_${body.split}`)}`],
      [body.kind === 'lottery' ? t('wizard.registration_window') : t('campaigns.window'),
        `${dateTime(body.claim_starts_at || body.registration_starts_at)} – ${dateTime(body.claim_ends_at || body.registration_ends_at)}`],
      [t('wizard.spend_ends'), dateTime(body.spend_ends_at)],
    ];
    clear(reviewSlot).append(h('dl', { class: 'facts facts-wide', id: 'launch-review' },
      rows.map(([k, v]) => h('div', {}, h('dt', {}, k), h('dd', {}, v)))),
    h('p', { class: 'muted', id: 'launch-note' }, t(`wizard.launch_note_${body.kind}`, {
      budget: yuan(body.kind === 'coupon' ? body.discount_fen * body.packet_count : body.budget_fen),
      n: num(body.packet_count) })));
  }

  forecast.append(h('h2', { tabindex: '-1' }, t('wizard.forecast_title')), h('p', { class: 'muted' }, t('wizard.forecast_intro')),
    forecastSlot, h('div', { class: 'wizard-actions' },
      h('button', { type: 'button', class: 'btn btn-ghost', id: 'wizard-back-to-details', onclick: () => showStep('details') },
        t('wizard.back')),
      toLaunch));
  const launchSlot = h('div', { 'aria-live': 'assertive' });
  confirm.append(h('h2', { tabindex: '-1' }, t('wizard.launch_title')), reviewSlot, launchSlot,
    h('div', { class: 'wizard-actions' },
      h('button', { type: 'button', class: 'btn btn-ghost', id: 'wizard-back-to-forecast', onclick: () => showStep('forecast') },
        t('wizard.back')), launchBtn));

  launchBtn.addEventListener('click', async () => {
    launchBtn.disabled = true;
    clear(launchSlot);
    try {
      if (editId) draft = await request('PATCH', `/campaigns/${editId}`, { body: editBody(body) });
      else if (!draft) draft = await api.post('/campaigns', body);
      // One key per launch attempt: a network retry of the same attempt could reuse it; a refusal needs a new one.
      await api.post(`/campaigns/${draft.id}/launch`, undefined, { idempotencyKey: newIdempotencyKey(`launch-${draft.id}`) });
      toast(t('campaigns.launched', { name: draft.name }));
      ctx.navigate(`#/campaigns/${draft.id}`);
    } catch (err) {
      launchSlot.append(errorBanner(err));
      if (err.fieldErrors && err.fieldErrors.length) showFormError(details, slot, err); // marked when going back
      if (draft) launchSlot.append(h('p', { class: 'muted' }, t('wizard.draft_saved', { id: draft.id })));
      launchBtn.disabled = false;
    }
  });

  details.prepend(h('h2', { tabindex: '-1' }, t('wizard.details_title')), slot);
  clear(view).append(pageHeader(existing ? t('wizard.edit_title', { name: existing.name }) : t('wizard.title')), stepper, h('div', { class: 'card wizard-card' }, details, forecast, confirm));
  showStep('details');
  name.focus();
  if (!funders.items.length) slot.append(h('div', { class: 'banner banner-warn', role: 'alert' }, h('p', { class: 'banner-title' }, t('wizard.no_funders'))));
}

// ---------------------------------------------------------------- monitor

// The settlement report's checks, by the names the API gives them.
const CHECKS = {
  'campaign account': 'campaign_account', 'restricted accounts': 'restricted_accounts',
  'issued = spent + returned + held': 'issued_accounted', 'issued = budget': 'issued_budget',
  'transfers of other kinds': 'other_transfers',
};

function checkName(name) {
  return CHECKS[name] ? t(`settlement.check_${CHECKS[name]}`) : h('span', { lang: 'en' }, name);
}

const LIVE_STATUSES = ['scheduled', 'live', 'paused'];
const CANCELLABLE = ['scheduled', 'live', 'paused', 'ended'];

/** The cancel confirmation, naming what goes back to the funder and what stays with consumers. */
function cancelDialog(c, quote, opener) {
  const coupon = c.kind === 'coupon';
  const reclaim = h('input', { type: 'checkbox', id: 'cancel-reclaim', name: 'reclaim' });
  const amounts = h('dl', { class: 'facts', id: 'cancel-amounts' });
  const key = newIdempotencyKey(`cancel-${c.id}`);
  function fill() {
    const all = reclaim.checked;
    clear(amounts).append(
      h('div', { dataset: { amount: 'returned' } }, h('dt', {}, t('stop.returned_now', { funder: c.funder ? c.funder.name : '' })),
        h('dd', {}, h('strong', {}, yuan(all ? quote.returned_if_reclaimed_fen : quote.returned_fen)))),
      h('div', { dataset: { amount: 'stays' } }, h('dt', {}, coupon ? t('stop.stays_coupons', { n: num(quote.unused_coupons) })
        : t('stop.stays_red_packets')), h('dd', {}, all ? yuan(0) : yuan(quote.stays_spendable_fen))));
  }
  fill();
  reclaim.addEventListener('change', fill);
  return confirmDialog({
    id: 'cancel-dialog', title: t('stop.cancel_title', { name: c.name }), danger: true, opener,
    body: [h('p', {}, t('stop.cancel_intro')), amounts,
      h('label', { class: 'check' }, reclaim, coupon ? t('stop.reclaim_coupons') : t('stop.reclaim_red_packets')),
      h('p', { class: 'muted small' }, reclaim.checked ? '' : t('stop.cancel_deadline', { time: dateTime(c.windows.spend_ends_at) }))],
    labelOf: () => t('stop.cancel_confirm', { v: yuan(reclaim.checked ? quote.returned_if_reclaimed_fen : quote.returned_fen) }),
    // One key per dialog: a retry after a lost answer replays; reopening the dialog is a new request.
    run: () => api.post(`/campaigns/${c.id}/cancel`, { reclaim_claimed: reclaim.checked }, { idempotencyKey: key }),
  });
}

/** "Draw now": open once the reveal window has ended (the minute job would draw it too). */
function drawButton(d, onDraw) {
  const due = Date.now() >= Date.parse(d.reveals_end_at);
  const slot = h('div', { 'aria-live': 'polite' });
  const key = newIdempotencyKey(`draw-${d.campaign_id ?? ''}`);
  const btn = h('button', { type: 'button', class: 'btn btn-primary', id: 'draw-now', disabled: due ? null : true },
    t('draw.draw_now'));
  btn.addEventListener('click', async () => {
    btn.disabled = true;
    clear(slot);
    try { await onDraw(key); } catch (err) { slot.append(errorBanner(err)); btn.disabled = false; }
  });
  return h('div', { class: 'draw-action' }, btn, ' ',
    h('span', { class: 'muted small' }, due ? t('draw.draw_now_hint') : t('draw.not_due', { time: dateTime(d.reveals_end_at) })), slot);
}

/** The lottery's draw as published: seed hash, reveal counts, and once drawn the seed and the winners. */
function drawSection(d, onDraw) {
  const facts = [
    [t('draw.seed_hash'), h('code', { class: 'break' }, d.seed_sha256 || '—')],
    [t('draw.registrants'), t('draw.registrants_v', { n: num(d.registrants.length), c: num(d.committed), r: num(d.revealed) })],
    [t('draw.draw_at'), dateTime(d.reveals_end_at)],
  ];
  if (d.status === 'drawn') {
    facts.push([t('draw.seed'), h('code', { class: 'break', id: 'draw-seed' }, d.seed)],
      [t('draw.list_hash'), h('code', { class: 'break' }, d.registrations_sha256 || '—')],
      [t('draw.drawn_at'), dateTime(d.drawn_at)]);
  }
  return h('div', {},
    h('p', {}, badge(t(`draw.status_${d.status}`), d.status === 'drawn' ? 'ok' : d.status === 'cancelled' ? 'bad' : 'warn')),
    h('dl', { class: 'facts facts-wide' }, facts.map(([k, v]) => h('div', {}, h('dt', {}, k), h('dd', {}, v)))),
    d.status === 'drawn'
      ? table({ caption: t('draw.winners'), columns: [
        { label: t('draw.packet'), num: true, render: (w) => `#${w.seq}` },
        { label: t('draw.winner'), header: true, render: (w) => t('draw.user', { id: w.user_id }) },
        { label: t('settlement.amount'), num: true, render: (w) => yuan(w.amount_fen) }],
      rows: d.winners, rowAttrs: (w) => ({ dataset: { winner: w.user_id } }), stack: false })
      : h('p', { class: 'muted' }, t('draw.pending_hint')),
    d.status === 'pending' ? drawButton(d, onDraw) : '',
    h('p', { class: 'muted small' }, t('draw.verify'), ' ', h('code', {}, 'python -m campaigns.verify_draw draw.json')));
}

export async function monitor(ctx) {
  const { view, params } = ctx;
  const id = params.campaignId;
  const [c, zones] = await Promise.all([api.get(`/campaigns/${id}`), zonesById()]);
  if (!ctx.isCurrent()) return;
  let campaign = c;
  const statusSlot = h('span', { id: 'campaign-status' }, statusBadge(c.status));
  const actions = h('div', { class: 'btn-row' });
  const actionSlot = h('div', { 'aria-live': 'assertive' });
  const liveSlot = h('div', { id: 'live-figures' }, loading());
  const liveError = h('div', { 'aria-live': 'assertive' });
  const updated = h('p', { class: 'muted small', id: 'live-updated' });
  const chartBox = h('div', { class: 'chart-box' });
  const settlementSlot = h('div', { id: 'settlement' }, loading());
  const settlementTitle = h('h2', { id: 'settlement-title' }, t('settlement.title_live'));
  const progress = h('progress', { id: 'claim-progress', max: String(c.packet_count), value: '0' });
  const sr = h('p', { class: 'sr-only', 'aria-live': 'polite', id: 'live-sr' });
  const drawSlot = h('div', { id: 'draw' }, loading());

  clear(view).append(
    pageHeader(c.name, statusSlot),
    h('dl', { class: 'facts facts-wide' },
      h('div', {}, h('dt', {}, t('campaigns.kind')), h('dd', {}, `${t(`campaign_kind.${c.kind}`)}${c.split ? ` · ${t(`wizard.split_${c.split}`)}` : ''}`)),
      h('div', {}, h('dt', {}, t('campaigns.zones')), h('dd', {}, zoneNames(c.zone_ids, zones))),
      h('div', {}, h('dt', {}, t('wizard.funder')), h('dd', {}, c.funder ? c.funder.name : '—')),
      h('div', {}, h('dt', {}, t('campaigns.budget')), h('dd', {}, yuan(c.budget_fen))),
      h('div', {}, h('dt', {}, c.kind === 'lottery' ? t('wizard.registration_window') : t('campaigns.window')), h('dd', {}, windowOf(c))),
      h('div', {}, h('dt', {}, t('wizard.spend_ends')), h('dd', {}, dateTime(c.windows.spend_ends_at))),
      c.seed_sha256 ? h('div', {}, h('dt', {}, t('campaigns.seed_hash')), h('dd', {}, h('code', { class: 'break' }, c.seed_sha256))) : null),
    actions, actionSlot,
    h('section', { class: 'card', 'aria-labelledby': 'live-title' },
      h('div', { class: 'section-head' }, h('h2', { id: 'live-title' }, t('monitor.title')), updated),
      liveError, liveSlot,
      h('div', { class: 'progress-row' }, h('label', { for: 'claim-progress' }, t('monitor.progress')), progress),
      h('h3', {}, t('monitor.chart_title')), chartBox, sr),
    c.kind === 'lottery' ? h('section', { class: 'card', 'aria-labelledby': 'draw-title' },
      h('h2', { id: 'draw-title' }, t('draw.title')), drawSlot) : '',
    h('section', { class: 'card', 'aria-labelledby': 'settlement-title' }, settlementTitle, settlementSlot));

  let quote = null; // what a cancel would move now, from the latest figures
  let statsSeen = false;

  async function act(btn, fn, doneText) {
    btn.disabled = true;
    clear(actionSlot);
    try {
      const out = await fn();
      if (!out) return; // dismissed
      if (out.status) setStatus(out.status);
      toast(doneText(out));
      await refresh();
    } catch (err) {
      actionSlot.append(errorBanner(err));
    } finally {
      btn.disabled = false;
    }
  }

  function renderActions() {
    clear(actions);
    const s = campaign.status;
    if (s === 'draft') {
      actions.append(h('button', { type: 'button', class: 'btn btn-primary', id: 'monitor-launch',
        onclick: (e) => launch(c, e.currentTarget, actionSlot, ctx) }, t('campaigns.launch')),
      h('a', { class: 'btn', id: 'monitor-edit', href: `#/campaigns/${c.id}/edit` }, t('campaigns.edit')),
      h('button', { type: 'button', class: 'btn btn-danger-outline', id: 'monitor-delete', onclick: (e) => act(e.currentTarget,
        () => confirmDialog({ id: 'delete-dialog', title: t('stop.delete_title', { name: c.name }), danger: true, opener: e.currentTarget,
          body: [h('p', {}, t('stop.delete_intro'))], labelOf: () => t('stop.delete_confirm'),
          run: async () => { await request('DELETE', `/campaigns/${c.id}`); return { deleted: true }; } })
          .then((out) => { if (out) ctx.navigate('#/campaigns'); return null; }), () => '') }, t('stop.delete')));
    }
    if (s === 'live') {
      actions.append(h('button', { type: 'button', class: 'btn', id: 'monitor-pause', onclick: (e) => act(e.currentTarget,
        () => confirmDialog({ id: 'pause-dialog', title: t('stop.pause_title', { name: c.name }), opener: e.currentTarget,
          body: [h('p', {}, t(c.kind === 'lottery' ? 'stop.pause_intro_lottery' : 'stop.pause_intro'))],
          labelOf: () => t('stop.pause_confirm'), run: () => api.post(`/campaigns/${c.id}/pause`) }),
        () => t('stop.paused', { name: c.name })) }, t('stop.pause')));
    }
    if (s === 'paused') {
      actions.append(h('button', { type: 'button', class: 'btn btn-primary', id: 'monitor-resume', onclick: (e) => act(e.currentTarget,
        () => api.post(`/campaigns/${c.id}/resume`), () => t('stop.resumed', { name: c.name })) }, t('stop.resume')));
    }
    if (CANCELLABLE.includes(s) && quote) {
      actions.append(h('button', { type: 'button', class: 'btn btn-danger-outline', id: 'monitor-cancel',
        onclick: async (e) => {
          const btn = e.currentTarget;
          // The dialog names the amounts as of now, not as of the last poll.
          const fresh = await api.get(`/campaigns/${c.id}/stats`).catch(() => null);
          if (fresh?.cancel_quote) quote = fresh.cancel_quote;
          act(btn, () => cancelDialog(campaign, quote, btn), (out) => t('stop.cancelled', { name: c.name, v: yuan(out.cancel.returned_fen) }));
        } }, t('stop.cancel')));
    }
    actions.append(h('a', { class: 'btn btn-ghost', href: '#/campaigns' }, t('campaigns.back_to_list')));
  }

  function setStatus(status) {
    if (status === campaign.status) return;
    campaign = { ...campaign, status };
    clear(statusSlot).append(statusBadge(status));
    sr.textContent = t('monitor.status_now', { status: t(`campaign_status.${status}`) });
    renderActions();
  }

  async function refresh() {
    const [fresh, s] = await Promise.all([api.get(`/campaigns/${id}`), api.get(`/campaigns/${id}/stats`)]);
    if (!ctx.isCurrent()) return;
    campaign = { ...campaign, ...fresh, status: campaign.status };
    renderStats(s);
    setStatus(fresh.status);
    await Promise.all([loadSettlement(), loadDraw()]);
  }

  async function loadDraw() {
    if (c.kind !== 'lottery' || c.status === 'draft') return;
    const d = await api.get(`/campaigns/${id}/draw`);
    if (!ctx.isCurrent()) return;
    clear(drawSlot).append(drawSection(d, async (key) => {
      await api.post(`/campaigns/${id}/draw`, {}, { idempotencyKey: key });
      await loadDraw();
    }));
  }
  renderActions();

  const points = [];
  const chart = makeChart(chartBox, {
    type: 'line',
    data: { labels: [], datasets: [
      { label: t('monitor.claims_per_s'), data: [], borderColor: RED, backgroundColor: 'rgba(200,16,46,0.12)', fill: true,
        pointRadius: 0, tension: 0.25, yAxisID: 'y' },
      { label: t('monitor.remaining_packets'), data: [], borderColor: '#1f3b57', pointRadius: 0, yAxisID: 'y1' },
    ] },
    options: {
      plugins: { legend: { position: 'bottom' } },
      scales: { y: { beginAtZero: true, title: { display: true, text: t('monitor.per_second') } },
        y1: { beginAtZero: true, position: 'right', grid: { drawOnChartArea: false }, ticks: { precision: 0 } } },
    },
  }, t('monitor.chart_label'));
  let timer = null;
  let stopped = false;
  ctx.onCleanup(() => { stopped = true; clearTimeout(timer); chart.destroy(); });

  let last = null;
  let polls = 0;
  let settlementSignature = '';
  let settlementAt = 0;
  let failures = 0;

  function renderStats(s) {
    const perSecond = s.claims_last_10s / 10;
    const tiles = [
      tile(t('monitor.claims_per_s'), ratio(perSecond, 1), t('monitor.last_60s', { n: num(s.claims_last_60s) }), { dataset: { live: 'rate' } }),
      tile(t('monitor.claimed'), `${num(s.claimed_count)} / ${num(s.packet_count)}`, yuan(s.claimed_fen), { dataset: { live: 'claimed' } }),
      tile(t('monitor.remaining_packets'), num(s.remaining_packets), null, { dataset: { live: 'remaining_packets' } }),
      tile(t('monitor.remaining_budget'), yuan(s.remaining_fen), t('monitor.of_budget', { v: yuan(s.budget_fen) }),
        { dataset: { live: 'remaining_fen' } }),
      tile(t('monitor.escrow'), yuan(s.escrow_balance_fen), null, { dataset: { live: 'escrow' } }),
      tile(t('monitor.subsidised'), num(s.subsidised_orders), t('monitor.subsidised_sub', { v: yuan(s.subsidised_volume_fen),
        l: s.leverage === null ? '—' : `${ratio(s.leverage)}×` }), { dataset: { live: 'subsidised' } }),
    ];
    if (s.registrations !== null && s.registrations !== undefined) tiles.push(tile(t('monitor.registrations'), num(s.registrations)));
    if (s.coupons_used !== null && s.coupons_used !== undefined) tiles.push(tile(t('monitor.coupons_used'), num(s.coupons_used)));
    if (s.gate) {
      tiles.push(tile(t('monitor.gate'), s.gate.stopped ? t(`monitor.gate_${s.gate.stopped}`)
        : s.gate.ready ? t('monitor.gate_ready') : t('monitor.gate_not_ready'),
        s.gate.error ? s.gate.error : t('monitor.gate_left', { n: num(s.gate.packets_left ?? 0) }), { dataset: { live: 'gate' } }));
    }
    clear(liveSlot).append(h('div', { class: 'tiles' }, tiles));
    progress.value = s.claimed_count;
    progress.max = s.packet_count;
    progress.textContent = `${s.claimed_count} / ${s.packet_count}`;
    updated.textContent = t('monitor.updated', { time: timeOnly(s.as_of) });
    const hadQuote = Boolean(quote);
    quote = s.cancel_quote || null;
    if (!statsSeen || hadQuote !== Boolean(quote)) renderActions();
    statsSeen = true;
    setStatus(s.status);
    const at = new Date(s.as_of).getTime();
    let rate = perSecond;
    if (last && at > last.at) rate = Math.max(0, (s.claimed_count - last.count) / ((at - last.at) / 1000));
    last = { at, count: s.claimed_count };
    points.push({ label: timeOnly(s.as_of), rate: Math.round(rate * 10) / 10, remaining: s.remaining_packets });
    if (points.length > 120) points.shift();
    chart.data.labels = points.map((p) => p.label);
    chart.data.datasets[0].data = points.map((p) => p.rate);
    chart.data.datasets[1].data = points.map((p) => p.remaining);
    chart.update('none');
  }

  async function loadSettlement() {
    const r = await api.get(`/campaigns/${id}/settlement`);
    if (!ctx.isCurrent()) return;
    settlementTitle.textContent = r.status === 'settled' ? t('settlement.title_final') : t('settlement.title_live');
    clear(settlementSlot);
    if (r.launched === false) { settlementSlot.append(empty(t('settlement.not_launched'), t('settlement.not_launched_hint'))); return; }
    const figures = [
      ['budget_fen', r.budget_fen], ['issued_fen', r.issued_fen], ['claimed_fen', r.claimed_fen],
      ['red_packets_spent_fen', r.red_packets_spent_fen], ['red_packets_refunded_fen', r.red_packets_refunded_fen],
      ['coupons_spent_fen', r.coupons_spent_fen], ['coupons_refunded_fen', r.coupons_refunded_fen],
      ['spent_net_fen', r.spent_net_fen], ['reclaimed_fen', r.reclaimed_fen], ['returned_fen', r.returned_fen],
      ['held_by_campaign_fen', r.held_by_campaign_fen], ['held_by_consumers_fen', r.held_by_consumers_fen],
      ['subsidised_volume_fen', r.subsidised_volume_fen], ['subsidy_net_fen', r.subsidy_net_fen],
    ];
    settlementSlot.append(
      h('p', {}, r.cancelled_at ? badge(t('settlement.cancelled_at', { time: dateTime(r.cancelled_at) }), 'bad') : '',
        r.cancelled_at ? ' ' : '',
        r.status === 'settled' ? badge(t('settlement.settled_at', { time: dateTime(r.settled_at) }), 'ok')
          : badge(t('settlement.not_settled'), 'warn'), ' ',
      r.balanced ? badge(t('settlement.balanced'), 'ok') : badge(t('settlement.unbalanced'), 'bad')),
      h('div', { class: 'tiles' },
        tile(t('settlement.packets_claimed'), `${num(r.packets_claimed)} / ${num(r.packets)}`, yuan(r.packets_claimed_fen),
          { dataset: { settlement: 'packets_claimed' } }),
        tile(t('settlement.returned_fen'), yuan(r.returned_fen), null, { dataset: { settlement: 'returned_fen' } }),
        tile(t('settlement.spent_net_fen'), yuan(r.spent_net_fen), null, { dataset: { settlement: 'spent_net_fen' } }),
        tile(t('settlement.leverage'), r.leverage === null ? '—' : `${ratio(r.leverage)}×`,
          t('settlement.orders', { n: num(r.subsidised_orders) }), { dataset: { settlement: 'leverage' } })),
      h('div', { class: 'grid-2' },
        table({ caption: t('settlement.figures'), columns: [
          { label: t('settlement.figure'), header: true, render: ([k]) => t(`settlement.${k}`) },
          { label: t('settlement.amount'), num: true, render: ([, v]) => yuan(v) }],
        rows: figures, rowAttrs: ([k]) => ({ dataset: { figure: k } }), stack: false }),
        table({ caption: t('settlement.checks'), columns: [
          { label: t('settlement.check'), header: true, render: (x) => checkName(x.name) },
          { label: t('settlement.left'), num: true, render: (x) => (x.name.startsWith('transfers') ? num(x.left_fen) : yuan(x.left_fen)) },
          { label: t('settlement.right'), num: true, render: (x) => (x.name.startsWith('transfers') ? num(x.right_fen) : yuan(x.right_fen)) },
          { label: t('settlement.ok'), render: (x) => (x.ok ? badge('✓', 'ok') : badge('✗', 'bad')) }],
        rows: r.checks, stack: false })));
  }

  async function poll() {
    if (stopped) return;
    try {
      const s = await api.get(`/campaigns/${id}/stats`);
      if (stopped || !ctx.isCurrent()) return;
      failures = 0;
      clear(liveError);
      const statusChanged = s.status !== campaign.status;
      renderStats(s);
      polls += 1;
      // The settlement figures follow the money: reload them when it moved (at most every 1.5 s), or now and then.
      const signature = `${s.status}|${s.claimed_count}|${s.subsidised_orders}|${s.escrow_balance_fen}`;
      const due = signature !== settlementSignature && Date.now() - settlementAt > 1500;
      if (statusChanged || due || polls % 10 === 0) {
        settlementSignature = signature;
        settlementAt = Date.now();
        await Promise.all([loadSettlement(), statusChanged ? loadDraw() : null]);
      }
    } catch (err) {
      if (stopped || !ctx.isCurrent()) return;
      failures += 1;
      clear(liveError).append(errorBanner(err));
    }
    if (stopped) return;
    const active = LIVE_STATUSES.includes(campaign.status);
    const delay = campaign.status === 'settled' ? null : active ? 1000 * Math.min(2 ** failures, 30) : 5000;
    if (delay !== null) timer = setTimeout(poll, delay);
  }

  const settled = loadSettlement().catch((err) => { if (ctx.isCurrent()) clear(settlementSlot).append(errorBanner(err)); });
  loadDraw().catch((err) => { if (ctx.isCurrent()) clear(drawSlot).append(errorBanner(err)); });
  if (c.status === 'draft') {
    clear(liveSlot).append(empty(t('monitor.draft'), t('monitor.draft_hint')));
    await settled;
    return;
  }
  await Promise.all([poll(), settled]);
}
