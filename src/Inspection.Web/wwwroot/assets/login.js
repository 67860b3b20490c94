// Sign in: the session answers with a CSRF token even before login, and the login itself sends it.
import { api, notice, session } from './app.js';

const form = document.getElementById('login');

/** Only a path on this site (no //host or scheme), so a crafted link cannot send the user elsewhere. */
function returnPath() {
  const wanted = new URLSearchParams(location.search).get('return') ?? '/';
  return wanted.startsWith('/') && !wanted.startsWith('//') && !wanted.startsWith('/\\') ? wanted : '/';
}

form.addEventListener('submit', async event => {
  event.preventDefault();
  const button = form.querySelector('button');
  button.disabled = true;
  try {
    await api('/api/session', { method: 'POST', body: { user: form.elements.user.value, password: form.elements.password.value } });
    location.assign(returnPath());
  } catch (error) {
    notice(error.status === 429 ? `${error.message} (try again in ${error.data?.retryAfter ?? 300} s)` : error.message);
    button.disabled = false;
  }
});

session({ required: false }).then(current => {
  if (current.mode === 'local-viewer' || current.role) location.assign(returnPath());
  document.body.dataset.ready = 'true';
}, error => {
  notice(error.message);
  document.body.dataset.ready = 'true';
});
