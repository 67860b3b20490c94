// The live overview: one card per camera with its latest annotated frame, state, frames/s, verdict and shift counts.
// Frames are chained per camera (the next is asked for only once the last one is shown), so the browser never
// receives more than it can draw, and at most one request per camera is open.
import { api, el, events, percent, start, verdictClass } from './app.js';

const cards = new Map();

start('/', async () => {
  const cameras = await api('/api/cameras');
  const grid = document.getElementById('cameras');
  grid.dataset.count = String(cameras.length);
  for (const camera of cameras) {
    const card = cameraCard(camera);
    cards.set(camera.id, card);
    grid.append(card.root);
    chainFrames(camera.id, card);
  }
  if (cameras.length === 0) grid.append(el('p', { class: 'empty' }, 'No cameras are configured.'));
  events('', {
    stats: stats => stats.cameras.forEach(c => cards.get(c.id)?.update(c)),
    result: result => cards.get(result.camera)?.verdict(result),
    camera: status => cards.get(status.camera)?.state(status.state, status.reason),
  });
});

function cameraCard(camera) {
  const image = el('img', { class: 'frame', alt: `Latest frame of ${camera.id}` });
  if (camera.sourceWidth && camera.sourceHeight) image.style.aspectRatio = `${camera.sourceWidth} / ${camera.sourceHeight}`;
  const state = el('span', { class: 'badge state' });
  const verdict = el('span', { class: 'badge verdict' });
  const fields = {};
  const stat = (name, label) => el('div', {}, el('dt', {}, label), fields[name] = el('dd', { class: name }, '–'));
  const flags = el('span', { class: 'flags' });
  const part = el('span', { class: 'part' });
  const root = el('article', { class: 'card camera', dataset: { camera: camera.id } },
    el('header', {}, el('a', { href: `/camera/${encodeURIComponent(camera.id)}`, class: 'camera-name' }, camera.id), state, verdict, part, flags),
    el('a', { href: `/camera/${encodeURIComponent(camera.id)}`, class: 'frame-link' }, image),
    el('dl', { class: 'stats' }, stat('fps', 'frames/s'), stat('frames', 'inspected'), stat('ok', 'OK'), stat('ng', 'NG'), stat('unknown', 'unknown'), stat('yield', 'yield')));

  const card = {
    root, image,
    state(value, reason) {
      state.textContent = value ?? 'unknown';
      state.className = 'badge state state-' + (value ?? 'unknown');
      state.title = reason ?? '';
    },
    verdict(result) {
      verdict.textContent = result.top ? `${result.verdict} ${result.top.class} ${result.top.score.toFixed(2)}` : result.verdict;
      verdict.className = 'badge verdict ' + verdictClass(result.verdict);
      part.textContent = result.partId ? `part ${result.partId}` : '';
    },
    update(c) {
      card.state(c.state);
      fields.fps.textContent = c.fps?.toFixed(1) ?? '–';
      fields.frames.textContent = String(c.inspected ?? '–');
      fields.ok.textContent = String(c.ok ?? 0);
      fields.ng.textContent = String(c.ng ?? 0);
      fields.unknown.textContent = String(c.unknown ?? 0);
      fields.yield.textContent = percent(c.yield);
      flags.replaceChildren(...(c.integrity ?? []).map(f => el('span', { class: 'badge flag' }, f)));
    },
  };
  card.state(camera.state, camera.reason);
  if (camera.last) card.verdict({ ...camera.last, top: null });
  card.update({ state: camera.state, fps: camera.fps, inspected: camera.frameVersion, ...camera.shift, integrity: camera.integrity });
  return card;
}

async function chainFrames(id, card) {
  let version = 0;
  let shown = null;
  for (;;) {
    if (document.hidden) {
      await new Promise(resolve => document.addEventListener('visibilitychange', resolve, { once: true }));
      continue;
    }
    try {
      const response = await fetch(`/api/cameras/${encodeURIComponent(id)}/latest.jpg?after=${version}`, { credentials: 'same-origin' });
      if (response.status === 503 || !response.ok) {
        await pause(response.status === 503 ? 1000 : 3000);
        continue;
      }
      version = Number(response.headers.get('X-Frame-Version') ?? version + 1);
      const size = response.headers.get('X-Source-Size');
      if (size) card.image.style.aspectRatio = size.replace('x', ' / ');
      const url = URL.createObjectURL(await response.blob());
      await new Promise(resolve => { card.image.onload = card.image.onerror = resolve; card.image.src = url; });
      if (shown) URL.revokeObjectURL(shown);
      shown = url;
    } catch {
      await pause(3000); // the worker restarts or the network is away: try again shortly
    }
  }
}

const pause = ms => new Promise(resolve => setTimeout(resolve, ms));
