// Defects: the NG and uncertain evidence as a gallery (boxes drawn as an SVG overlay, so the stored JPEG is shown
// as it is), and one item at full size with its review: accept, relabel a box's class, or reject, as
// `inspection dataset review` does. Review controls are only rendered for operators.
import { api, dateTime, el, events, isOperator, notice, start, svg, verdictClass } from './app.js';

const detail = location.pathname.match(/^\/defects\/(.+)$/);

start('/defects', () => detail ? showItem(decodeURIComponent(detail[1])) : showGallery());

async function showGallery() {
  const status = new URLSearchParams(location.search).get('status') ?? 'pending';
  const section = document.getElementById('defects');
  const grid = el('div', { class: 'gallery', id: 'gallery' });
  const more = el('button', { type: 'button', id: 'more', hidden: true }, 'Older');
  section.replaceChildren(
    el('nav', { class: 'subtabs' }, ['pending', 'reviewed', 'rejected'].map(s =>
      el('a', { href: `/defects?status=${s}`, class: s === status ? 'active' : null }, s))),
    grid, more);
  let next = null;
  const load = async () => {
    const page = await api(`/api/evidence?status=${status}&limit=48` + (next ? `&before=${encodeURIComponent(next)}` : ''));
    grid.append(...page.items.map(tile));
    next = page.next;
    more.hidden = !next;
  };
  more.addEventListener('click', () => load().catch(e => notice(e.message)));
  await load();
  if (status === 'pending') {
    events('verdict=NG,UNKNOWN', {
      result: r => {
        if (!r.evidence || grid.querySelector(`[data-evidence="${CSS.escape(r.evidence.id)}"]`)) return;
        grid.prepend(tile({ id: r.evidence.id, camera: r.camera, captureTime: r.captureTime, verdict: r.verdict, partId: r.partId,
          model: r.model, detections: r.detections, imageUrl: `/api/evidence/${encodeURIComponent(r.evidence.id)}.jpg` }));
      },
    });
  }
}

function tile(item) {
  return el('a', { class: 'tile', href: `/defects/${encodeURIComponent(item.id)}`, dataset: { evidence: item.id } },
    picture(item.imageUrl, item.detections.map(d => ({ kind: 'pixels', box: d.box, label: `${d.class} ${d.score.toFixed(2)}` }))),
    el('div', { class: 'caption' },
      el('span', { class: 'badge ' + verdictClass(item.verdict) }, item.verdict), ' ', item.camera,
      item.partId ? ` · ${item.partId}` : '', el('br'), dateTime(item.captureTime),
      item.model ? ` · v${item.model.version}` : ''));
}

/** The image with its boxes: pixel boxes [x1,y1,x2,y2] (detections) or YOLO fractions {cx,cy,w,h} (labels). */
function picture(url, boxes, onPick) {
  const image = el('img', { src: url, alt: 'Evidence picture', loading: 'lazy' });
  const overlay = svg('svg', { class: 'boxes', preserveAspectRatio: 'none', viewBox: '0 0 1 1' });
  image.addEventListener('load', () => {
    const [w, h] = [image.naturalWidth, image.naturalHeight];
    overlay.replaceChildren(...boxes.map((b, index) => {
      const [x, y, bw, bh] = b.kind === 'pixels'
        ? [b.box[0] / w, b.box[1] / h, (b.box[2] - b.box[0]) / w, (b.box[3] - b.box[1]) / h]
        : [b.cx - b.w / 2, b.cy - b.h / 2, b.w, b.h];
      const rect = svg('rect', { x, y, width: bw, height: bh, class: 'box' + (b.selected ? ' selected' : ''), 'vector-effect': 'non-scaling-stroke' });
      rect.append(svg('title', {}, b.label));
      if (onPick) rect.addEventListener('click', () => onPick(index));
      return rect;
    }));
  });
  return el('div', { class: 'picture' }, image, overlay);
}

async function showItem(id) {
  const item = await api(`/api/evidence/${encodeURIComponent(id)}`);
  const section = document.getElementById('defects');
  const labels = item.labels.map(l => ({ ...l }));
  let selected = labels.length ? 0 : -1;
  const view = el('div', { class: 'review-picture' });
  const list = el('ol', { class: 'labels', id: 'labels' });
  const status = el('span', { class: 'badge status', id: 'status' }, item.status);

  const draw = () => {
    view.replaceChildren(picture(item.imageUrl, labels.map((l, i) => ({ kind: 'fractions', ...l, label: l.class, selected: i === selected })),
      isOperator() && item.status === 'pending' ? i => { selected = i; draw(); } : null));
    list.replaceChildren(...labels.map((l, i) => el('li', { class: i === selected ? 'selected' : null, dataset: { index: String(i) } },
      isOperator() && item.status === 'pending'
        ? el('select', { class: 'label-class', 'aria-label': `class of box ${i + 1}`, onchange: e => {
            l.classId = Number(e.target.value);
            l.class = item.classes[l.classId];
            selected = i;
            draw();
          } }, item.classes.map((c, classId) => el('option', { value: String(classId), selected: classId === l.classId }, c)))
        : el('span', {}, l.class),
      ` (${l.cx.toFixed(3)}, ${l.cy.toFixed(3)}) ${l.w.toFixed(3)}×${l.h.toFixed(3)}`)));
  };

  const review = async body => {
    try {
      const answer = await api(`/api/evidence/${encodeURIComponent(id)}/review`, { method: 'POST', body });
      item.status = answer.status;
      status.textContent = answer.status;
      actions.remove();
      draw();
      notice(`${id}: ${answer.status}`, 'ok');
    } catch (error) {
      notice(error.message);
    }
  };
  const actions = isOperator() && item.status === 'pending'
    ? el('div', { class: 'actions', id: 'review-actions' },
        el('button', { type: 'button', class: 'primary', id: 'accept', onclick: () => review({ action: 'accept' }) }, 'Accept'),
        el('button', { type: 'button', id: 'relabel', onclick: () => review({ action: 'relabel', labels: labels.map(({ classId, cx, cy, w, h }) => ({ classId, cx, cy, w, h })) }) }, 'Save labels'),
        el('button', { type: 'button', class: 'danger', id: 'reject', onclick: () => review({ action: 'reject' }) }, 'Reject'))
    : el('span');

  section.replaceChildren(
    el('p', {}, el('a', { href: '/defects' }, '← Defects')),
    el('div', { class: 'review' }, view,
      el('aside', {},
        el('h1', {}, item.id),
        el('dl', { class: 'stats' },
          el('dt', {}, 'verdict'), el('dd', {}, el('span', { class: 'badge ' + verdictClass(item.verdict) }, item.verdict)),
          el('dt', {}, 'camera'), el('dd', {}, item.camera),
          el('dt', {}, 'time'), el('dd', {}, dateTime(item.captureTime)),
          el('dt', {}, 'part'), el('dd', {}, item.partId ?? '–'),
          el('dt', {}, 'model'), el('dd', {}, item.model ? `${item.model.name} v${item.model.version}` : '–'),
          el('dt', {}, 'status'), el('dd', {}, status)),
        el('h2', {}, 'Boxes'), list, actions,
        el('p', {}, el('a', { href: item.imageUrl, class: 'full' }, 'Open the picture')))));
  draw();
}
