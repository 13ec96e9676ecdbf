// The console shell: log-in state, role-aware navigation, hash routes, language switch, error display.
import { ApiError, api, session } from './api.js';
import { applyDocumentLang, getLang, setLang, t } from './i18n.js';
import { clear, errorBanner, h, loading, pageHeader } from './ui.js';
import * as login from './pages/login.js';
import * as bank from './pages/bank.js';
import * as zones from './pages/zones.js';
import * as campaigns from './pages/campaigns.js';
import * as office from './pages/office.js';
import * as prepaid from './pages/prepaid.js';
import * as payouts from './pages/payouts.js';
import * as staff from './pages/staff.js';
import * as disputes from './pages/disputes.js';
import * as protection from './pages/protection.js';

import { BANK, ORG, OFFICE, REGULATOR, ZONE } from './roles.js';

// Each route: a pattern, the roles allowed, the page and the nav item it belongs to.
const ROUTES = [
  { path: /^\/review$/, roles: [BANK], page: bank.queue, nav: 'review' },
  { path: /^\/review\/approved$/, roles: [BANK], page: bank.approved, nav: 'approved' },
  { path: /^\/zones$/, roles: [ZONE, OFFICE], page: zones.list, nav: 'zones' },
  { path: /^\/zones\/(\d+)$/, roles: [ZONE, OFFICE], page: zones.dashboard, nav: 'zones', params: ['zoneId'] },
  { path: /^\/campaigns$/, roles: [ZONE, OFFICE], page: campaigns.list, nav: 'campaigns' },
  { path: /^\/campaigns\/new$/, roles: [ZONE, OFFICE], page: campaigns.wizard, nav: 'campaigns' },
  { path: /^\/campaigns\/(\d+)$/, roles: [ZONE, OFFICE], page: campaigns.monitor, nav: 'campaigns', params: ['campaignId'] },
  { path: /^\/campaigns\/(\d+)\/edit$/, roles: [ZONE, OFFICE], page: campaigns.wizard, nav: 'campaigns', params: ['campaignId'] },
  { path: /^\/ranking$/, roles: [OFFICE], page: office.ranking, nav: 'ranking' },
  { path: /^\/summary$/, roles: [OFFICE], page: office.summary, nav: 'summary' },
  { path: /^\/reports$/, roles: [OFFICE], page: office.reports, nav: 'reports' },
  { path: /^\/prepaid\/review$/, roles: [BANK], page: prepaid.review, nav: 'prepaid_review' },
  { path: /^\/prepaid$/, roles: [REGULATOR, OFFICE], page: prepaid.overview, nav: 'prepaid' },
  { path: /^\/prepaid\/merchants\/(\d+)$/, roles: [REGULATOR, OFFICE, BANK], page: prepaid.merchant, nav: 'prepaid',
    params: ['prepaidMerchantId'] },
  // payouts/ (issue #14)
  { path: /^\/payouts$/, roles: [ORG, OFFICE], page: payouts.home, nav: 'payouts' },
  { path: /^\/payouts\/orgs\/(\d+)$/, roles: [ORG, OFFICE], page: payouts.organisation, nav: 'payouts', params: ['orgId'] },
  { path: /^\/payouts\/batches\/(\d+)$/, roles: [ORG, OFFICE], page: payouts.batchPage, nav: 'payouts',
    params: ['batchId'] },
  { path: /^\/payouts\/units$/, roles: [OFFICE], page: payouts.memberUnits, nav: 'member_units' },
  { path: /^\/staff$/, roles: [OFFICE], page: staff.list, nav: 'staff' },
  // protection/ complaints (issue #16 item 3)
  { path: /^\/complaints$/, roles: [BANK, OFFICE], page: disputes.queue, nav: 'complaints' },
  // protection/ (issue #16)
  { path: /^\/protection$/, roles: [BANK, OFFICE], page: protection.emergency, nav: 'protection' },
  { path: /^\/protection\/incidents\/(\d+)$/, roles: [BANK, OFFICE], page: protection.incident, nav: 'protection',
    params: ['incidentId'] },
  { path: /^\/protection\/reports$/, roles: [BANK, OFFICE], page: protection.reports, nav: 'fraud_reports' },
  { path: /^\/protection\/audit$/, roles: [OFFICE], page: protection.audit, nav: 'audit' },
  { path: /^\/protection\/zone-stop$/, roles: [ZONE, OFFICE], page: protection.zoneStop, nav: 'zone_stop' },
];

const NAV = {
  [BANK]: [['review', '#/review'], ['approved', '#/review/approved'], ['prepaid_review', '#/prepaid/review'],
    ['complaints', '#/complaints'], ['protection', '#/protection'], ['fraud_reports', '#/protection/reports']],
  [ZONE]: [['zones', '#/zones'], ['campaigns', '#/campaigns'], ['zone_stop', '#/protection/zone-stop']],
  [OFFICE]: [['ranking', '#/ranking'], ['summary', '#/summary'], ['reports', '#/reports'], ['zones', '#/zones'],
    ['campaigns', '#/campaigns'], ['prepaid', '#/prepaid'], ['payouts', '#/payouts'], ['member_units', '#/payouts/units'],
    ['complaints', '#/complaints'], ['protection', '#/protection'], ['fraud_reports', '#/protection/reports'],
    ['audit', '#/protection/audit'], ['zone_stop', '#/protection/zone-stop'], ['staff', '#/staff']],
  [REGULATOR]: [['prepaid', '#/prepaid']],
  [ORG]: [['payouts', '#/payouts']],
};

const HOME = { [BANK]: '#/review', [ZONE]: '#/zones', [OFFICE]: '#/ranking', [REGULATOR]: '#/prepaid', [ORG]: '#/payouts' };

export function homeOf(user) { return (user && HOME[user.role]) || '#/login'; }

let cleanups = [];
let renderSeq = 0;
let pendingNotice = null;

function runCleanups() {
  for (const fn of cleanups) { try { fn(); } catch { /* a page's cleanup must not stop the next page */ } }
  cleanups = [];
}

function currentPath() {
  const hash = window.location.hash.replace(/^#/, '');
  return hash || '/';
}

export function navigate(hash) {
  if (window.location.hash === hash) route();
  else window.location.hash = hash;
}

/** A message to show once on the next page (e.g. "your session expired" on the log-in page). */
export function noticeNext(err) { pendingNotice = err; }

function renderChrome(user, navKey) {
  document.getElementById('brand-name').textContent = t('app.brand');
  document.getElementById('brand-sub').textContent = t('app.subtitle');
  document.getElementById('skip-link').textContent = t('app.skip');
  document.title = `${t('app.brand')} · ${t('app.subtitle')}`;
  const langBtn = document.getElementById('lang-switch');
  const other = getLang() === 'zh' ? 'en' : 'zh';
  langBtn.textContent = other === 'en' ? 'English' : '中文';
  langBtn.setAttribute('lang', other === 'en' ? 'en' : 'zh-CN');
  langBtn.setAttribute('aria-label', t('app.switch_language'));
  const who = document.getElementById('who');
  const logoutBtn = document.getElementById('logout');
  const nav = document.getElementById('nav');
  logoutBtn.textContent = t('app.logout');
  clear(nav);
  if (user) {
    who.hidden = false;
    who.textContent = `${user.display_name || user.phone} · ${t(`role.${user.role}`)}`;
    logoutBtn.hidden = false;
    nav.hidden = false;
    nav.setAttribute('aria-label', t('app.nav'));
    nav.append(h('ul', {}, (NAV[user.role] || []).map(([key, href]) => h('li', {},
      h('a', { href, 'aria-current': key === navKey ? 'page' : null, dataset: { nav: key } }, t(`nav.${key}`))))));
  } else {
    who.hidden = true;
    logoutBtn.hidden = true;
    nav.hidden = true;
  }
}

async function route() {
  const seq = ++renderSeq;
  runCleanups();
  const view = document.getElementById('view');
  const banner = document.getElementById('banner');
  clear(banner);
  const path = currentPath();
  const user = session.user;
  if (!session.token || !user) {
    renderChrome(null);
    if (path !== '/login') { window.location.replace('#/login'); return; }
  }
  if (path === '/login') {
    if (session.token && user) { window.location.replace(homeOf(user)); return; }
    renderChrome(null);
    clear(view);
    const notice = pendingNotice;
    pendingNotice = null;
    await login.render({ view, notice, onLoggedIn: (u) => navigate(homeOf(u)) });
    return;
  }
  if (path === '/') { window.location.replace(homeOf(user)); return; }
  let match = null;
  let found;
  for (const r of ROUTES) {
    match = r.path.exec(path);
    if (match) { found = r; break; }
  }
  renderChrome(user, found && found.nav);
  clear(view);
  if (!found) {
    view.append(pageHeader(t('app.not_found')), h('p', {}, t('app.not_found_hint')),
      h('p', {}, h('a', { href: homeOf(user) }, t('app.go_home'))));
    focusTitle();
    return;
  }
  if (!found.roles.includes(user.role)) {
    view.append(pageHeader(t('app.no_access')), h('div', { class: 'banner banner-error', role: 'alert' },
      h('p', { class: 'banner-title' }, t('app.no_access_hint', { role: t(`role.${user.role}`) }))),
    h('p', {}, h('a', { href: homeOf(user) }, t('app.go_home'))));
    focusTitle();
    return;
  }
  const params = {};
  (found.params || []).forEach((name, i) => { params[name] = Number(match[i + 1]); });
  view.append(loading());
  const ctx = {
    view, params, user, banner,
    isCurrent: () => seq === renderSeq,
    onCleanup: (fn) => cleanups.push(fn),
    navigate,
  };
  try {
    await found.page(ctx);
  } catch (err) {
    // A refusal of the API is shown to the person; anything else is a bug of the console: report it too.
    if (!(err instanceof ApiError)) console.error(err);
    if (seq !== renderSeq) return;
    clear(view).append(pageHeader(t('app.page_failed')), errorBanner(err, { onRetry: () => route() }));
  }
  if (seq === renderSeq) focusTitle();
}

let firstRender = true;
function focusTitle() {
  // Move focus to the page's heading after navigation, so keyboard and screen-reader users start there.
  if (firstRender) { firstRender = false; return; }
  const title = document.getElementById('page-title');
  if (title) title.focus({ preventScroll: false });
}

async function logout() {
  try { await api.post('/auth/logout'); } catch { /* the token is dropped either way */ }
  session.clear();
  navigate('#/login');
}

function start() {
  applyDocumentLang();
  if (window.Chart) {
    window.Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
    window.Chart.defaults.color = '#3d4451';
  }
  document.getElementById('lang-switch').addEventListener('click', () => setLang(getLang() === 'zh' ? 'en' : 'zh'));
  document.getElementById('logout').addEventListener('click', logout);
  window.addEventListener('suiyuan:lang', () => route());
  window.addEventListener('hashchange', () => route());
  window.addEventListener('suiyuan:unauthorized', (e) => {
    session.clear();
    noticeNext(e.detail);
    navigate('#/login');
  });
  route();
}

start();
