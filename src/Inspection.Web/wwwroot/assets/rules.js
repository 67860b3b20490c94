// Rules: per-class confidence thresholds per camera, and (operators only) changing them within the limits the
// worker allows (Inspection:Rules:CommandLimits). Operators also see the latest audited actions.
import { api, dateTime, el, isOperator, notice, start } from './app.js';

start('/rules', async () => {
  await render();
  if (isOperator()) await renderAudit();
});

async function render() {
  const rules = await api('/api/rules');
  const { min, max } = rules.limits;
  const section = document.getElementById('rules');
  const cameras = Object.entries(rules.thresholds);
  const classes = [...new Set(cameras.flatMap(([, c]) => Object.keys(c)))];
  section.replaceChildren(
    el('h1', {}, 'Confidence thresholds'),
    el('p', { class: 'hint' }, `A detection counts when its score reaches its class's threshold. Changes are allowed between ${min} and ${max}.`),
    el('div', { class: 'table-wrap' }, el('table', { class: 'rules' },
      el('thead', {}, el('tr', {}, el('th', {}, 'camera'), classes.map(c => el('th', {}, c)))),
      el('tbody', {}, cameras.map(([camera, values]) => el('tr', { dataset: { camera } }, el('th', {}, camera),
        classes.map(c => el('td', { dataset: { class: c } }, values[c] === undefined ? '–'
          : isOperator() ? editor(camera, c, values[c], min, max) : el('span', { class: 'value' }, values[c].toFixed(2))))))))));
}

function editor(camera, className, value, min, max) {
  const input = el('input', { type: 'number', class: 'threshold', min, max, step: '0.01', value: value.toFixed(2), 'aria-label': `${className} on ${camera}` });
  const save = el('button', { type: 'button', class: 'save', onclick: async () => {
    try {
      await api(`/api/rules/${encodeURIComponent(camera)}/thresholds`, { method: 'PUT', body: { class: className, confidence: Number(input.value) } });
      notice(`${className} on ${camera}: ${Number(input.value).toFixed(2)}`, 'ok');
      await render();
      await renderAudit();
    } catch (error) {
      notice(error.message);
    }
  } }, 'Save');
  return el('form', { class: 'threshold-form', onsubmit: e => { e.preventDefault(); save.click(); } }, input, save);
}

async function renderAudit() {
  const audit = await api('/api/audit?limit=50');
  document.getElementById('audit').replaceChildren(el('h2', {}, 'Recent actions'),
    el('div', { class: 'table-wrap' }, el('table', { class: 'audit' },
      el('thead', {}, el('tr', {}, ['time', 'source', 'user', 'command', 'camera', 'outcome', 'reason'].map(h => el('th', {}, h)))),
      el('tbody', {}, audit.map(a => el('tr', { class: 'outcome-' + a.outcome },
        el('td', {}, dateTime(a.time)), el('td', {}, a.source), el('td', {}, a.user), el('td', {}, a.command),
        el('td', {}, a.camera ?? ''), el('td', {}, a.outcome), el('td', {}, a.reason ?? '')))))));
}
