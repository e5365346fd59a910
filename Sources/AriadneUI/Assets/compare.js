// Compare: the structural difference of two traces (spans matched by service/operation path).
import { getJSON } from './api.js';
import { el, clear, formatDuration, serviceColor, nsToMicros } from './util.js';

export async function renderCompare(root, params, app) {
  const a = params.get('a') || '', b = params.get('b') || '';
  const form = el('form', { class: 'compare-form', id: 'compare-form' },
    el('label', { class: 'field' }, el('span', {}, 'Trace A'), el('input', { name: 'a', value: a, placeholder: 'trace id', id: 'compare-a' })),
    el('label', { class: 'field' }, el('span', {}, 'Trace B'), el('input', { name: 'b', value: b, placeholder: 'trace id', id: 'compare-b' })),
    el('button', { type: 'submit', class: 'primary' }, 'Compare'));
  form.addEventListener('submit', e => {
    e.preventDefault();
    app.navigate('#/compare?' + new URLSearchParams(new FormData(form)));
  });
  const out = el('section', { class: 'compare-out', id: 'compare' });
  clear(root).append(el('div', { class: 'compare-page' }, el('h2', {}, 'Compare two traces'), form, out));
  if (!a || !b) {
    out.append(el('p', { class: 'hint' }, 'Give two trace ids, or select two traces in the search results and press Compare selected.'));
    return;
  }
  out.append(el('p', { class: 'hint' }, 'Comparing…'));
  const diff = await getJSON(`/api/analysis/compare?a=${encodeURIComponent(a)}&b=${encodeURIComponent(b)}`);
  const counts = { added: 0, removed: 0, changed: 0, same: 0 };
  for (const n of diff.nodes) counts[n.change]++;
  const side = (label, t) => el('div', { class: 'compare-side' },
    el('h3', {}, `${label}: `, el('a', { href: `#/trace/${t.traceID}` }, `${t.rootServiceName}: ${t.rootTraceName}`)),
    el('p', {}, `${formatDuration(t.durationNanos / 1000)} · ${t.spanCount} spans · ${t.errorCount} errors · `,
      el('code', {}, t.traceID)));
  const delta = n => {
    if (!n.countA || !n.countB) return '';
    const d = (n.meanNanosB - n.meanNanosA) / 1000;
    const pct = n.meanNanosA ? ` (${d >= 0 ? '+' : ''}${(100 * d * 1000 / n.meanNanosA).toFixed(0)}%)` : '';
    return `${d >= 0 ? '+' : '−'}${formatDuration(Math.abs(d))}${pct}`;
  };
  clear(out).append(
    el('div', { class: 'compare-sides' }, side('A', diff.a), side('B', diff.b)),
    el('p', { class: 'compare-legend', id: 'compare-counts' },
      ['added', 'removed', 'changed', 'same'].map(k => el('span', { class: `badge ${k}` }, `${counts[k]} ${k}`))),
    el('table', { class: 'grid-table diff', id: 'diff-table' },
      el('thead', {}, el('tr', {}, ['Service & operation', 'Count A', 'Count B', 'Mean A', 'Mean B', 'Δ mean', 'Errors A→B'].map(h => el('th', {}, h)))),
      el('tbody', {}, diff.nodes.map(n => el('tr', { class: `diff-${n.change}`, dataset: { change: n.change } },
        el('td', { style: { paddingLeft: `${Math.min(n.depth, 30) * 14 + 6}px` } },
          el('span', { class: 'swatch', style: { background: serviceColor(n.service) } }), `${n.service}: ${n.operation}`,
          n.change !== 'same' ? el('span', { class: `badge ${n.change}` }, n.change) : null),
        el('td', {}, n.countA), el('td', {}, n.countB),
        el('td', {}, n.countA ? formatDuration(n.meanNanosA / 1000) : '–'), el('td', {}, n.countB ? formatDuration(n.meanNanosB / 1000) : '–'),
        el('td', {}, delta(n)), el('td', {}, `${n.errorsA} → ${n.errorsB}`))))));
}
