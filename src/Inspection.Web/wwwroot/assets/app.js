// Shared by every page: the session, a fetch wrapper that sends the CSRF token, the navigation, small DOM helpers.
// Operator controls are only rendered when the session says "operator"; the API refuses them anyway.

let current = null;

/** The session: {user, role, expires, csrfToken} or {mode: "local-viewer"}; a login page when signed out. */
export async function session({ required = true } = {}) {
  const response = await fetch('/api/session', { credentials: 'same-origin' });
  current = await response.json();
  if (response.status === 401 && required) {
    location.assign('/login?return=' + encodeURIComponent(location.pathname + location.search));
    return new Promise(() => {}); // the page is going away
  }
  return current;
}

export const isOperator = () => current?.role === 'operator';

/** JSON over fetch; throws an Error carrying the API's {error} text and the status. */
export async function api(path, { method = 'GET', body } = {}) {
  const headers = { Accept: 'application/json' };
  if (method !== 'GET') headers['X-CSRF-Token'] = current?.csrfToken ?? '';
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const response = await fetch(path, { method, headers, credentials: 'same-origin', body: body === undefined ? undefined : JSON.stringify(body) });
  if (response.status === 401 && current?.mode !== 'local-viewer' && !path.startsWith('/api/session')) {
    location.assign('/login?return=' + encodeURIComponent(location.pathname));
  }
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (!response.ok) {
    const error = new Error(data?.error ?? `${method} ${path}: HTTP ${response.status}`);
    error.status = response.status;
    error.data = data;
    throw error;
  }
  return data;
}

/** el('div', {class: 'x', onclick: f}, 'text', child) */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else if (key === 'dataset') Object.assign(node.dataset, value);
    else node.setAttribute(key, value === true ? '' : value);
  }
  node.append(...children.flat().filter(c => c !== null && c !== undefined && c !== false));
  return node;
}

const svgNs = 'http://www.w3.org/2000/svg';
export function svg(tag, attributes = {}, ...children) {
  const node = document.createElementNS(svgNs, tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  node.append(...children);
  return node;
}

export const time = value => value ? new Date(value).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' }) : '–';
export const dateTime = value => value ? new Date(value).toLocaleString([], { dateStyle: 'short', timeStyle: 'medium' }) : '–';
export const percent = value => value === null || value === undefined || Number.isNaN(value) ? '–' : (value * 100).toFixed(1) + ' %';
export const verdictClass = verdict => 'verdict-' + String(verdict ?? 'unknown').toLowerCase();

/** A message line at the top of main: what went wrong, in the API's words. */
export function notice(text, kind = 'error') {
  const box = document.getElementById('notice');
  box.textContent = text ?? '';
  box.className = text ? 'notice ' + kind : 'notice';
}

const pages = [
  ['/', 'Live'], ['/feed', 'Feed'], ['/defects', 'Defects'], ['/model', 'Model'], ['/rules', 'Rules'],
];

/** The header: navigation, who is signed in, sign out. */
export function renderNav(active) {
  const nav = document.getElementById('nav');
  const who = current?.mode === 'local-viewer'
    ? el('span', { class: 'who' }, 'local viewer (read only)')
    : el('span', { class: 'who' }, `${current.user} · ${current.role}`,
        el('button', { type: 'button', class: 'link', id: 'sign-out', onclick: signOut }, 'Sign out'));
  nav.replaceChildren(
    el('a', { href: '/', class: 'brand' }, el('img', { src: '/assets/icon.svg', alt: '', width: 24, height: 24 }), 'Inspection'),
    el('div', { class: 'tabs' }, pages.map(([href, label]) => el('a', { href, class: href === active ? 'active' : null }, label))),
    who);
}

async function signOut() {
  try {
    await api('/api/session', { method: 'DELETE' });
  } finally {
    location.assign('/login');
  }
}

/** Marks the page as drawn (tests wait for body[data-ready]). */
export function ready() {
  document.body.dataset.ready = 'true';
}

/** Starts a page: session, nav, then the page's own start; any failure is shown, not thrown into the console. */
export async function start(active, run) {
  try {
    await session();
    renderNav(active);
    await run();
  } catch (error) {
    notice(error.message);
  }
  ready();
}

/**
 * Server-sent events with the worker's event names; reconnects by itself (EventSource does). The worker ends the
 * stream when the session ends; the reconnect is then refused and the page goes to the login.
 */
export function events(query, handlers) {
  const source = new EventSource('/api/events' + (query ? '?' + query : ''));
  for (const [name, handler] of Object.entries(handlers)) {
    source.addEventListener(name, e => handler(JSON.parse(e.data), e));
  }
  source.addEventListener('error', () => {
    if (source.readyState === EventSource.CLOSED) session().catch(error => notice(error.message));
  });
  return source;
}
