// The API client: every call goes to /api/v1 with the bearer token of this tab's session.
// Errors come back as ApiError carrying the problem+json fields (status, code, title, detail, errors).

import { getLang } from './i18n.js';

const BASE = '/api/v1';
const TOKEN_KEY = 'suiyuan.console.token';
const USER_KEY = 'suiyuan.console.user';
const REFRESH_KEY = 'suiyuan.console.refresh';
// 401 codes a new access token cures: the short-lived one expired, or its signing key is no longer published.
const REFRESHABLE = new Set(['token_expired', 'invalid_token']);
const NO_REFRESH = new Set(['/auth/login', '/auth/register', '/auth/refresh']);

export class ApiError extends Error {
  constructor(status, problem = {}) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.name = 'ApiError';
    this.status = status;
    this.code = problem.code || (status === 0 ? 'network' : `http_${status}`);
    this.title = problem.title || '';
    this.detail = problem.detail || '';
    this.fieldErrors = Array.isArray(problem.errors) ? problem.errors : [];
    this.problem = problem;
  }
}

// The tokens live in sessionStorage: they end with the tab, and never go into a URL or a cookie. The access
// token is short-lived; the session's refresh token buys a new one when it expires (see `request`).
export const session = {
  get token() { return sessionStorage.getItem(TOKEN_KEY); },
  get refreshToken() { return sessionStorage.getItem(REFRESH_KEY); },
  get user() {
    try { return JSON.parse(sessionStorage.getItem(USER_KEY) || 'null'); } catch { return null; }
  },
  save(token, user, refreshToken) {
    sessionStorage.setItem(TOKEN_KEY, token);
    sessionStorage.setItem(USER_KEY, JSON.stringify(user));
    if (refreshToken) sessionStorage.setItem(REFRESH_KEY, refreshToken);
  },
  replaceToken(token) { sessionStorage.setItem(TOKEN_KEY, token); },
  clear() {
    sessionStorage.removeItem(TOKEN_KEY);
    sessionStorage.removeItem(USER_KEY);
    sessionStorage.removeItem(REFRESH_KEY);
  },
};

// One refresh at a time: the requests a page sends together all wait for the same new token.
let refreshing = null;

/** Replace the expired access token `expired`; resolve true when there is a new one. */
function refreshAccess(expired) {
  if (session.token !== expired) return Promise.resolve(Boolean(session.token));
  const refreshToken = session.refreshToken;
  if (!refreshToken) return Promise.resolve(false);
  if (!refreshing) {
    refreshing = fetch(buildUrl('/auth/refresh'), {
      method: 'POST', cache: 'no-store',
      headers: { Accept: 'application/json, application/problem+json', 'Content-Type': 'application/json' },
      body: JSON.stringify({ refresh_token: refreshToken }),
    }).then(async (resp) => {
      if (!resp.ok) return false;
      session.replaceToken((await resp.json()).token);
      return true;
    }).catch(() => false).finally(() => { refreshing = null; });
  }
  return refreshing;
}

function buildUrl(path, query) {
  const url = new URL(BASE + path, window.location.origin);
  for (const [k, v] of Object.entries(query || {})) {
    if (v === undefined || v === null || v === '') continue;
    url.searchParams.set(k, String(v));
  }
  return url;
}

async function problemOf(resp) {
  const type = resp.headers.get('Content-Type') || '';
  if (type.includes('json')) {
    try { return await resp.json(); } catch { /* fall through */ }
  }
  let text = '';
  try { text = (await resp.text()).slice(0, 300); } catch { /* ignore */ }
  return { title: resp.statusText, detail: text };
}

/** Send a request; return the parsed JSON (null for 204), or the Response when `raw`. Throws ApiError.
 * An expired access token is refreshed and the request sent once more (authentication comes before anything
 * a request does, so the refused attempt did nothing; a money-moving one goes again with its own key). */
export async function request(method, path, opts = {}, retried = false) {
  const { body, query, idempotencyKey, raw = false } = opts;
  // The server writes problem titles and details in the language of the screen.
  const headers = { Accept: 'application/json, application/problem+json', 'Accept-Language': getLang() === 'zh' ? 'zh-CN' : 'en' };
  const token = session.token;
  if (token) headers.Authorization = `Bearer ${token}`;
  if (idempotencyKey) headers['Idempotency-Key'] = idempotencyKey;
  const init = { method, headers, cache: 'no-store' };
  if (body instanceof FormData) {
    init.body = body; // a file upload: the browser writes the multipart Content-Type with its boundary
  } else if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(buildUrl(path, query), init);
  } catch (exc) {
    throw new ApiError(0, { code: 'network', detail: String(exc && exc.message || exc) });
  }
  if (!resp.ok) {
    const err = new ApiError(resp.status, await problemOf(resp));
    if (resp.status === 401 && token && !retried && !NO_REFRESH.has(path) && REFRESHABLE.has(err.code) &&
        await refreshAccess(token)) {
      return request(method, path, opts, true);
    }
    if (resp.status === 401 && token && path !== '/auth/login') {
      window.dispatchEvent(new CustomEvent('suiyuan:unauthorized', { detail: err }));
    }
    throw err;
  }
  if (raw) return resp;
  if (resp.status === 204) return null;
  return resp.json();
}

export const api = {
  get: (path, query) => request('GET', path, { query }),
  post: (path, body, opts = {}) => request('POST', path, { body, ...opts }),
  put: (path, body) => request('PUT', path, { body }),
  patch: (path, body) => request('PATCH', path, { body }),

  /** Fetch a file with the bearer token and hand it to the browser as a download; return its name. */
  async download(path, query, fallbackName) {
    const resp = await request('GET', path, { query, raw: true });
    const blob = await resp.blob();
    const name = filenameOf(resp.headers.get('Content-Disposition')) || fallbackName;
    const href = URL.createObjectURL(blob);
    const a = document.createElement('a');
    a.href = href;
    a.download = name;
    a.hidden = true;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(href), 10000);
    return name;
  },
};

function filenameOf(disposition) {
  if (!disposition) return null;
  const star = /filename\*=UTF-8''([^;]+)/i.exec(disposition);
  if (star) return decodeURIComponent(star[1]);
  const plain = /filename="?([^";]+)"?/i.exec(disposition);
  return plain ? plain[1] : null;
}

/** A fresh Idempotency-Key for one money-moving action (a retry of the same action reuses it). */
export function newIdempotencyKey(prefix = 'console') {
  const id = (crypto.randomUUID && crypto.randomUUID()) ||
    Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('');
  return `${prefix}-${id}`;
}

/** Read every page of a keyset-paged list (`items`, `next_before`), up to `max` items. */
export async function getAll(path, query = {}, max = 500) {
  const items = [];
  let before;
  for (;;) {
    const page = await api.get(path, { ...query, limit: 100, before });
    items.push(...page.items);
    if (!page.next_before || items.length >= max) return items;
    before = page.next_before;
  }
}
