// Log-in: phone and password → bearer token (sessionStorage). Only staff roles use the console.
import { api, ApiError, session } from '../api.js';
import { t } from '../i18n.js';
import { clearFormError, errorBanner, field, h, showFormError } from '../ui.js';

import { STAFF_ROLES } from '../roles.js';

export async function render({ view, notice, onLoggedIn }) {
  const phone = h('input', { id: 'login-phone', name: 'phone', type: 'tel', autocomplete: 'username', required: true,
    inputmode: 'numeric', dataset: { field: 'phone' } });
  const password = h('input', { id: 'login-password', name: 'password', type: 'password', required: true,
    autocomplete: 'current-password', dataset: { field: 'password' } });
  const slot = h('div', { class: 'form-errors', 'aria-live': 'assertive' });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary btn-block', id: 'login-submit' }, t('login.submit'));
  const form = h('form', { class: 'login-form', novalidate: true },
    slot,
    field(t('login.phone'), phone),
    field(t('login.password'), password),
    submit);

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearFormError(form, slot);
    if (!phone.value.trim() || !password.value) {
      showFormError(form, slot, new ApiError(422, { code: 'console_missing_login', errors: [
        ...(!phone.value.trim() ? [{ field: 'phone', reason: t('login.phone_required') }] : []),
        ...(!password.value ? [{ field: 'password', reason: t('login.password_required') }] : []),
      ] }));
      return;
    }
    submit.disabled = true;
    submit.textContent = t('login.signing_in');
    try {
      const body = await api.post('/auth/login', { phone: phone.value.trim(), password: password.value });
      if (!STAFF_ROLES.includes(body.user.role)) {
        session.save(body.token, body.user);
        try { await api.post('/auth/logout'); } catch { /* revoke best effort */ }
        session.clear();
        showFormError(form, slot, new ApiError(403, { code: 'console_not_staff',
          detail: t('login.not_staff_detail', { role: t(`role.${body.user.role}`) }) }));
        return;
      }
      session.save(body.token, body.user, body.refresh_token);
      onLoggedIn(body.user);
    } catch (err) {
      showFormError(form, slot, err);
      password.select();
    } finally {
      submit.disabled = false;
      submit.textContent = t('login.submit');
    }
  });

  view.append(h('div', { class: 'login-page' },
    h('section', { class: 'login-card', 'aria-labelledby': 'page-title' },
      h('div', { class: 'login-brand', 'aria-hidden': 'true' }, h('span', { class: 'brand-mark brand-mark-lg' }, '穗')),
      h('h1', { id: 'page-title', tabindex: '-1' }, t('login.title')),
      h('p', { class: 'muted' }, t('login.intro')),
      notice ? errorBanner(notice) : null,
      form,
      h('p', { class: 'muted small' }, t('login.roles_hint')))));
  phone.focus();
}
