// Chinese by default, English on request (remembered in localStorage). Strings live in locales/*.json.
import zh from './locales/zh.json' with { type: 'json' };
import en from './locales/en.json' with { type: 'json' };

const LANG_KEY = 'suiyuan.console.lang';
const DICTS = { zh, en };
let lang = DICTS[localStorage.getItem(LANG_KEY)] ? localStorage.getItem(LANG_KEY) : 'zh';

export function getLang() { return lang; }

export function setLang(next) {
  lang = DICTS[next] ? next : 'zh';
  localStorage.setItem(LANG_KEY, lang);
  applyDocumentLang();
  window.dispatchEvent(new CustomEvent('suiyuan:lang', { detail: lang }));
}

export function applyDocumentLang() {
  document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
}

/** The string for `key` in the current language with {name} placeholders filled in. */
export function t(key, params = {}) {
  const text = DICTS[lang][key] ?? DICTS.zh[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (m, name) => (name in params ? String(params[name]) : m));
}

/** Add a plug-in's own strings ({zh: {...}, en: {...}}), kept in its own locale files beside these. */
export function extend(strings) {
  for (const [name, dict] of Object.entries(strings)) Object.assign(DICTS[name], dict);
}

/** Whether a string exists (used for error codes the console explains in its own words). */
export function has(key) { return key in DICTS[lang]; }

/** The record's name in the current language: obj.name_zh / obj.name_en. */
export function nameOf(obj, base = 'name') {
  if (!obj) return '';
  const zhName = obj[`${base}_zh`];
  const enName = obj[`${base}_en`];
  return lang === 'zh' ? (zhName || enName || '') : (enName || zhName || '');
}

/** The seven scenarios 食住行游购娱医 in the pilot's order. */
export const SCENARIOS = ['food', 'lodging', 'transport', 'tourism', 'shopping', 'entertainment', 'medical'];
const SCENARIO_CHARS = { food: '食', lodging: '住', transport: '行', tourism: '游', shopping: '购', entertainment: '娱', medical: '医' };

/** "食 餐饮" / "食 Food". */
export function scenarioLabel(s) { return `${SCENARIO_CHARS[s] || ''} ${t(`scenario.${s}`)}`.trim(); }
