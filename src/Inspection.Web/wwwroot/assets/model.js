// The model: what serves with its card and metrics, the registry's versions, shadow agreement, the golden-set
// heartbeat and the last retraining report. Promote, roll back, shadow and heartbeat buttons exist only for operators.
import { api, dateTime, el, events, isOperator, notice, percent, start } from './app.js';

start('/model', async () => {
  await render();
  events('', { model: () => render().catch(e => notice(e.message)), heartbeat: () => render().catch(e => notice(e.message)) });
});

const figure = v => typeof v === 'number' ? v.toFixed(3) : String(v);
const metrics = m => m ? Object.entries(m).map(([k, v]) => [k, figure(v)]) : [];
const keyId = id => id.length > 16 ? id.slice(0, 16) + '…' : id;

async function render() {
  const model = await api('/api/model');
  const serving = model.serving ?? {};
  const card = serving.card;
  const panel = (title, ...content) => el('article', { class: 'card panel' }, el('h2', {}, title), ...content);
  const facts = pairs => el('dl', { class: 'stats' }, pairs.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]));

  document.getElementById('model').replaceChildren(
    panel('Serving', facts([
      ['model', serving.name ?? '–'], ['version', String(serving.version ?? '–')], ['provider', serving.provider ?? '–'],
      ...metrics(serving.metrics),
      ...(card ? [['created', dateTime(card.created)], ['parent', card.parent === null ? '–' : String(card.parent)], ['classes', card.classes.join(', ')],
        ['image size', String(card.imageSize)], ['dataset', card.datasetFingerprint ?? '–'], ['SHA-256', card.sha256.slice(0, 16) + '…'],
        ...Object.entries(card.trainingArguments ?? {}).map(([k, v]) => [k, v])] : [])]),
      card ? '' : el('p', { class: 'hint' }, 'No registry card: this worker serves a model file.')),
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
    panel('Versions', versions(model),
      isOperator() && model.registry?.previous?.length ? el('button', { type: 'button', id: 'rollback', class: 'danger', onclick: () => act('rollback', {}) }, 'Roll back') : ''));
}

function versions(model) {
  if (model.registryError) return el('p', { class: 'notice error' }, model.registryError);
  if (!model.versions) return el('p', {}, 'This worker serves a model file, not a registry.');
  if (!model.versions.length) return el('p', {}, 'The registry has no version of this model yet.');
  return el('div', { class: 'table-wrap' }, el('table', { class: 'versions' },
    el('thead', {}, el('tr', {}, ['version', 'created', 'metrics', 'signed by', ''].map(h => el('th', {}, h)))),
    el('tbody', {}, model.versions.map(v => el('tr', { class: v.serving ? 'current' : null, dataset: { version: String(v.version) } },
      el('td', {}, String(v.version), v.serving ? el('span', { class: 'badge serving' }, 'serving') : '',
        v.current && !v.serving ? el('span', { class: 'badge flag', title: 'the registry points at it, but it does not serve' }, 'current') : ''),
      el('td', {}, dateTime(v.created)),
      el('td', { class: 'metrics' }, metrics(v.metrics).map(([k, m]) => `${k} ${m}`).join(' · ') || '–'),
      el('td', { class: 'signature', title: v.signatureError ?? v.signedBy ?? '' }, v.signed ? keyId(v.signedBy ?? '') : v.signatureError ? 'unreadable' : 'not signed'),
      el('td', { class: 'version-actions' }, isOperator() && !v.serving ? [
        el('button', { type: 'button', class: 'primary promote', onclick: () => act('promote', { version: v.version }) }, 'Promote'),
        el('button', { type: 'button', class: 'shadow', onclick: () => act('shadow', { version: v.version }) }, 'Shadow'),
      ] : ''))))));
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
