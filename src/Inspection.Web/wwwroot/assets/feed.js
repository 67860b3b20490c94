// The verdict feed: results as they happen (server-sent events, filtered by the server), shift counts and yield per
// camera. DOM updates are batched once per animation frame and the table keeps the newest 200 rows; a row kept as
// evidence links to its review page.
import { api, el, events, percent, start, time, verdictClass } from './app.js';

const maxRows = 200;
let source = null;
let pending = [];
let drawScheduled = false;

start('/feed', async () => {
  const [cameras, shift] = await Promise.all([api('/api/cameras'), api('/api/shift')]);
  renderShift(shift);
  renderFilters(cameras.map(c => c.id));
  await restart();
});

function filterQuery() {
  const form = document.getElementById('filters');
  const query = new URLSearchParams();
  const camera = form.elements.camera.value;
  if (camera) query.set('camera', camera);
  const verdicts = [...form.querySelectorAll('input[name=verdict]:checked')].map(i => i.value);
  if (verdicts.length && verdicts.length < 3) query.set('verdict', verdicts.join(','));
  const klass = form.elements.class.value.trim();
  if (klass) query.set('class', klass);
  return query.toString();
}

async function restart() {
  source?.close();
  const query = filterQuery();
  const page = await api('/api/results?' + query + (query ? '&' : '') + 'limit=100');
  document.getElementById('feed').replaceChildren(...page.items.map(row));
  source = events(query, {
    result: r => queue(r),
    stats: s => updateShift(s.cameras),
    gap: async () => { // the server dropped events for this slow page: read the list again
      const again = await api('/api/results?' + query + (query ? '&' : '') + 'limit=100');
      document.getElementById('feed').replaceChildren(...again.items.map(row));
    },
  });
}

function queue(result) {
  pending.push(result);
  if (drawScheduled) return;
  drawScheduled = true;
  requestAnimationFrame(() => {
    const body = document.getElementById('feed');
    body.prepend(...pending.reverse().map(row));
    pending = [];
    drawScheduled = false;
    while (body.children.length > maxRows) body.lastChild.remove();
  });
}

// A result kept as evidence opens its review page (/defects/ID) from anywhere on its row.
function row(r) {
  const review = r.evidence ? `/defects/${encodeURIComponent(r.evidence.id)}` : null;
  return el('tr', {
    dataset: { id: r.id, seq: String(r.seq), ...(review ? { evidence: r.evidence.id } : {}) }, class: verdictClass(r.verdict) + (review ? ' linked' : ''),
    onclick: review ? e => { if (!e.target.closest('a')) location.assign(review); } : null,
  },
    el('td', {}, time(r.captureTime)),
    el('td', {}, r.camera),
    el('td', {}, r.partId ?? ''),
    el('td', {}, el('span', { class: 'badge ' + verdictClass(r.verdict), title: r.reason ?? '' }, r.verdict)),
    el('td', {}, r.top ? `${r.top.class} ${r.top.score.toFixed(2)}` : ''),
    el('td', {}, r.model ? `${r.model.name} v${r.model.version}` : ''),
    el('td', {}, review ? el('a', { href: review, class: 'evidence', title: r.evidence.kind }, 'review') : ''));
}

function renderShift(shift) {
  const section = document.getElementById('shift');
  section.replaceChildren(el('h2', {}, `Shift since ${time(shift.start)}`),
    el('div', { class: 'shift-cards' }, Object.entries(shift.cameras).map(([id, c]) =>
      el('div', { class: 'shift-card', dataset: { camera: id } }, el('strong', {}, id),
        el('span', { class: 'ok' }, `OK ${c.ok}`), el('span', { class: 'ng' }, `NG ${c.ng}`),
        el('span', { class: 'unknown' }, `? ${c.unknown}`), el('span', { class: 'yield' }, percent(c.yield))))));
}

function updateShift(cameras) {
  for (const c of cameras) {
    const card = document.querySelector(`.shift-card[data-camera="${CSS.escape(c.id)}"]`);
    if (!card) continue;
    card.querySelector('.ok').textContent = `OK ${c.ok}`;
    card.querySelector('.ng').textContent = `NG ${c.ng}`;
    card.querySelector('.unknown').textContent = `? ${c.unknown}`;
    card.querySelector('.yield').textContent = percent(c.yield);
  }
}

function renderFilters(cameraIds) {
  const form = document.getElementById('filters');
  const verdict = v => el('label', { class: 'check' }, el('input', { type: 'checkbox', name: 'verdict', value: v, checked: true }), v);
  form.replaceChildren(
    el('label', {}, 'Camera ', el('select', { name: 'camera' }, el('option', { value: '' }, 'all'), cameraIds.map(id => el('option', { value: id }, id)))),
    el('fieldset', {}, el('legend', {}, 'Verdict'), verdict('OK'), verdict('NG'), verdict('UNKNOWN')),
    el('label', {}, 'Class ', el('input', { name: 'class', type: 'search', maxlength: 64, placeholder: 'any' })));
  form.addEventListener('change', () => restart());
  form.addEventListener('submit', e => { e.preventDefault(); restart(); });
}
