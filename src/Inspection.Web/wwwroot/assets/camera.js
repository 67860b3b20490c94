// One camera at full size: its MJPEG stream (the server sends the newest frame when the browser can take one),
// its counters and its latest results.
import { el, events, percent, start, time, verdictClass } from './app.js';

const id = decodeURIComponent(location.pathname.split('/').pop());

start('/', async () => {
  document.title = `${id} · Inspection`;
  document.getElementById('title').textContent = id;
  document.getElementById('stream').src = `/api/cameras/${encodeURIComponent(id)}/stream.mjpg?fps=15`;
  const stats = document.getElementById('stats');
  const results = document.getElementById('results');
  events('camera=' + encodeURIComponent(id), {
    stats: all => {
      const c = all.cameras.find(x => x.id === id);
      if (!c) return;
      const row = (label, value, name) => [el('dt', {}, label), el('dd', { class: name }, value)];
      stats.replaceChildren(...row('state', c.state, 'state'), ...row('frames/s', c.fps?.toFixed(1) ?? '–', 'fps'),
        ...row('inspected', String(c.inspected), 'frames'), ...row('OK', String(c.ok), 'ok'), ...row('NG', String(c.ng), 'ng'),
        ...row('unknown', String(c.unknown), 'unknown'), ...row('yield', percent(c.yield), 'yield'),
        ...row('integrity', (c.integrity ?? []).join(', ') || 'ok', 'integrity'));
    },
    result: r => {
      results.prepend(el('li', { dataset: { id: r.id } }, el('span', { class: 'badge ' + verdictClass(r.verdict) }, r.verdict), ' ',
        time(r.captureTime), r.partId ? ` · part ${r.partId}` : '', r.top ? ` · ${r.top.class} ${r.top.score.toFixed(2)}` : ''));
      while (results.children.length > 20) results.lastChild.remove();
    },
  });
});
