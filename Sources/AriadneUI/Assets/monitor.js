// Monitor: RED metrics counted at ingest (before sampling) per service, or per operation of one
// service, with a p95 sparkline; anomalies against each series' trailing baseline; alerts and
// objectives; and a comparison of two populations (attribute values or windows).
import { getJSON } from './api.js';
import { el, svg, clear, serviceColor } from './util.js';

const LOOKBACKS = ['15m', '1h', '6h', '24h'];
const pct = x => `${(100 * x).toFixed(2)}%`;
const ms = x => x >= 1000 ? `${(x / 1000).toFixed(2)} s` : `${x.toFixed(x < 10 ? 2 : 1)} ms`;

function sparkline(series, field) {
  const w = 120, h = 24, values = series.map(p => p[field]);
  const max = Math.max(...values, 1e-9);
  const y = v => h - 2 - (v / max) * (h - 4);
  // One window so far: a level line rather than an invisible point.
  const points = values.length === 1 ? `0,${y(values[0])} ${w},${y(values[0])}` : values.map((v, i) => `${(i * w) / (values.length - 1)},${y(v)}`).join(' ');
  return svg('svg', { class: 'spark', width: w, height: h, viewBox: `0 0 ${w} ${h}` }, svg('polyline', { points, fill: 'none', stroke: '#3867d6', 'stroke-width': 1.5 }));
}

export async function renderMonitor(root, params, app) {
  const service = params.get('service') || '', lookback = params.get('lookback') || '1h';
  const form = el('form', { class: 'insights-form', id: 'monitor-form' },
    el('label', { class: 'field' }, el('span', {}, 'Lookback'), el('select', { name: 'lookback', id: 'monitor-lookback' },
      LOOKBACKS.map(l => el('option', { value: l, selected: l === lookback }, `last ${l}`)))));
  form.querySelector('select').addEventListener('change', () => {
    const q = new URLSearchParams({ lookback: form.querySelector('select').value });
    if (service) q.set('service', service);
    app.navigate('#/monitor?' + q);
  });
  const red = el('section', { id: 'red' }), anomalies = el('section', { id: 'anomalies' });
  const alerts = el('section', { id: 'alerts' }), populations = el('section', { id: 'populations' });
  const forecast = el('section', { id: 'forecast' });
  clear(root).append(el('div', { class: 'insights-page monitor-page' },
    el('h2', {}, service ? ['Monitor · ', el('a', { href: `#/monitor?lookback=${lookback}` }, 'all services'), ` · ${service}`] : 'Monitor'),
    form, red, forecast, anomalies, alerts, populations));

  const q = new URLSearchParams({ lookback });
  if (service) q.set('service', service);
  const [r, a, al, slos] = await Promise.all([
    getJSON('/api/analysis/red?' + q), getJSON('/api/analysis/anomalies?' + q), getJSON('/api/alerts'), getJSON('/api/slos')]);
  const rows = service ? r.operations : r.services;
  red.append(el('h3', {}, service ? `Operations of ${service}` : 'Services'),
    el('p', { class: 'hint' }, `Every span counted as it arrived, before sampling, in ${r.intervalSeconds} s windows.`),
    rows.length ? el('table', { class: 'grid-table', id: 'red-table' },
      el('thead', {}, el('tr', {}, [service ? 'Operation' : 'Service', service ? 'Kind' : null, 'Calls', 'Rate', 'Errors', 'p50', 'p95', 'p99', 'p95 over time']
        .filter(h => h !== null).map(h => el('th', {}, h)))),
      el('tbody', {}, rows.map(x => el('tr', { 'data-key': service ? x.operation : x.service },
        el('td', {}, el('span', { class: 'swatch', style: { background: serviceColor(x.service) } }),
          service ? x.operation : el('a', { href: `#/monitor?service=${encodeURIComponent(x.service)}&lookback=${lookback}` }, x.service)),
        service ? el('td', {}, x.spanKind || '–') : null,
        el('td', { class: 'calls' }, x.calls), el('td', {}, `${x.ratePerSecond.toFixed(2)}/s`),
        el('td', { class: x.errorRate > 0.05 ? 'bad' : '' }, pct(x.errorRate)),
        el('td', {}, ms(x.p50Ms)), el('td', {}, ms(x.p95Ms)), el('td', {}, ms(x.p99Ms)),
        el('td', {}, sparkline(x.series, 'p95Ms'))))))
      : el('p', { class: 'hint' }, 'No spans in this window.'));

  anomalies.append(el('h3', {}, 'Anomalies'),
    el('p', { class: 'hint' }, 'Latency (p95) and error-rate shifts against the trailing baseline (median and MAD).'),
    a.anomalies.length ? el('table', { class: 'grid-table', id: 'anomaly-table' },
      el('thead', {}, el('tr', {}, ['Service & operation', 'Metric', 'Since', 'Baseline', 'Observed', 'Score', 'Examples'].map(h => el('th', {}, h)))),
      el('tbody', {}, a.anomalies.map(x => el('tr', {},
        el('td', {}, `${x.service}: ${x.operation}`), el('td', {}, x.metric + (x.ongoing ? ' (ongoing)' : '')),
        el('td', {}, new Date(Number(BigInt(x.start) / 1000000n)).toLocaleTimeString()),
        el('td', {}, x.metric === 'latency' ? ms(x.baseline) : pct(x.baseline)),
        el('td', {}, x.metric === 'latency' ? ms(x.observed) : pct(x.observed)),
        el('td', {}, x.score.toFixed(1)),
        el('td', {}, x.exampleTraceIDs.map(id => el('a', { href: `#/trace/${id}`, class: 'example' }, id.slice(0, 7))))))))
      : el('p', { class: 'hint' }, 'Nothing unusual in this window.'));

  alerts.append(el('h3', {}, 'Alerts and objectives'),
    al.alerts.length ? el('table', { class: 'grid-table', id: 'alert-table' },
      el('thead', {}, el('tr', {}, ['Alert', 'Service', 'State', 'Summary'].map(h => el('th', {}, h)))),
      el('tbody', {}, al.alerts.map(x => el('tr', {}, el('td', {}, x.name), el('td', {}, x.service),
        el('td', { class: `state-${x.state}` }, x.state), el('td', {}, x.summary)))))
      : el('p', { class: 'hint' }, al.rules.length ? 'No alert evaluated yet.' : 'No alerts configured (analytics.alerts in the configuration file).'),
    slos.slos.length ? el('table', { class: 'grid-table', id: 'slo-table' },
      el('thead', {}, el('tr', {}, ['Objective', 'Service', 'Target', 'Compliance', 'Budget left', 'Burn 5m / 1h / 6h'].map(h => el('th', {}, h)))),
      el('tbody', {}, slos.slos.map(s => el('tr', {}, el('td', {}, s.name), el('td', {}, s.service),
        el('td', {}, `${pct(s.objective)}${s.latencyThresholdMs ? ` under ${ms(s.latencyThresholdMs)}` : ''} over ${s.window}`),
        el('td', { class: s.compliance < s.objective ? 'bad' : '' }, pct(s.compliance)),
        el('td', { class: s.errorBudgetRemaining < 0 ? 'bad' : '' }, pct(s.errorBudgetRemaining)),
        el('td', {}, ['5m', '1h', '6h'].map(k => s.burnRates[k].toFixed(2)).join(' / '))))))
      : null);

  renderPopulations(populations, service, lookback);
  if (service) {
    const f = await getJSON('/api/analysis/forecast?' + new URLSearchParams({ service, lookback, horizon: 10 }));
    forecast.append(el('h3', {}, 'Forecast'),
      el('p', { class: 'hint' }, `The next ten ${f.intervalSeconds} s windows by Holt's linear smoothing; the band is a 95% interval.`),
      el('div', { class: 'forecast-charts' }, forecastChart('Throughput (calls/s)', f.throughput, 'forecast-throughput'), forecastChart('p95 (ms)', f.p95Ms, 'forecast-p95')));
  }
}

// History as a line, the forecast dashed, its interval as a band.
function forecastChart(title, data, id) {
  const w = 420, h = 120, pad = 4;
  const all = [...data.history.map(p => p.value), ...data.forecast.map(p => p.upper)];
  const max = Math.max(...all, 1e-9);
  const n = data.history.length + data.forecast.length;
  const x = i => pad + (n > 1 ? (i * (w - 2 * pad)) / (n - 1) : 0), y = v => h - pad - (Math.max(0, v) / max) * (h - 2 * pad);
  const hist = data.history.map((p, i) => `${x(i)},${y(p.value)}`).join(' ');
  const off = data.history.length;
  const ahead = data.forecast.map((p, i) => `${x(off + i)},${y(p.value)}`).join(' ');
  const band = [...data.forecast.map((p, i) => `${x(off + i)},${y(p.upper)}`), ...data.forecast.map((p, i) => `${x(off + i)},${y(p.lower)}`).reverse()].join(' ');
  return el('figure', { class: 'forecast', id },
    el('figcaption', {}, title),
    data.forecast.length ? svg('svg', { width: w, height: h, viewBox: `0 0 ${w} ${h}` },
      svg('polygon', { points: band, fill: '#3867d633' }),
      svg('polyline', { points: hist, fill: 'none', stroke: '#3867d6', 'stroke-width': 1.5 }),
      svg('polyline', { points: ahead, fill: 'none', stroke: '#3867d6', 'stroke-width': 1.5, 'stroke-dasharray': '4 3' }))
      : el('p', { class: 'hint' }, 'Needs at least three windows of history.'));
}

function renderPopulations(box, service, lookback) {
  const form = el('form', { class: 'insights-form', id: 'population-form' },
    el('label', { class: 'field' }, el('span', {}, 'Attribute (empty: windows)'), el('input', { name: 'attribute', placeholder: 'service.version' })),
    el('label', { class: 'field' }, el('span', {}, 'Baseline'), el('input', { name: 'a', placeholder: '1.4.0 or now-2h..now-1h', required: true })),
    el('label', { class: 'field' }, el('span', {}, 'Candidate'), el('input', { name: 'b', placeholder: '1.5.0 or now-1h..now', required: true })),
    el('button', { type: 'submit', class: 'primary' }, 'Compare'));
  const out = el('div', { id: 'population-result' });
  box.append(el('h3', {}, 'Compare two populations'),
    el('p', { class: 'hint' }, 'Per operation: latency quantiles with a Mann–Whitney test, error rates and span counts.'), form, out);
  form.addEventListener('submit', async e => {
    e.preventDefault();
    const q = new URLSearchParams([...new FormData(form)].filter(([, v]) => v !== ''));
    q.set('lookback', lookback);
    if (service) q.set('service', service);
    clear(out);
    try {
      const c = await getJSON('/api/analysis/populations?' + q);
      const change = x => x === null ? '–' : `${x >= 0 ? '+' : ''}${(100 * x).toFixed(1)}%`;
      out.append(el('p', {}, `Baseline ${c.a.traces} traces, candidate ${c.b.traces} traces.`),
        el('table', { class: 'grid-table', id: 'population-table' },
          el('thead', {}, el('tr', {}, ['Service & operation', 'Spans A / B', 'p50 A → B', 'p95 A → B', 'p95 change', 'p-value', 'Errors A / B'].map(h => el('th', {}, h)))),
          el('tbody', {}, c.operations.map(o => el('tr', { class: o.latencyPValue !== null && o.latencyPValue < 0.05 && o.change.p95 > 0.1 ? 'regressed' : '' },
            el('td', {}, `${o.service}: ${o.operation}`), el('td', {}, `${o.a.spans} / ${o.b.spans}`),
            el('td', {}, `${ms(o.a.p50Nanos / 1e6)} → ${ms(o.b.p50Nanos / 1e6)}`), el('td', {}, `${ms(o.a.p95Nanos / 1e6)} → ${ms(o.b.p95Nanos / 1e6)}`),
            el('td', {}, change(o.change.p95)), el('td', {}, o.latencyPValue === null ? '–' : o.latencyPValue.toFixed(4)),
            el('td', {}, `${pct(o.a.errorRate)} / ${pct(o.b.errorRate)}`))))));
    } catch (err) {
      out.append(el('p', { class: 'error', role: 'alert' }, err.message));
    }
  });
}
