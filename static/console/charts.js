// Chart.js (vendored, window.Chart) and Leaflet (vendored, window.L) set up the console's way.
import { SCENARIOS, scenarioLabel, t } from './i18n.js';

export const RED = '#c8102e';
export const INK = '#3d4451';
export const GRID = '#e6e8ec';
export const SCENARIO_COLORS = {
  food: '#c8102e', lodging: '#7b4fc9', transport: '#1f77b4', tourism: '#2a9d57', shopping: '#e07b00',
  entertainment: '#d63384', medical: '#0f8b8d',
};

function ChartLib() {
  if (!window.Chart) throw new Error(t('err.chart_missing'));
  return window.Chart;
}

/** A chart on a new canvas inside `box` (which sets its size); returns the Chart (call .destroy() when done).
 * With `emptyText`, data that is all zero shows that sentence instead of blank axes (or a 0–1 axis). */
export function makeChart(box, config, label, { emptyText } = {}) {
  const values = config.data.datasets.flatMap((d) => d.data);
  if (emptyText && !values.some((v) => Number(v) !== 0 && v !== null && v !== undefined)) {
    box.classList.add('chart-empty');
    box.append(Object.assign(document.createElement('p'), { className: 'chart-empty-text', textContent: emptyText }));
    return { destroy() {}, update() {} };
  }
  const canvas = document.createElement('canvas');
  canvas.setAttribute('role', 'img');
  canvas.setAttribute('aria-label', label);
  box.append(canvas);
  const Chart = ChartLib();
  return new Chart(canvas, {
    ...config,
    options: {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      ...config.options,
    },
  });
}

/** A Leaflet map with no tile layer (the console works offline): the zone outline and merchant dots. */
export function zoneMap(box, outline, merchants, { onMerchant } = {}) {
  const L = window.L;
  if (!L) throw new Error(t('err.map_missing'));
  const map = L.map(box, { zoomSnap: 0.25, scrollWheelZoom: false, attributionControl: true });
  map.attributionControl.setPrefix('Leaflet');
  // The view is set before any layer is added (Leaflet clips vector layers against the view).
  const shape = L.geoJSON(outline, {
    style: { color: RED, weight: 2.5, fillColor: RED, fillOpacity: 0.07 },
    interactive: false,
  });
  const bounds = L.latLngBounds([]);
  if (outline) bounds.extend(shape.getBounds());
  for (const m of merchants) bounds.extend(L.latLng(m.latitude, m.longitude));
  if (bounds.isValid()) map.fitBounds(bounds, { padding: [24, 24] });
  else map.setView([23.13, 113.26], 11);
  shape.addTo(map);
  for (const m of merchants) {
    const marker = L.circleMarker([m.latitude, m.longitude], {
      radius: 7, color: '#fff', weight: 2, fillColor: SCENARIO_COLORS[m.scenario] || INK, fillOpacity: 0.95,
    }).addTo(map);
    marker.bindTooltip(`${m.name_zh} · ${m.name_en} (${m.scenario_zh})`);
    if (onMerchant) marker.on('click', () => onMerchant(m));
  }
  return map;
}

export function scenarioLegend() {
  const ul = document.createElement('ul');
  ul.className = 'legend';
  for (const s of SCENARIOS) {
    const li = document.createElement('li');
    const dot = document.createElement('span');
    dot.className = 'legend-dot';
    dot.style.background = SCENARIO_COLORS[s];
    li.append(dot, scenarioLabel(s));
    ul.append(li);
  }
  return ul;
}
