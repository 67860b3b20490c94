// The model: what serves, its metrics, the registry's versions, shadow agreement, the golden-set heartbeat and the
// last retraining report. Promote, roll back, shadow and heartbeat buttons exist only for operators.
import { api, dateTime, el, events, isOperator, notice, percent, start } from './app.js';

start('/model', async () => {
  await render();
  events('', { model: () => render().catch(e => notice(e.message)), heartbeat: () => render().catch(e => notice(e.message)) });
});

async function render() {
  const model = await api('/api/model');
  const section = document.getElementById('model');
  const current = model.versions?.find(v => v.current);
  const panel = (title, ...content) => el('article', { class: 'card panel' }, el('h2', {}, title), ...content);
  const facts = pairs => el('dl', { class: 'stats' }, pairs.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]));
  const metrics = m => m ? Object.entries(m).map(([k, v]) => [k, typeof v === 'number' ? v.toFixed(3) : String(v)]) : [];

  section.replaceChildren(
    panel('Serving', facts([
      ['model', model.serving?.name ?? '–'], ['version', String(model.serving?.version ?? '–')], ['provider', model.serving?.provider ?? '–'],
      ...metrics(current?.metrics)]),
      current?.card ? el('pre', { class: 'card-text' }, current.card) : ''),
    panel('Shadow', model.shadow
      ? facts([['candidate', String(model.shadow.candidate)], ['frames', String(model.shadow.frames)],
          ['verdict agreement', percent(model.shadow.verdictAgreement)], ['detection agreement', percent(model.shadow.detectionAgreement)]])
      : el('p', {}, 'No candidate runs in shadow mode.'),
      isOperator() && model.shadow ? el('button', { type: 'button', id: 'shadow-stop', onclick: () => act('shadow-stop', {}) }, 'Stop shadow') : ''),
    panel('Golden-set heartbeat', model.lastHeartbeat
      ? facts([['version', String(model.lastHeartbeat.version)], ['result', model.lastHeartbeat.ok === null ? 'nothing to check' : model.lastHeartbeat.ok ? 'passed' : 'FAILED'],
          ['time', dateTime(model.lastHeartbeat.time)], ...(model.lastHeartbeat.failures ?? []).map(f => ['failure', f])])
      : el('p', {}, 'No heartbeat yet.'),
      isOperator() ? el('button', { type: 'button', id: 'heartbeat', onclick: () => act('heartbeat', {}) }, 'Run now') : ''),
    panel('Last retraining', model.lastRetrain
      ? facts(Object.entries(model.lastRetrain).filter(([, v]) => typeof v !== 'object').map(([k, v]) => [k, String(v)]))
      : el('p', {}, 'No retraining report.')),
    panel('Versions', model.versions?.length
      ? el('div', { class: 'table-wrap' }, el('table', { class: 'versions' },
          el('thead', {}, el('tr', {}, el('th', {}, 'version'), el('th', {}, 'created'), el('th', {}, 'metrics'), el('th', {}, 'signed by'), el('th', {}, ''))),
          el('tbody', {}, model.versions.map(v => el('tr', { class: v.current ? 'current' : null, dataset: { version: String(v.version) } },
            el('td', {}, String(v.version), v.current ? ' (serving)' : ''),
            el('td', {}, dateTime(v.created)),
            el('td', {}, metrics(v.metrics).map(([k, m]) => `${k} ${m}`).join(' · ')),
            el('td', {}, v.signedBy ?? '–'),
            el('td', { class: 'actions' }, isOperator() && !v.current ? [
              el('button', { type: 'button', class: 'primary promote', onclick: () => act('promote', { version: v.version }) }, 'Promote'),
              el('button', { type: 'button', class: 'shadow', onclick: () => act('shadow', { version: v.version }) }, 'Shadow'),
            ] : ''))))))
      : el('p', {}, 'This worker serves a model file, not a registry.'),
      isOperator() && model.registry?.previous?.length ? el('button', { type: 'button', id: 'rollback', class: 'danger', onclick: () => act('rollback', {}) }, 'Roll back') : ''));
}

async function act(command, body) {
  try {
    await api(`/api/model/${command}`, { method: 'POST', body });
    notice(`${command}: done`, 'ok');
    await render();
  } catch (error) {
    notice(`${command}: ${error.message}`);
  }
}
