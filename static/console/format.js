// Formatting of money (integer fen, never floats), numbers and times for people.
import { getLang, t } from './i18n.js';

export const TIMEZONE = 'Asia/Shanghai';

/** ¥ with two decimals from integer fen: 385000 → "¥3,850.00". */
export function yuan(fen) {
  if (fen === null || fen === undefined) return '—';
  const n = Number(fen);
  const neg = n < 0;
  const abs = Math.abs(n);
  const whole = Math.floor(abs / 100);
  const cents = abs % 100;
  return `${neg ? '-' : ''}¥${whole.toLocaleString('en-US')}.${String(cents).padStart(2, '0')}`;
}

/** Parse what a person typed in yuan ("38.5", "1,200.00") into integer fen, or null if it is not money. */
export function parseYuan(text) {
  const s = String(text ?? '').trim().replace(/[,，\s]/g, '').replace(/^¥/, '');
  const m = /^(\d{1,13})(?:\.(\d{1,2}))?$/.exec(s);
  if (!m) return null;
  return Number(m[1]) * 100 + Number((m[2] || '').padEnd(2, '0'));
}

/** Yuan as typed in a form field from fen: 385000 → "3850.00". */
export function fenToInput(fen) {
  return `${Math.floor(fen / 100)}.${String(fen % 100).padStart(2, '0')}`;
}

export function num(n) {
  if (n === null || n === undefined) return '—';
  return Number(n).toLocaleString(getLang() === 'zh' ? 'zh-CN' : 'en-US');
}

export function ratio(x, digits = 2) {
  if (x === null || x === undefined) return '—';
  return Number(x).toFixed(digits);
}

/** A stored instant shown in the pilot's time zone (Beijing time). */
export function dateTime(iso) {
  if (!iso) return '—';
  return new Intl.DateTimeFormat(getLang() === 'zh' ? 'zh-CN' : 'en-GB', {
    timeZone: TIMEZONE, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit',
    second: '2-digit', hour12: false,
  }).format(new Date(iso));
}

export function timeOnly(iso) {
  return new Intl.DateTimeFormat('en-GB', {
    timeZone: TIMEZONE, hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false,
  }).format(new Date(iso));
}

/** Parts of an instant in Beijing time: {year, month, day, hour, minute, second} as strings. */
function parts(date) {
  const out = {};
  for (const p of new Intl.DateTimeFormat('en-GB', {
    timeZone: TIMEZONE, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit',
    second: '2-digit', hourCycle: 'h23',
  }).formatToParts(date)) out[p.type] = p.value;
  return out;
}

/** Today's date in Beijing time, "YYYY-MM-DD", shifted by `days`. */
export function localDay(days = 0, from = new Date()) {
  const p = parts(new Date(from.getTime() + days * 86400000));
  return `${p.year}-${p.month}-${p.day}`;
}

/** The window of the last `n` local days, today included: every "last N days" in the console is this one. */
export function lastDays(n, from = new Date()) {
  return { from: localDay(-(n - 1), from), to: localDay(0, from) };
}

/** "2026-11-04 至 2026-12-03（北京时间，含今天…）": a period, saying whether today is in it. */
export function periodRange(fromDay, toDay, now = new Date()) {
  const today = localDay(0, now);
  const key = toDay >= today ? 'zones.period_range_today' : 'zones.period_range_past';
  return t(key, { from: fromDay, to: toDay });
}

/** Average ticket: "—" without payments (there is no average of nothing), else ¥. */
export function averageTicket(fen, paymentCount) {
  return paymentCount ? yuan(fen) : '—';
}

/** The value for a datetime-local input (Beijing time, to the second) of now + `seconds`. */
export function localInputValue(seconds = 0, from = new Date()) {
  const p = parts(new Date(from.getTime() + seconds * 1000));
  return `${p.year}-${p.month}-${p.day}T${p.hour}:${p.minute}:${p.second}`;
}

/** A datetime-local value, read as Beijing time, as an ISO instant with its offset. */
export function inputToIso(value) {
  if (!value) return null;
  const withSeconds = value.length === 16 ? `${value}:00` : value;
  return `${withSeconds}+08:00`;
}
