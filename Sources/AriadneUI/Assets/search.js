// The search page: the form, the scatter plot and the result list.
import { getJSON } from './api.js';
import { el, svg, clear, formatDuration, formatTime, timeAgo, serviceColor, nsToMicros, parseDuration } from './util.js';

const LOOKBACKS = [['5m', 'Last 5 minutes'], ['15m', 'Last 15 minutes'], ['1h', 'Last hour'], ['2h', 'Last 2 hours'],
  ['6h', 'Last 6 hours'], ['12h', 'Last 12 hours'], ['24h', 'Last 24 hours'], ['48h', 'Last 2 days'],
  ['168h', 'Last 7 days'], ['custom', 'Custom range']];
const SORTS = [['recent', 'Most recent'], ['longest', 'Longest first'], ['spans', 'Most spans'], ['errors', 'Most errors']];

/** `key=value key2="a b"` (Jaeger's tag syntax) as filter-language conditions. */
export function tagsToFilter(text) {
  const out = [];
  const re = /([^\s=]+)\s*=\s*("(?:[^"\\]|\\.)*"|\S+)/g;
  let m;
  let consumed = '';
  while ((m = re.exec(text)) !== null) {
    consumed += m[0];
    const key = m[1];
    let value = m[2];
    if (key === 'error' && value === 'true') { out.push('status = error'); continue; }
    if (value.startsWith('"')) value = JSON.parse(value);
    const literal = /^-?\d+(\.\d+)?$/.test(value) || value === 'true' || value === 'false' ? value : JSON.stringify(value);
    const k = /^[A-Za-z_][\w.\-/]*$/.test(key) ? key : JSON.stringify(key);
    out.push(`.${k} = ${literal}`);
  }
  if (text.trim() && consumed.replace(/\s/g, '').length !== text.replace(/\s/g, '').length) {
    throw new Error(`tags must be key=value pairs separated by spaces, got "${text}"`);
  }
  return out;
}

/** The /api/search query for the form's fields. */
export function searchQuery(f) {
  const p = new URLSearchParams();
  if (f.service) p.set('service', f.service);
  if (f.operation) p.set('operation', f.operation);
  const terms = tagsToFilter(f.tags || '');
  const min = f.minDuration ? parseDuration(f.minDuration) : null;
  const max = f.maxDuration ? parseDuration(f.maxDuration) : null;
  if (f.minDuration && min === null) throw new Error(`min duration "${f.minDuration}" is not a duration such as 100ms or 1.5s`);
  if (f.maxDuration && max === null) throw new Error(`max duration "${f.maxDuration}" is not a duration such as 100ms or 1.5s`);
  if (f.durationOf === 'span') {
    if (f.minDuration) terms.push(`duration >= ${f.minDuration.trim()}`);
    if (f.maxDuration) terms.push(`duration <= ${f.maxDuration.trim()}`);
  } else {
    if (f.minDuration) p.set('minDuration', f.minDuration.trim());
    if (f.maxDuration) p.set('maxDuration', f.maxDuration.trim());
  }
  if (f.filter && f.filter.trim()) terms.push(`(${f.filter.trim().replace(/^\{|\}$/g, '')})`);
  if (terms.length) p.set('q', terms.join(' && '));
  const nowSec = Math.floor(Date.now() / 1000);
  if (f.lookback === 'custom') {
    const start = Date.parse(f.start), end = Date.parse(f.end);
    if (isNaN(start) || isNaN(end)) throw new Error('a custom range needs a start and an end');
    p.set('start', String(Math.floor(start / 1000)));
    p.set('end', String(Math.ceil(end / 1000)));
  } else {
    p.set('end', String(nowSec));
    p.set('start', String(nowSec - Math.round(parseDuration(f.lookback || '1h') / 1e6)));
  }
  p.set('limit', String(f.limit || 20));
  if (f.sort === 'longest') p.set('sort', 'longest');
  return p;
}

export function sortResults(traces, sort) {
  const key = {
    recent: t => -t.startMicros, longest: t => -t.duration, spans: t => -t.spanCount, errors: t => -t.errorCount,
  }[sort] || (t => -t.startMicros);
  return traces.slice().sort((a, b) => key(a) - key(b) || b.startMicros - a.startMicros);
}

/** A search result from /api/search or an analysed file, in one shape. */
export function resultFromSummary(t) {
  const startMicros = nsToMicros(t.startTimeUnixNano);
  return {
    traceID: t.traceID, root: `${t.rootServiceName}: ${t.rootTraceName}`, rootService: t.rootServiceName,
    startMicros, duration: (t.durationNanos ?? 0) / 1000, spanCount: t.spanCount, errorCount: t.errorCount,
    services: t.services || [],
  };
}

export async function renderSearch(root, params, app) {
  const form = Object.fromEntries(params);
  form.lookback ||= '1h';
  form.limit ||= '20';
  form.sort ||= 'recent';
  form.durationOf ||= 'span';
  const services = (await getJSON('/api/services')).data || [];

  const serviceSelect = el('select', { name: 'service', id: 'search-service' },
    el('option', { value: '' }, '– any service –'), services.map(s => el('option', { value: s, selected: s === form.service }, s)));
  const opSelect = el('select', { name: 'operation', id: 'search-operation' }, el('option', { value: '' }, 'all operations'));
  async function loadOperations() {
    clear(opSelect).append(el('option', { value: '' }, 'all operations'));
    if (!serviceSelect.value) return;
    const ops = (await getJSON(`/api/services/${encodeURIComponent(serviceSelect.value)}/operations`)).data || [];
    for (const o of ops) opSelect.append(el('option', { value: o, selected: o === form.operation }, o));
  }
  serviceSelect.addEventListener('change', () => { form.operation = ''; loadOperations(); });
  await loadOperations();

  const field = (label, input, hint) => el('label', { class: 'field' }, el('span', {}, label), input, hint && el('small', {}, hint));
  const input = (name, attrs = {}) => el('input', { name, id: `search-${name}`, value: form[name] || '', autocomplete: 'off', ...attrs });
  const lookback = el('select', { name: 'lookback', id: 'search-lookback' },
    LOOKBACKS.map(([v, label]) => el('option', { value: v, selected: v === form.lookback }, label)));
  const custom = el('div', { class: 'custom-range', hidden: form.lookback !== 'custom' },
    field('From', input('start', { type: 'datetime-local', step: '1' })), field('To', input('end', { type: 'datetime-local', step: '1' })));
  lookback.addEventListener('change', () => { custom.hidden = lookback.value !== 'custom'; });
  const durationOf = el('select', { name: 'durationOf', id: 'search-durationOf' },
    el('option', { value: 'span', selected: form.durationOf === 'span' }, 'of a span'),
    el('option', { value: 'trace', selected: form.durationOf === 'trace' }, 'of the trace'));
  const sort = el('select', { name: 'sort', id: 'search-sort' },
    SORTS.map(([v, label]) => el('option', { value: v, selected: v === form.sort }, label)));
  const error = el('p', { class: 'error', role: 'alert', hidden: true });

  const formEl = el('form', { class: 'search-form', id: 'search-form' },
    el('h2', {}, 'Search'),
    field('Service', serviceSelect), field('Operation', opSelect),
    field('Tags', input('tags', { placeholder: 'http.status_code=500 error=true' }), 'key=value pairs, all on one span'),
    field('Filter', el('textarea', { name: 'filter', id: 'search-filter', rows: 3, placeholder: 'span.http.route =~ "/api/.*" && duration > 100ms' }, form.filter || ''),
      'fields: span.KEY resource.KEY event.KEY .KEY name service status kind duration; operators = != =~ !~ < <= > >= (!= nil: exists); && || ( )'),
    field('Lookback', lookback), custom,
    el('div', { class: 'row2' }, field('Min duration', input('minDuration', { placeholder: 'e.g. 100ms' })),
      field('Max duration', input('maxDuration', { placeholder: 'e.g. 1.2s' }))),
    field('Duration applies', durationOf),
    el('div', { class: 'row2' }, field('Limit', input('limit', { type: 'number', min: 1, max: 1000 })), field('Sort', sort)),
    error,
    el('button', { type: 'submit', class: 'primary', id: 'search-submit' }, 'Find traces'));
  formEl.addEventListener('submit', e => {
    e.preventDefault();
    const data = Object.fromEntries([...new FormData(formEl)].filter(([, v]) => v !== ''));
    data.searched = '1';
    app.navigate('#/search?' + new URLSearchParams(data));
  });

  const results = el('section', { class: 'results', id: 'results' });
  clear(root).append(el('div', { class: 'search-page' }, el('aside', { class: 'search-side' }, formEl), results));
  if (app.focusSearch) { app.focusSearch = false; serviceSelect.focus(); }

  await showResults(results, form, error, app);
  // Marks the results as those of this address (scripts and tests wait for it).
  results.dataset.hash = location.hash;
}

async function showResults(results, form, error, app) {
  if (!form.searched) {
    results.append(el('p', { class: 'hint' }, 'Choose a service or write a filter, then Find traces. Press / to come back here.'));
    return;
  }
  let query;
  try { query = searchQuery(form); } catch (e) { error.hidden = false; error.textContent = e.message; return; }
  results.append(el('p', { class: 'hint' }, 'Searching…'));
  try {
    const found = await getJSON('/api/search?' + query);
    const traces = sortResults((found.traces || []).map(resultFromSummary), form.sort);
    renderResults(results, traces, app, { onOpen: t => `#/trace/${t.traceID}` });
  } catch (e) {
    clear(results).append(el('p', { class: 'error', role: 'alert' }, e.message));
  }
}

/** The scatter plot and list for `traces`; shared by search and by opened files. */
export function renderResults(container, traces, app, { onOpen, compare = true }) {
  clear(container);
  const selected = new Set();
  const compareButton = el('button', { id: 'compare-selected', disabled: true, onclick: () => {
    const [a, b] = [...selected];
    app.navigate(`#/compare?a=${a}&b=${b}`);
  } }, 'Compare selected');
  container.append(el('div', { class: 'results-head' },
    el('h2', {}, `${traces.length} trace${traces.length === 1 ? '' : 's'}`), compare && compareButton));
  if (!traces.length) { container.append(el('p', { class: 'hint' }, 'No traces match. Widen the lookback or loosen the filter.')); return; }
  container.append(scatterPlot(traces, t => app.navigate(onOpen(t))));
  const list = el('ol', { class: 'trace-list', id: 'trace-list' });
  const maxDuration = Math.max(...traces.map(t => t.duration), 1);
  for (const t of traces) {
    const box = compare && el('input', { type: 'checkbox', title: 'select to compare', 'aria-label': 'select to compare', onchange: e => {
      if (e.target.checked) selected.add(t.traceID); else selected.delete(t.traceID);
      compareButton.disabled = selected.size !== 2;
    } });
    list.append(el('li', { class: 'trace-item', dataset: { traceId: t.traceID } },
      el('div', { class: 'trace-item-head' }, box,
        el('a', { href: onOpen(t), class: 'trace-title' }, el('span', { class: 'swatch', style: { background: serviceColor(t.rootService) } }), t.root),
        el('span', { class: 'trace-id' }, t.traceID.slice(0, 7)),
        el('span', { class: 'duration' }, formatDuration(t.duration))),
      el('div', { class: 'duration-bar', style: { width: `${Math.max(0.5, 100 * t.duration / maxDuration)}%` } }),
      el('div', { class: 'trace-item-body' },
        el('span', { class: 'span-count' }, `${t.spanCount} spans`),
        t.errorCount ? el('span', { class: 'error-count' }, `${t.errorCount} errors`) : null,
        el('span', { class: 'services' }, t.services.map(s => el('span', { class: 'chip', style: { borderColor: serviceColor(s) } }, s))),
        el('span', { class: 'when', title: formatTime(t.startMicros) }, `${formatTime(t.startMicros)} · ${timeAgo(t.startMicros)}`))));
  }
  container.append(list);
}

function scatterPlot(traces, open) {
  const W = 800, H = 180, pad = { l: 56, r: 12, t: 10, b: 24 };
  const xs = traces.map(t => t.startMicros), ys = traces.map(t => t.duration);
  let x0 = Math.min(...xs), x1 = Math.max(...xs);
  if (x1 - x0 < 1) { x0 -= 5e5; x1 += 5e5; }
  const y1 = Math.max(...ys, 1) * 1.1;
  const x = v => pad.l + (v - x0) / (x1 - x0) * (W - pad.l - pad.r);
  const y = v => H - pad.b - v / y1 * (H - pad.t - pad.b);
  const maxSpans = Math.max(...traces.map(t => t.spanCount), 1);
  const plot = svg('svg', { viewBox: `0 0 ${W} ${H}`, class: 'scatter', id: 'scatter', role: 'img', 'aria-label': 'traces by start time and duration' });
  for (const f of [0, 0.5, 1]) {
    plot.append(svg('line', { x1: pad.l, x2: W - pad.r, y1: y(y1 * f), y2: y(y1 * f), class: 'grid' }),
      svg('text', { x: pad.l - 6, y: y(y1 * f) + 4, 'text-anchor': 'end' }, formatDuration(y1 * f)));
  }
  plot.append(svg('text', { x: pad.l, y: H - 6 }, formatTime(x0).slice(11, 19)),
    svg('text', { x: W - pad.r, y: H - 6, 'text-anchor': 'end' }, formatTime(x1).slice(11, 19)));
  for (const t of traces) {
    const c = svg('circle', {
      cx: x(t.startMicros), cy: y(t.duration), r: 3 + 5 * Math.sqrt(t.spanCount / maxSpans),
      class: t.errorCount ? 'dot error' : 'dot', dataset: null, 'data-trace-id': t.traceID, onclick: () => open(t),
    }, svg('title', {}, `${t.root}\n${formatDuration(t.duration)} · ${t.spanCount} spans${t.errorCount ? ` · ${t.errorCount} errors` : ''}`));
    plot.append(c);
  }
  return el('div', { class: 'scatter-box' }, plot);
}
