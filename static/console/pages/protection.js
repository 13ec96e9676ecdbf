// Consumer protection and emergency response (issue #16). For the pilot office and bank reviewers: freezes
// of wallets, merchants and pay-code devices (list, freeze, lift), the platform's read-only switch (pilot
// office), incidents with their timeline, the fraud registry's review (confirm or reject reported codes,
// merchants, wallets, phone numbers, web addresses) and the audit log's search and CSV export (pilot office).
// For zone managers and the pilot office: the zone-wide stop of every running campaign (the campaigns
// plug-in's own endpoint). Every action takes a reason and is in the audit log.
// The plug-in's strings live in locales/protection.<lang>.json.
import { ApiError, api } from '../api.js';
import { dateTime } from '../format.js';
import { extend, has, nameOf, t } from '../i18n.js';
import {
  badge, clear, clearFormError, empty, errorBanner, field, h, pageHeader, section, showFormError, table, toast,
} from '../ui.js';
import zh from '../locales/protection.zh.json' with { type: 'json' };
import en from '../locales/protection.en.json' with { type: 'json' };

extend({ zh, en });

const P = '/protection';
const OFFICE = 'pilot_admin';
const TARGETS = ['wallet', 'merchant', 'device'];
const KINDS = ['fraud_wave', 'counterfeit_codes', 'account_takeover', 'ledger_mismatch', 'outage', 'data_leak', 'other'];
const SEVERITIES = ['low', 'medium', 'high', 'critical'];
const SEVERITY_KIND = { low: 'neutral', medium: 'warn', high: 'bad', critical: 'bad' };
const INCIDENT_KIND = { detected: 'bad', contained: 'warn', resolved: 'ok' };
const ENTRY_KIND = { pending: 'warn', confirmed: 'bad', rejected: 'neutral', withdrawn: 'neutral' };

const show = (view, ...parts) => clear(view).append(...parts.filter((p) => p !== null && p !== undefined));
const label = (prefix, v) => (has(`${prefix}.${v}`) ? t(`${prefix}.${v}`) : v);
const select = (id, fieldName, values, prefix, extra = {}) => h('select', { id, dataset: { field: fieldName }, ...extra },
  values.map((v) => h('option', { value: v }, label(prefix, v))));
const reasonInput = (id, fieldName = 'reason') => h('input', { id, type: 'text', maxlength: '500', dataset: { field: fieldName },
  autocomplete: 'off' });

/** A form that posts and shows refusals next to its fields; `send` returns the promise of the call. */
function actionForm({ id, fields, submitLabel, danger = false, send, done }) {
  const slot = h('div', { class: 'form-errors' });
  const submit = h('button', { type: 'submit', class: danger ? 'btn btn-danger' : 'btn btn-primary', id: `${id}-submit` },
    submitLabel);
  const form = h('form', { id, class: 'stack-form', novalidate: true }, slot, ...fields, h('div', { class: 'form-actions' }, submit));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearFormError(form, slot);
    submit.disabled = true;
    try {
      await done(await send());
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      showFormError(form, slot, err);
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

/** A dialog asking for a reason before `send(reason)`; resolves with its answer, or null when cancelled. */
function reasonDialog({ title, text, confirmLabel, danger = false, send, opener }) {
  return new Promise((resolve) => {
    const reason = reasonInput('dialog-reason');
    const cancel = h('button', { type: 'button', class: 'btn btn-ghost', id: 'dialog-cancel' }, t('common.cancel'));
    let result = null;
    const dlg = h('dialog', { class: 'dialog', 'aria-labelledby': 'dialog-title' }, h('h2', { id: 'dialog-title' }, title),
      text ? h('p', {}, text) : null);
    const form = actionForm({ id: 'dialog-form', fields: [field(t('protection.reason'), reason, t('protection.reason_hint'))],
      submitLabel: confirmLabel, danger, send: () => send(reason.value),
      done: (body) => { result = body; dlg.close(); } });
    form.querySelector('.form-actions').prepend(cancel);
    dlg.append(form);
    cancel.addEventListener('click', () => dlg.close());
    dlg.addEventListener('close', () => { dlg.remove(); opener?.focus(); resolve(result); });
    document.body.append(dlg);
    dlg.showModal();
    reason.focus();
  });
}

// ---------------------------------------------------------------- emergency: switch, freezes, incidents

function readOnlyCard(ctx, state) {
  const on = state.read_only;
  const btn = h('button', { type: 'button', class: on ? 'btn btn-primary' : 'btn btn-danger', id: 'read-only-toggle' },
    on ? t('protection.read_only_off') : t('protection.read_only_on'));
  btn.addEventListener('click', async () => {
    const done = await reasonDialog({
      title: on ? t('protection.read_only_off') : t('protection.read_only_on'),
      text: on ? t('protection.read_only_off_text') : t('protection.read_only_on_text'),
      confirmLabel: on ? t('protection.read_only_off') : t('protection.read_only_on'), danger: !on, opener: btn,
      send: (reason) => api.put(`${P}/read-only`, { read_only: !on, reason }) });
    if (done) { toast(done.read_only ? t('protection.read_only_is_on') : t('protection.read_only_is_off')); ctx.navigate('#/protection'); }
  });
  return section(t('protection.read_only'),
    h('p', { id: 'read-only-state' }, on ? badge(t('protection.read_only_is_on'), 'bad') : badge(t('protection.read_only_is_off'), 'ok'),
      on && state.since ? ` ${t('protection.since', { at: dateTime(state.since) })}` : ''),
    h('p', { class: 'muted' }, t('protection.read_only_hint')),
    ctx.user.role === OFFICE ? btn : h('p', { class: 'muted' }, t('protection.read_only_office_only')));
}

function freezesCard(ctx, freezes) {
  const kind = select('freeze-kind', 'target_kind', TARGETS, 'protection.target');
  const target = h('input', { id: 'freeze-target', type: 'number', min: '1', inputmode: 'numeric', dataset: { field: 'target_id' } });
  const reason = reasonInput('freeze-reason');
  const form = actionForm({
    id: 'freeze-form', danger: true, submitLabel: t('protection.freeze'),
    fields: [h('div', { class: 'form-grid' }, field(t('protection.target_kind'), kind), field(t('protection.target_id'), target)),
      field(t('protection.reason'), reason, t('protection.reason_hint'))],
    send: () => api.post(`${P}/freezes`, { target_kind: kind.value, target_id: Number(target.value) || 0, reason: reason.value }),
    done: (f) => { toast(t('protection.frozen_msg', { target: `${label('protection.target', f.target_kind)} #${f.target_id}` })); ctx.navigate('#/protection'); },
  });
  const rows = freezes.items;
  const list = rows.length ? table({
    caption: t('protection.freezes'),
    columns: [
      { label: t('protection.target_kind'), header: true, render: (f) => `${label('protection.target', f.target_kind)} #${f.target_id}` },
      { label: t('protection.reason'), key: 'reason' },
      { label: t('protection.frozen_at'), render: (f) => dateTime(f.frozen_at) },
      { label: t('protection.state'), render: (f) => (f.active ? badge(t('protection.active'), 'bad')
        : badge(t('protection.lifted'), 'neutral')) },
      { label: t('common.actions'), render: (f) => {
        if (!f.active) return f.lift_reason || '';
        const btn = h('button', { type: 'button', class: 'btn btn-small', dataset: { lift: f.id } }, t('protection.lift'));
        btn.addEventListener('click', async () => {
          const done = await reasonDialog({ title: t('protection.lift_title', { target: `${label('protection.target', f.target_kind)} #${f.target_id}` }),
            confirmLabel: t('protection.lift'), opener: btn, send: (r) => api.post(`${P}/freezes/${f.id}/lift`, { reason: r }) });
          if (done) { toast(t('protection.lifted_msg')); ctx.navigate('#/protection'); }
        });
        return btn;
      } },
    ],
    rows, rowAttrs: (f) => ({ dataset: { freeze: f.id } }),
  }) : empty(t('protection.no_freezes'));
  return section(t('protection.freezes'), h('p', { class: 'muted' }, t('protection.freezes_hint')), form, list);
}

function incidentsCard(ctx, incidents) {
  const title = h('input', { id: 'incident-title', type: 'text', maxlength: '120', dataset: { field: 'title' } });
  const kind = select('incident-kind', 'kind', KINDS, 'protection.incident_kind');
  const severity = select('incident-severity', 'severity', SEVERITIES, 'protection.severity');
  const note = h('textarea', { id: 'incident-note', rows: '2', maxlength: '2000', dataset: { field: 'note' } });
  const form = actionForm({
    id: 'incident-form', submitLabel: t('protection.open_incident'),
    fields: [field(t('protection.incident_title'), title),
      h('div', { class: 'form-grid' }, field(t('protection.incident_kind_label'), kind), field(t('protection.severity_label'), severity)),
      field(t('protection.incident_note'), note)],
    send: () => api.post(`${P}/incidents`, { title: title.value, kind: kind.value, severity: severity.value, note: note.value }),
    done: (i) => ctx.navigate(`#/protection/incidents/${i.id}`),
  });
  const list = incidents.items.length ? table({
    caption: t('protection.incidents'),
    columns: [
      { label: t('protection.incident_title'), header: true, render: (i) => h('a', { href: `#/protection/incidents/${i.id}` }, i.title) },
      { label: t('protection.incident_kind_label'), render: (i) => label('protection.incident_kind', i.kind) },
      { label: t('protection.severity_label'), render: (i) => badge(label('protection.severity', i.severity), SEVERITY_KIND[i.severity]) },
      { label: t('protection.state'), render: (i) => badge(label('protection.incident_status', i.status), INCIDENT_KIND[i.status]) },
      { label: t('protection.detected_at'), render: (i) => dateTime(i.detected_at) },
    ],
    rows: incidents.items, rowAttrs: (i) => ({ dataset: { incident: i.id } }),
  }) : empty(t('protection.no_incidents'));
  return section(t('protection.incidents'), list, h('details', { class: 'form-details' },
    h('summary', {}, t('protection.open_incident')), form));
}

export async function emergency(ctx) {
  const [state, freezes, incidents] = await Promise.all([api.get(`${P}/status`), api.get(`${P}/freezes`, { limit: 50 }),
    api.get(`${P}/incidents`, { limit: 50 })]);
  if (!ctx.isCurrent()) return;
  show(ctx.view, pageHeader(t('protection.title')),
    h('p', { class: 'muted' }, ctx.user.role === OFFICE ? t('protection.intro_office') : t('protection.intro_bank')),
    readOnlyCard(ctx, state), freezesCard(ctx, freezes), incidentsCard(ctx, incidents));
}

export async function incident(ctx) {
  const i = await api.get(`${P}/incidents/${ctx.params.incidentId}`);
  if (!ctx.isCurrent()) return;
  const next = { detected: ['contained', 'resolved'], contained: ['resolved'], resolved: [] }[i.status];
  const status = select('event-status', 'status', ['note', ...next], 'protection.move_to');
  const note = h('textarea', { id: 'event-note', rows: '2', maxlength: '2000', dataset: { field: 'note' } });
  const form = actionForm({
    id: 'event-form', submitLabel: t('protection.add_event'),
    fields: [field(t('protection.move_to_label'), status), field(t('protection.incident_note'), note)],
    send: () => api.post(`${P}/incidents/${i.id}/events`, { status: status.value === 'note' ? null : status.value, note: note.value }),
    done: () => { toast(t('protection.event_added')); ctx.navigate(`#/protection/incidents/${i.id}`); },
  });
  const timeline = h('ol', { class: 'timeline', id: 'incident-timeline' }, i.timeline.map((e) => h('li', {},
    h('p', {}, h('strong', {}, e.status ? label('protection.incident_status', e.status) : t('protection.note')),
      ` · ${dateTime(e.at)} · ${t('protection.by_user', { id: e.user_id })}`),
    h('p', {}, e.note))));
  show(ctx.view, pageHeader(i.title, h('a', { class: 'btn btn-ghost', href: '#/protection' }, t('protection.back'))),
    h('p', {}, badge(label('protection.incident_status', i.status), INCIDENT_KIND[i.status]), ' ',
      badge(label('protection.severity', i.severity), SEVERITY_KIND[i.severity]), ' ', label('protection.incident_kind', i.kind)),
    section(t('protection.timeline'), timeline),
    i.status !== 'resolved' ? section(t('protection.add_event'), form) : null);
}

// ---------------------------------------------------------------- fraud registry review

export async function reports(ctx) {
  const stateSel = select('reports-status', 'status', ['pending', 'confirmed', 'rejected', 'withdrawn'], 'protection.entry_status');
  const out = h('div', { id: 'reports-list' });
  async function load() {
    const entries = await api.get(`${P}/reports`, { status: stateSel.value, limit: 100 });
    if (!ctx.isCurrent()) return;
    const decide = (e, decision, btn) => async () => {
      const done = await reasonDialog({ title: t(`protection.decision_${decision}_title`), text: `${label('protection.fraud_kind', e.kind)} · ${e.value}`,
        confirmLabel: t(`protection.decision.${decision}`), danger: decision === 'confirm', opener: btn,
        send: (r) => api.post(`${P}/reports/${e.id}/review`, { decision, reason: r }) });
      if (done) { toast(t('protection.reviewed_msg', { status: label('protection.entry_status', done.status) })); load(); }
    };
    const allowed = { pending: ['confirm', 'reject'], rejected: ['confirm'], confirmed: ['withdraw'], withdrawn: ['confirm'] };
    clear(out).append(entries.items.length ? table({
      caption: t('protection.reports'),
      columns: [
        { label: t('protection.fraud_kind_label'), header: true, render: (e) => label('protection.fraud_kind', e.kind) },
        { label: t('protection.value'), render: (e) => h('code', { class: 'break' }, e.value) },
        { label: t('protection.report_count'), num: true, key: 'report_count' },
        { label: t('protection.first_reported'), render: (e) => dateTime(e.first_reported_at) },
        { label: t('protection.state'), render: (e) => badge(label('protection.entry_status', e.status), ENTRY_KIND[e.status]) },
        { label: t('common.actions'), render: (e) => h('div', { class: 'btn-row' }, (allowed[e.status] || []).map((d) => {
          const btn = h('button', { type: 'button', class: d === 'confirm' ? 'btn btn-small btn-danger-outline' : 'btn btn-small',
            dataset: { review: e.id, decision: d } }, t(`protection.decision.${d}`));
          btn.addEventListener('click', decide(e, d, btn));
          return btn;
        })) },
      ],
      rows: entries.items, rowAttrs: (e) => ({ dataset: { entry: e.id } }),
    }) : empty(t('protection.no_reports')));
  }
  stateSel.addEventListener('change', load);
  show(ctx.view, pageHeader(t('protection.reports')), h('p', { class: 'muted' }, t('protection.reports_intro')),
    h('div', { class: 'filters' }, field(t('protection.state'), stateSel)), out);
  await load();
}

// ---------------------------------------------------------------- audit log

export async function audit(ctx) {
  const action = h('input', { id: 'audit-action', type: 'text', list: 'audit-actions', dataset: { field: 'action' } });
  const actions = h('datalist', { id: 'audit-actions' }, ['freeze', 'unfreeze', 'read_only_on', 'read_only_off', 'identity_lookup',
    'incident_open', 'fraud_confirm', 'fraud_reject', 'zone_campaigns_stop', 'zone_campaigns_resume'].map((a) => h('option', { value: a })));
  const actor = h('input', { id: 'audit-actor', type: 'number', min: '1', dataset: { field: 'actor_user_id' } });
  const targetKind = h('input', { id: 'audit-target-kind', type: 'text', dataset: { field: 'target_kind' } });
  const out = h('div', { id: 'audit-list' });
  const query = () => Object.fromEntries(Object.entries({ action: action.value.trim(), actor_user_id: actor.value,
    target_kind: targetKind.value.trim() }).filter(([, v]) => v));
  const exportBtn = h('button', { type: 'button', class: 'btn', id: 'audit-export' }, t('protection.export_csv'));
  exportBtn.addEventListener('click', async () => {
    exportBtn.disabled = true;
    try { toast(t('reports.downloaded', { name: await api.download(`${P}/audit.csv`, { ...query(), limit: 100 }, 'suiyuan-audit.csv') })); }
    catch (err) { clear(ctx.banner).append(errorBanner(err)); }
    finally { exportBtn.disabled = false; }
  });
  async function load() {
    const rows = (await api.get(`${P}/audit`, { ...query(), limit: 100 })).items;
    if (!ctx.isCurrent()) return;
    clear(out).append(rows.length ? table({
      caption: t('protection.audit'),
      columns: [
        { label: t('protection.at'), header: true, render: (e) => dateTime(e.at) },
        { label: t('protection.action'), render: (e) => label('protection.audit_action', e.action) },
        { label: t('protection.actor'), render: (e) => `#${e.actor_user_id ?? '—'} ${e.actor_role ? t(`role.${e.actor_role}`) : ''}` },
        { label: t('protection.target'), render: (e) => (e.target_kind ? `${e.target_kind} #${e.target_id}` : '—') },
        { label: t('protection.reason'), render: (e) => e.reason || '—' },
      ],
      rows, rowAttrs: (e) => ({ dataset: { audit: e.id } }),
    }) : empty(t('protection.no_audit')));
  }
  const form = h('form', { id: 'audit-form', class: 'filters', novalidate: true },
    field(t('protection.action'), action), actions, field(t('protection.actor_id'), actor), field(t('protection.target_kind'), targetKind),
    h('div', { class: 'form-actions' }, h('button', { type: 'submit', class: 'btn btn-primary', id: 'audit-search' }, t('protection.search')), exportBtn));
  form.addEventListener('submit', (e) => { e.preventDefault(); load(); });
  show(ctx.view, pageHeader(t('protection.audit')), h('p', { class: 'muted' }, t('protection.audit_intro')), form, out);
  await load();
}

// ---------------------------------------------------------------- zone-wide campaign stop

export async function zoneStop(ctx) {
  const [zones, stops] = await Promise.all([api.get('/zones', { managed: true }), api.get('/campaigns/zone-stops')]);
  if (!ctx.isCurrent()) return;
  const byId = Object.fromEntries(zones.map((z) => [z.id, z]));
  const zoneName = (id) => (byId[id] ? nameOf(byId[id]) : `#${id}`);
  const active = new Set(stops.items.filter((s) => s.active).map((s) => s.zone_id));
  const open = zones.filter((z) => !active.has(z.id));
  const zoneSel = h('select', { id: 'stop-zone', dataset: { field: 'zone_id' } },
    h('option', { value: '', selected: open.length !== 1 ? true : null }, t('protection.choose_zone')),
    zones.map((z) => h('option', { value: z.id, disabled: active.has(z.id) ? true : null,
      selected: open.length === 1 && open[0].id === z.id ? true : null },
    active.has(z.id) ? `${nameOf(z)} · ${t('protection.zone_stopped')}` : nameOf(z))));
  const reason = reasonInput('stop-reason');
  const form = actionForm({
    id: 'zone-stop-form', danger: true, submitLabel: t('protection.zone_stop'),
    fields: [field(t('protection.zone'), zoneSel), field(t('protection.reason'), reason, t('protection.zone_stop_hint'))],
    send: () => api.post('/campaigns/zone-stops', { zone_id: Number(zoneSel.value) || 0, reason: reason.value }),
    done: (s) => { toast(t('protection.zone_stopped_msg', { zone: zoneName(s.zone_id), n: s.changed_campaign_ids.length })); ctx.navigate('#/protection/zone-stop'); },
  });
  const list = stops.items.length ? table({
    caption: t('protection.zone_stops'),
    columns: [
      { label: t('protection.zone'), header: true, render: (s) => zoneName(s.zone_id) },
      { label: t('protection.reason'), key: 'reason' },
      { label: t('protection.stopped_at'), render: (s) => dateTime(s.stopped_at) },
      { label: t('protection.campaigns_paused'), num: true, render: (s) => String(s.campaign_ids.length) },
      { label: t('protection.state'), render: (s) => (s.active ? badge(t('protection.zone_stopped'), 'bad')
        : badge(t('protection.zone_resumed', { at: dateTime(s.resumed_at) }), 'neutral')) },
      { label: t('common.actions'), render: (s) => {
        if (!s.active) return s.resume_reason || '';
        const btn = h('button', { type: 'button', class: 'btn btn-small btn-primary', dataset: { resume: s.id } }, t('protection.zone_resume'));
        btn.addEventListener('click', async () => {
          const done = await reasonDialog({ title: t('protection.zone_resume_title', { zone: zoneName(s.zone_id) }),
            confirmLabel: t('protection.zone_resume'), opener: btn,
            send: (r) => api.post(`/campaigns/zone-stops/${s.id}/resume`, { reason: r }) });
          if (done) { toast(t('protection.zone_resumed_msg', { n: done.changed_campaign_ids.length })); ctx.navigate('#/protection/zone-stop'); }
        });
        return btn;
      } },
    ],
    rows: stops.items, rowAttrs: (s) => ({ dataset: { stop: s.id } }),
  }) : empty(t('protection.no_zone_stops'));
  show(ctx.view, pageHeader(t('protection.zone_stop_title')), h('p', { class: 'muted' }, t('protection.zone_stop_intro')),
    section(t('protection.zone_stop'), form), section(t('protection.zone_stops'), list));
}
