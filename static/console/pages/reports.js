// A zone's periodic reports (weekly / monthly, PDF + CSV): list, build one now, download.
import { api } from '../api.js';
import { dateTime, localDay } from '../format.js';
import { nameOf, t } from '../i18n.js';
import { badge, clear, clearFormError, empty, field, h, loading, section, showFormError, table, toast } from '../ui.js';

/** Monday of the last finished week, or the 1st of the last finished month, in Beijing time. */
export function lastFinishedStart(period) {
  const today = new Date(`${localDay(0)}T00:00:00Z`);
  if (period === 'monthly') {
    const d = new Date(Date.UTC(today.getUTCFullYear(), today.getUTCMonth() - 1, 1));
    return d.toISOString().slice(0, 10);
  }
  const weekday = (today.getUTCDay() + 6) % 7; // Monday = 0
  const d = new Date(today.getTime() - (weekday + 7) * 86400000);
  return d.toISOString().slice(0, 10);
}

function apiPath(url) {
  // The API gives download links as absolute paths; the client adds /api/v1 itself.
  const u = new URL(url, window.location.origin);
  return { path: u.pathname.replace(/^\/api\/v1/, ''), query: Object.fromEntries(u.searchParams) };
}

const STATUS_KIND = { ready: 'ok', pending: 'warn', failed: 'bad' };

export async function reportsPanel(ctx, slot, zone) {
  const listSlot = h('div', {}, loading());
  const formSlot = h('div', { class: 'form-errors', 'aria-live': 'assertive' });
  const period = h('select', { id: `report-period-${zone.id}`, dataset: { field: 'period' } },
    h('option', { value: 'weekly' }, t('reports.weekly')), h('option', { value: 'monthly' }, t('reports.monthly')));
  const start = h('input', { id: `report-start-${zone.id}`, type: 'date', value: lastFinishedStart('weekly'),
    max: localDay(0), dataset: { field: 'start' } });
  period.addEventListener('change', () => { start.value = lastFinishedStart(period.value); });
  const build = h('button', { type: 'submit', class: 'btn btn-primary', id: `report-build-${zone.id}` }, t('reports.build'));
  const form = h('form', { class: 'inline-form', novalidate: true },
    field(t('reports.period'), period), field(t('reports.start'), start, t('reports.start_hint')), build);
  let pollTimer = null;
  ctx.onCleanup(() => clearTimeout(pollTimer));

  async function download(report, format, btn) {
    btn.disabled = true;
    try {
      const { path, query } = apiPath(report.downloads[format]);
      const name = await api.download(path, query, `zone-${zone.code}-${report.period}-${report.start}.${format}`);
      toast(t('reports.downloaded', { name }));
    } catch (err) {
      showFormError(form, formSlot, err);
    } finally {
      btn.disabled = false;
    }
  }

  async function load() {
    const page = await api.get(`/zones/${zone.id}/reports`, { limit: 20 });
    if (!ctx.isCurrent()) return;
    clear(listSlot);
    if (!page.items.length) {
      listSlot.append(empty(t('reports.none'), t('reports.none_hint')));
    } else {
      listSlot.append(table({
        caption: t('reports.list', { zone: nameOf(zone) }),
        columns: [
          { label: t('reports.period'), header: true, render: (r) => t(`reports.${r.period}`) },
          { label: t('reports.range'), render: (r) => `${r.start} – ${r.end}` },
          { label: t('reports.status'), render: (r) => h('span', {}, badge(t(`reports.status_${r.status}`), STATUS_KIND[r.status]),
            r.error ? h('span', { class: 'small muted', lang: 'en' }, ` ${r.error}`) : null) },
          { label: t('reports.kind'), render: (r) => (r.scheduled ? t('reports.scheduled') : t('reports.on_demand')) },
          { label: t('reports.built_at'), render: (r) => dateTime(r.built_at) },
          { label: t('reports.download'), render: (r) => (r.downloads ? h('span', { class: 'btn-row' },
            h('button', { type: 'button', class: 'btn btn-small', dataset: { download: 'pdf', report: r.id },
              onclick: (e) => download(r, 'pdf', e.currentTarget) }, 'PDF'),
            h('button', { type: 'button', class: 'btn btn-small', dataset: { download: 'csv', report: r.id },
              onclick: (e) => download(r, 'csv', e.currentTarget) }, 'CSV')) : '—') },
        ],
        rows: page.items,
        rowAttrs: (r) => ({ dataset: { reportRow: r.id, status: r.status } }),
      }));
    }
    if (page.items.some((r) => r.status === 'pending')) {
      clearTimeout(pollTimer);
      pollTimer = setTimeout(() => load().catch((err) => showFormError(form, formSlot, err)), 2000);
    }
  }

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearFormError(form, formSlot);
    build.disabled = true;
    try {
      const r = await api.post(`/zones/${zone.id}/reports`, { period: period.value, start: start.value });
      toast(r.status === 'ready' ? t('reports.ready') : t('reports.building'));
      await load();
    } catch (err) {
      showFormError(form, formSlot, err);
    } finally {
      build.disabled = false;
    }
  });

  clear(slot).append(section(t('reports.title', { zone: nameOf(zone) }), h('p', { class: 'muted small' }, t('reports.intro')),
    formSlot, form, listSlot));
  await load();
}
