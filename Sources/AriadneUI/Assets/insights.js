// Insights over many traces: where an endpoint's time goes (bottlenecks on the critical path)
// and where failures begin (error origins).
import { getJSON } from './api.js';
import { el, clear, formatDuration, serviceColor } from './util.js';

const LOOKBACKS = ['15m', '1h', '6h', '24h'];

export async function renderInsights(root, params, app) {
  const service = params.get('service') || '', operation = params.get('operation') || '', lookback = params.get('lookback') || '1h';
  const services = (await getJSON('/api/services')).data || [];
  const ops = service ? ((await getJSON(`/api/services/${encodeURIComponent(service)}/operations`)).data || []) : [];
  const form = el('form', { class: 'insights-form', id: 'insights-form' },
    el('label', { class: 'field' }, el('span', {}, 'Service'), el('select', { name: 'service', id: 'insights-service' },
      el('option', { value: '' }, '– all services –'), services.map(s => el('option', { value: s, selected: s === service }, s)))),
    el('label', { class: 'field' }, el('span', {}, 'Endpoint (operation)'), el('select', { name: 'operation', id: 'insights-operation' },
      el('option', { value: '' }, '– choose –'), ops.map(o => el('option', { value: o, selected: o === operation }, o)))),
    el('label', { class: 'field' }, el('span', {}, 'Lookback'), el('select', { name: 'lookback' },
      LOOKBACKS.map(l => el('option', { value: l, selected: l === lookback }, `last ${l}`)))),
    el('button', { type: 'submit', class: 'primary' }, 'Analyse'));
  form.querySelector('#insights-service').addEventListener('change', () => { form.querySelector('#insights-operation').value = ''; form.requestSubmit(); });
  form.addEventListener('submit', e => {
    e.preventDefault();
    app.navigate('#/insights?' + new URLSearchParams([...new FormData(form)].filter(([, v]) => v !== '')));
  });
  const bottlenecks = el('section', { id: 'bottlenecks' });
  const origins = el('section', { id: 'error-origins' });
  clear(root).append(el('div', { class: 'insights-page' }, el('h2', {}, 'Insights'), form, bottlenecks, origins));

  const q = new URLSearchParams({ lookback });
  if (service) q.set('service', service);
  if (service && operation) {
    q.set('operation', operation);
    const b = await getJSON('/api/analysis/bottlenecks?' + q);
    const max = Math.max(...b.bottlenecks.map(r => r.p95Nanos), 1);
    bottlenecks.append(el('h3', {}, `Bottlenecks of ${service}: ${operation}`),
      el('p', { class: 'hint' }, `Critical-path time per trace over ${b.traces} traces: what to make faster to make this endpoint faster.`),
      el('table', { class: 'grid-table', id: 'bottleneck-table' },
        el('thead', {}, el('tr', {}, ['Service & operation', 'In traces', 'p50', 'p95', 'Share', ''].map(h => el('th', {}, h)))),
        el('tbody', {}, b.bottlenecks.map(r => el('tr', {},
          el('td', {}, el('span', { class: 'swatch', style: { background: serviceColor(r.service) } }), `${r.service}: ${r.operation}`),
          el('td', {}, r.traces), el('td', {}, formatDuration(r.p50Nanos / 1000)), el('td', {}, formatDuration(r.p95Nanos / 1000)),
          el('td', {}, `${(100 * r.share).toFixed(1)}%`),
          el('td', { class: 'bar-cell' }, el('div', { class: 'share-bar', style: { width: `${100 * r.p95Nanos / max}%`, background: serviceColor(r.service) } })))))));
  } else {
    bottlenecks.append(el('p', { class: 'hint' }, 'Choose a service and an endpoint to see its bottlenecks.'));
  }
  const o = await getJSON('/api/analysis/error-origins?' + new URLSearchParams([...q].filter(([k]) => k !== 'operation')));
  origins.append(el('h3', {}, 'Error origins'),
    el('p', { class: 'hint' }, `Where failures began in ${o.traces} failing traces: error spans none of whose children failed.`),
    o.origins.length ? el('table', { class: 'grid-table', id: 'origin-table' },
      el('thead', {}, el('tr', {}, ['Service & operation', 'Exception', 'Count', 'Examples'].map(h => el('th', {}, h)))),
      el('tbody', {}, o.origins.map(r => el('tr', {},
        el('td', {}, el('span', { class: 'swatch', style: { background: serviceColor(r.service) } }), `${r.service}: ${r.operation}`),
        el('td', {}, r.exceptionType || '–'), el('td', {}, r.count),
        el('td', {}, r.exampleTraceIDs.map(id => el('a', { href: `#/trace/${id}`, class: 'example' }, id.slice(0, 7)))))))) :
      el('p', { class: 'hint' }, 'No failing traces in this window.'));
}
