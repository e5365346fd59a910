// Service map: services, and the databases, caches, queues and outside APIs they call, as nodes;
// calls as edges with rate, error rate and latency quantiles.
import { getJSON } from './api.js';
import { el, svg, clear, formatDuration, serviceColor } from './util.js';

const LOOKBACKS = ['5m', '15m', '1h', '6h', '24h', '168h'];

export async function renderMap(root, params, app) {
  const lookback = params.get('lookback') || '1h';
  const picker = el('select', { id: 'map-lookback', onchange: e => app.navigate(`#/map?lookback=${e.target.value}`) },
    LOOKBACKS.map(l => el('option', { value: l, selected: l === lookback }, `last ${l}`)));
  const out = el('div', { class: 'map-box' });
  clear(root).append(el('div', { class: 'map-page' }, el('div', { class: 'map-head' }, el('h2', {}, 'Service map'), picker), out));
  const map = await getJSON(`/api/analysis/service-map?lookback=${encodeURIComponent(lookback)}`);
  const names = map.nodes.map(n => n.service);
  if (!map.edges.length) out.append(el('p', { class: 'hint' }, 'No calls between services in this window.'));

  // Layers: a service sits one column right of its furthest caller (cycles are cut by a bound on passes).
  const layer = new Map(names.map(n => [n, 0]));
  for (let pass = 0; pass < names.length; pass++) {
    let moved = false;
    for (const e of map.edges) {
      if (e.parent === e.child) continue;
      if (layer.get(e.child) < layer.get(e.parent) + 1 && layer.get(e.parent) + 1 < names.length) { layer.set(e.child, layer.get(e.parent) + 1); moved = true; }
    }
    if (!moved) break;
  }
  const columns = [];
  for (const n of names) (columns[layer.get(n)] ||= []).push(n);
  const NW = 170, NH = 44, GX = 230, GY = 36;
  const pos = new Map();
  columns.forEach((col, x) => col.forEach((n, y) => pos.set(n, { x: 20 + x * (NW + GX), y: 20 + y * (NH + GY) })));
  const width = 40 + columns.length * (NW + GX) - GX, height = 40 + Math.max(...columns.map(c => c.length), 1) * (NH + GY) - GY;
  const plot = svg('svg', { viewBox: `0 0 ${width} ${height}`, class: 'service-map', id: 'service-map', width, height },
    svg('defs', {}, svg('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' },
      svg('path', { d: 'M0,0 L10,5 L0,10 z', fill: '#888' }))));
  for (const e of map.edges) {
    const a = pos.get(e.parent), b = pos.get(e.child);
    if (!a || !b) continue;
    const x1 = a.x + NW, y1 = a.y + NH / 2, x2 = b.x, y2 = b.y + NH / 2;
    const back = x2 <= x1;
    const d = back ? `M${a.x + NW / 2},${a.y + NH} C${a.x + NW / 2},${a.y + NH + 60} ${b.x + NW / 2},${b.y + NH + 60} ${b.x + NW / 2},${b.y + NH}`
      : `M${x1},${y1} C${(x1 + x2) / 2},${y1} ${(x1 + x2) / 2},${y2} ${x2},${y2}`;
    const bad = e.errorRate > 0.05;
    const label = `${e.ratePerSecond < 10 ? e.ratePerSecond.toFixed(2) : e.ratePerSecond.toFixed(0)}/s · ${(100 * e.errorRate).toFixed(1)}% err · p95 ${formatDuration(e.p95Nanos / 1000)}`;
    plot.append(svg('g', { class: 'edge' + (bad ? ' bad' : ''), 'data-parent': e.parent, 'data-child': e.child },
      svg('path', { d, 'marker-end': 'url(#arrow)' }, svg('title', {}, `${e.parent} → ${e.child}\n${e.callCount} calls, ${e.errorCount} errors\n${label}`)),
      // Labels sit at the callee's end, where each edge has a row of its own.
      svg('text', back ? { x: (a.x + b.x + NW) / 2, y: Math.max(a.y, b.y) + NH + 50, 'text-anchor': 'middle' }
        : { x: x2 - 10, y: y2 - 6, 'text-anchor': 'end' }, label)));
  }
  for (const n of map.nodes) {
    const p = pos.get(n.service);
    // A leaf (database, cache, queue, outside API) sends no spans: drawn dashed, not a search link.
    const leaf = n.type && n.type !== 'service';
    plot.append(svg('g', { class: 'node' + (leaf ? ' leaf' : ''), 'data-service': n.service, 'data-type': n.type || 'service', transform: `translate(${p.x},${p.y})`,
      onclick: leaf ? null : () => app.navigate(`#/search?service=${encodeURIComponent(n.service)}&searched=1`) },
      svg('rect', { width: NW, height: NH, rx: leaf ? 14 : 6, fill: leaf ? '#f4f5f7' : '#fff', stroke: leaf ? '#888' : serviceColor(n.service), 'stroke-width': leaf ? 2 : 3, 'stroke-dasharray': leaf ? '5 3' : null }),
      svg('text', { x: NW / 2, y: 19, 'text-anchor': 'middle', class: 'node-name' }, n.service.length > 22 ? n.service.slice(0, 21) + '…' : n.service),
      svg('text', { x: NW / 2, y: 35, 'text-anchor': 'middle', class: 'node-sub' }, leaf ? `${n.type} · ${n.callsIn} calls` : `${n.callsIn} in · ${n.callsOut} out`),
      svg('title', {}, n.service)));
  }
  out.append(plot, el('table', { class: 'grid-table', id: 'map-edges' },
    el('thead', {}, el('tr', {}, ['Caller', 'Callee', 'Kind', 'Calls', 'Rate', 'Error rate', 'p50', 'p95', 'p99'].map(h => el('th', {}, h)))),
    el('tbody', {}, map.edges.map(e => el('tr', {}, el('td', {}, e.parent), el('td', {}, e.child), el('td', {}, e.connectionType || 'call'),
      el('td', {}, e.callCount), el('td', {}, `${e.ratePerSecond.toFixed(2)}/s`), el('td', {}, `${(100 * e.errorRate).toFixed(1)}%`),
      ...[e.p50Nanos, e.p95Nanos, e.p99Nanos].map(n => el('td', {}, formatDuration(n / 1000))))))));
}
