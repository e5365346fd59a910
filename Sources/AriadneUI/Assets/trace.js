// The trace page: summary, timeline (virtualised waterfall with minimap), span detail,
// critical path, statistics and flame graph.
import { el, clear, formatDuration, formatTime, serviceColor } from './util.js';
import { linkVars, linksFor } from './links.js';

const ROW = 26;        // px per timeline row: fixed, so that only visible rows need to exist
const OVERSCAN = 10;   // rows drawn above and below the visible ones
const MAX_SEGMENT_ROWS = 2000;  // a table longer than this is slow to draw and no one reads it
const TABS = [['timeline', 'Timeline'], ['critical', 'Critical path'], ['stats', 'Statistics'], ['flame', 'Flame graph']];

export function renderTrace(root, trace, app, { spanId, tab = 'timeline', base }) {
  const state = { collapsed: new Set(), selected: null, tab, detail: null, showCritical: true };
  const s = trace.summary;
  const errors = trace.spans.filter(x => x.status === 'error').length;
  const cpTotal = trace.criticalPath.reduce((a, c) => a + c.end - c.start, 0);
  const header = el('header', { class: 'trace-header' },
    el('h2', { id: 'trace-title' }, el('span', { class: 'swatch', style: { background: serviceColor(s.rootServiceName) } }),
      `${s.rootServiceName}: ${s.rootTraceName}`, el('span', { class: 'trace-id', id: 'trace-id' }, trace.id)),
    el('dl', { class: 'trace-facts' },
      fact('Start', formatTime(trace.startMicros)), fact('Duration', formatDuration(trace.duration)),
      fact('Spans', String(trace.spans.length), 'trace-span-count'), fact('Services', String(trace.services.length)),
      fact('Depth', String(trace.maxDepth + 1)), fact('Errors', String(errors), 'trace-error-count'),
      fact('Critical path', `${trace.criticalPath.length} segments · ${formatDuration(cpTotal)}`, 'trace-critical-summary')),
    outLinks(app, 'trace', {
      traceId: trace.id, service: s.rootServiceName, startUs: trace.startMicros, endUs: trace.startMicros + trace.duration,
    }, 'trace-links'));
  const tabBar = el('nav', { class: 'tabs', role: 'tablist' }, TABS.map(([id, label]) =>
    el('button', { role: 'tab', id: `tab-${id}`, 'aria-selected': String(id === state.tab), onclick: () => showTab(id) }, label)));
  const body = el('div', { class: 'trace-body' });
  const detail = el('aside', { class: 'detail', id: 'span-detail', hidden: true });
  clear(root).append(el('div', { class: 'trace-page' }, header, tabBar, el('div', { class: 'trace-main' }, body, detail)));

  let timeline = null;
  function showTab(id) {
    state.tab = id;
    for (const b of tabBar.children) b.setAttribute('aria-selected', String(b.id === `tab-${id}`));
    clear(body);
    timeline = null;
    if (id === 'timeline') timeline = renderTimeline(body, trace, state, select);
    else if (id === 'critical') renderCriticalPath(body, trace, select);
    else if (id === 'stats') renderStatistics(body, trace);
    else if (id === 'flame') renderFlame(body, trace, select);
    app.replaceHash(`${base}?${new URLSearchParams({ ...(state.selected ? { span: state.selected.id } : {}), ...(id !== 'timeline' ? { tab: id } : {}) })}`);
  }

  function select(span, { scroll = false } = {}) {
    state.selected = span;
    if (!span) { detail.hidden = true; timeline?.refresh(); showTabHash(); return; }
    // Expand the ancestors, so that the row is visible.
    for (let p = span.parent; p; p = p.parent) state.collapsed.delete(p);
    renderDetail(detail, span, trace, () => select(null), app);
    detail.hidden = false;
    timeline?.refresh(scroll ? span : null);
    showTabHash();
  }
  function showTabHash() {
    const p = {};
    if (state.selected) p.span = state.selected.id;
    if (state.tab !== 'timeline') p.tab = state.tab;
    app.replaceHash(`${base}${Object.keys(p).length ? '?' + new URLSearchParams(p) : ''}`);
  }
  app.onEscape = () => { if (!detail.hidden) { select(null); return true; } return false; };

  showTab(state.tab);
  if (spanId) {
    const span = trace.byID.get(spanId);
    if (span) select(span, { scroll: true });
  }
}

function fact(label, value, id) {
  return el('div', {}, el('dt', {}, label), el('dd', { id }, value));
}

/** The rows shown: depth-first order, without the descendants of collapsed spans. */
function visibleRows(trace, collapsed) {
  if (!collapsed.size) return trace.spans;
  const out = [];
  let skipDepth = -1;
  for (const s of trace.spans) {
    if (skipDepth >= 0 && s.depth > skipDepth) continue;
    skipDepth = -1;
    out.push(s);
    if (collapsed.has(s) && s.children.length) skipDepth = s.depth;
  }
  return out;
}

function renderTimeline(container, trace, state, select) {
  const total = Math.max(trace.duration, 1e-3);
  const minimap = el('canvas', { class: 'minimap', id: 'minimap', height: 60 });
  const viewport = el('div', { class: 'minimap-viewport' });
  const ticks = el('div', { class: 'tl-ticks' }, el('div', { class: 'tl-name' }, 'Service & operation'),
    el('div', { class: 'tl-bar-area' }, [0, 0.25, 0.5, 0.75, 1].map(f =>
      el('span', { class: 'tick', style: { left: `${f * 100}%` } }, formatDuration(total * f)))));
  const spacer = el('div', { class: 'tl-spacer' });
  const scroller = el('div', { class: 'tl-scroll', id: 'timeline', tabindex: 0 }, spacer);
  const toggle = el('label', { class: 'cp-toggle' }, el('input', { type: 'checkbox', id: 'show-critical', checked: state.showCritical,
    onchange: e => { state.showCritical = e.target.checked; draw(); } }), 'Highlight critical path');
  const actions = el('div', { class: 'tl-actions' }, toggle,
    el('button', { onclick: () => { state.collapsed.clear(); update(); } }, 'Expand all'),
    el('button', { onclick: () => { for (const s of trace.spans) if (s.depth >= 1 && s.children.length) state.collapsed.add(s); update(); } }, 'Collapse to depth 1'));
  container.append(actions, el('div', { class: 'minimap-box' }, minimap, viewport), ticks, scroller);

  let rows = visibleRows(trace, state.collapsed);
  let frame = 0;

  function drawMinimap() {
    const w = minimap.clientWidth || 800, h = 60;
    minimap.width = w;
    const ctx = minimap.getContext('2d');
    ctx.clearRect(0, 0, w, h);
    const rh = Math.max(h / rows.length, 0.5);
    for (let i = 0; i < rows.length; i++) {
      const s = rows[i];
      ctx.fillStyle = s.status === 'error' ? '#d33' : serviceColor(s.service);
      ctx.fillRect(s.start / total * w, i * h / rows.length, Math.max(1, (s.end - s.start) / total * w), rh);
    }
    placeViewport();
  }
  function placeViewport() {
    const h = 60, all = rows.length * ROW || 1;
    viewport.style.top = `${scroller.scrollTop / all * h}px`;
    viewport.style.height = `${Math.max(3, Math.min(1, scroller.clientHeight / all) * h)}px`;
  }
  function scrollFromMinimap(e) {
    const r = minimap.getBoundingClientRect();
    const f = (e.clientY - r.top) / r.height;
    scroller.scrollTop = f * rows.length * ROW - scroller.clientHeight / 2;
  }
  // Dragging listens on the window only while the button is down, so no listener outlives the view.
  minimap.addEventListener('mousedown', e => {
    scrollFromMinimap(e);
    const up = () => { window.removeEventListener('mousemove', scrollFromMinimap); window.removeEventListener('mouseup', up); };
    window.addEventListener('mousemove', scrollFromMinimap);
    window.addEventListener('mouseup', up);
  });

  function row(s, i) {
    const left = s.start / total * 100, width = Math.max((s.end - s.start) / total * 100, 0.05);
    const bar = el('div', { class: 'tl-bar' + (s.status === 'error' ? ' error' : ''), style: { left: `${left}%`, width: `${width}%`, background: serviceColor(s.service) } });
    if (state.showCritical && s.critical.length) {
      for (const [a, b] of s.critical) {
        bar.append(el('div', { class: 'cp', style: {
          left: `${(a - s.start) / Math.max(s.end - s.start, 1e-3) * 100}%`, width: `${Math.max((b - a) / Math.max(s.end - s.start, 1e-3) * 100, 0.5)}%` } }));
      }
    }
    const hasKids = s.children.length > 0;
    const indent = Math.min(s.depth, 40) * 14;
    return el('div', {
      class: 'tl-row' + (state.selected === s ? ' selected' : '') + (s.critical.length ? ' critical' : ''),
      style: { top: `${i * ROW}px` }, dataset: { spanId: s.id, depth: String(s.depth) },
      onclick: () => select(state.selected === s ? null : s),
    },
      el('div', { class: 'tl-name', style: { paddingLeft: `${indent + 4}px` }, title: `${s.service}: ${s.name}` },
        hasKids ? el('button', { class: 'twisty', 'aria-label': state.collapsed.has(s) ? 'expand' : 'collapse', onclick: e => {
          e.stopPropagation();
          if (state.collapsed.has(s)) state.collapsed.delete(s); else state.collapsed.add(s);
          update();
        } }, state.collapsed.has(s) ? '▸' : '▾') : el('span', { class: 'twisty-space' }),
        s.depth > 40 ? el('span', { class: 'depth' }, `${s.depth}`) : null,
        el('span', { class: 'swatch', style: { background: serviceColor(s.service) } }),
        el('span', { class: 'svc' }, s.service), ' ', el('span', { class: 'op' }, s.name),
        s.status === 'error' ? el('span', { class: 'err-mark', title: 'error' }, '!') : null),
      el('div', { class: 'tl-bar-area' }, bar,
        el('span', labelPlace(left, width), formatDuration(s.end - s.start))));
  }

  function draw() {
    frame = 0;
    const first = Math.max(0, Math.floor(scroller.scrollTop / ROW) - OVERSCAN);
    const last = Math.min(rows.length, Math.ceil((scroller.scrollTop + scroller.clientHeight) / ROW) + OVERSCAN);
    const fragment = document.createDocumentFragment();
    for (let i = first; i < last; i++) fragment.append(row(rows[i], i));
    spacer.replaceChildren(fragment);
    placeViewport();
  }
  function update() {
    rows = visibleRows(trace, state.collapsed);
    spacer.style.height = `${rows.length * ROW}px`;
    drawMinimap();
    draw();
  }
  scroller.addEventListener('scroll', () => { if (!frame) frame = requestAnimationFrame(draw); });
  const resize = new ResizeObserver(() => { drawMinimap(); draw(); });
  resize.observe(scroller);
  update();

  return {
    refresh(scrollTo) {
      rows = visibleRows(trace, state.collapsed);
      spacer.style.height = `${rows.length * ROW}px`;
      if (scrollTo) {
        const i = rows.indexOf(scrollTo);
        if (i >= 0) scroller.scrollTop = Math.max(0, i * ROW - scroller.clientHeight / 3);
        drawMinimap();
      }
      draw();
    },
  };
}

/** A duration label right of its bar, left of it when the bar ends near the edge, or inside a wide bar. */
function labelPlace(left, width) {
  if (left + width < 88) return { class: 'tl-label', style: { left: `${left + width + 0.5}%` } };
  if (left > 12) return { class: 'tl-label', style: { right: `${100 - left + 0.5}%` } };
  return { class: 'tl-label inside', style: { right: `${100 - left - width + 0.5}%` } };
}

/** The configured links of a scope as a row of anchors that open in a new tab, or nothing. */
function outLinks(app, scope, what, id) {
  const links = linksFor(app.ui, scope, linkVars(what, app.ui?.linkTimePaddingMicros || 0));
  if (!links.length) return null;
  return el('nav', { class: 'out-links', id }, links.map(l =>
    el('a', { href: l.href, target: '_blank', rel: 'noopener noreferrer', class: 'out-link' }, l.text)));
}

function renderDetail(panel, s, trace, close, app) {
  const table = (rows, id) => rows.length
    ? el('table', { class: 'kv', id }, el('tbody', {}, rows.map(([k, v]) => el('tr', {}, el('th', {}, k), el('td', {}, v)))))
    : el('p', { class: 'hint' }, 'none');
  const link = `${location.origin}${location.pathname}#/trace/${trace.id}?span=${s.id}`;
  clear(panel).append(
    el('div', { class: 'detail-head' },
      el('h3', { id: 'detail-title' }, el('span', { class: 'swatch', style: { background: serviceColor(s.service) } }), `${s.service}: ${s.name}`),
      el('button', { class: 'close', 'aria-label': 'close (Escape)', title: 'close (Escape)', onclick: close }, '×')),
    table([
      ['Span ID', el('code', { id: 'detail-span-id' }, s.id)],
      ['Parent', s.parent ? el('a', { href: `#/trace/${trace.id}?span=${s.parent.id}` }, `${s.parent.service}: ${s.parent.name}`) : (s.parentId ? `${s.parentId} (not in trace)` : 'root')],
      ['Kind', s.kind || 'unspecified'],
      ['Start', `${formatDuration(s.start)} after trace start`],
      ['Duration', el('span', { id: 'detail-duration' }, formatDuration(s.end - s.start))],
      ['Status', el('span', { id: 'detail-status', class: s.status === 'error' ? 'error-text' : '' }, s.status + (s.statusMessage ? `: ${s.statusMessage}` : ''))],
      ['On critical path', el('span', { id: 'detail-critical' }, s.critical.length ? formatDuration(s.critical.reduce((a, [x, y]) => a + y - x, 0)) : 'no')],
      ['Scope', s.scope || '–'],
      ...(s.traceState ? [['Trace state', s.traceState]] : []),
      ['Link', el('a', { href: link, id: 'detail-link' }, 'deep link to this span')],
      ...linkRows(app, s, trace),
    ]),
    el('h4', {}, `Attributes (${s.attributes.length})`), table(s.attributes, 'detail-attributes'),
    el('h4', {}, `Resource (${s.resource.length})`), table(s.resource, 'detail-resource'),
    el('h4', {}, `Events (${s.events.length})`),
    s.events.length ? el('ol', { class: 'events', id: 'detail-events' }, s.events.map(e =>
      el('li', {}, el('div', {}, el('strong', {}, e.name || '(unnamed)'), ` at ${formatDuration(e.time)}`), table(e.attributes)))) : el('p', { class: 'hint' }, 'none'),
    el('h4', {}, `Links (${s.links.length})`),
    s.links.length ? el('ul', { class: 'links', id: 'detail-links' }, s.links.map(l =>
      el('li', {}, el('a', { href: `#/trace/${l.traceId}?span=${l.spanId}` }, `${l.traceId} / ${l.spanId}`), l.attributes.length ? table(l.attributes) : null))) : el('p', { class: 'hint' }, 'none'));
}

/** The span's and its service's configured links, as detail rows. */
function linkRows(app, s, trace) {
  const what = {
    traceId: trace.id, spanId: s.id, service: s.service, operation: s.name,
    startUs: trace.startMicros + s.start, endUs: trace.startMicros + s.end,
  };
  return [['span', 'Span links', 'detail-span-links'], ['service', `${s.service} links`, 'detail-service-links']]
    .map(([scope, label, id]) => [label, outLinks(app, scope, what, id)]).filter(([, nav]) => nav);
}

function renderCriticalPath(container, trace, select) {
  const total = Math.max(trace.duration, 1e-3);
  const perSpan = new Map();
  for (const c of trace.criticalPath) perSpan.set(c.span, (perSpan.get(c.span) || 0) + c.end - c.start);
  const top = [...perSpan].sort((a, b) => b[1] - a[1]).slice(0, 5);
  container.append(
    el('p', { class: 'hint' }, 'The critical path: the chain of work that determined the trace\'s duration. Shortening anything else does not make the request faster.'),
    el('h3', {}, 'Largest contributors'),
    el('ol', { class: 'cp-top' }, top.map(([s, d]) => el('li', {}, el('a', { href: '#', onclick: e => { e.preventDefault(); select(s); } }, `${s.service}: ${s.name}`), ` ${formatDuration(d)} (${(100 * d / total).toFixed(1)}%)`))),
    el('h3', {}, 'Segments in time order'),
    el('table', { class: 'grid-table', id: 'critical-path' },
      el('thead', {}, el('tr', {}, ['Start', 'Length', 'Share', 'Service', 'Operation'].map(h => el('th', {}, h)))),
      el('tbody', {}, trace.criticalPath.slice(0, MAX_SEGMENT_ROWS).map(c => el('tr', { dataset: { spanId: c.span.id }, onclick: () => select(c.span) },
        el('td', {}, formatDuration(c.start)), el('td', {}, formatDuration(c.end - c.start)),
        el('td', {}, `${(100 * (c.end - c.start) / total).toFixed(1)}%`),
        el('td', {}, el('span', { class: 'swatch', style: { background: serviceColor(c.span.service) } }), c.span.service),
        el('td', {}, c.span.name))))),
    trace.criticalPath.length > MAX_SEGMENT_ROWS
      ? el('p', { class: 'hint' }, `and ${trace.criticalPath.length - MAX_SEGMENT_ROWS} more segments (the timeline shows them all)`) : null);
}

function renderStatistics(container, trace) {
  const columns = [['service', 'Service'], ['operation', 'Operation'], ['count', 'Count'], ['errorCount', 'Errors'],
    ['totalNanos', 'Total'], ['avg', 'Average'], ['selfNanos', 'Self time'], ['minNanos', 'Min'], ['maxNanos', 'Max']];
  const rows = trace.statistics.map(r => ({ ...r, avg: r.totalNanos / Math.max(r.count, 1) }));
  let sortKey = 'selfNanos', desc = true;
  const table = el('table', { class: 'grid-table', id: 'statistics' });
  function draw() {
    rows.sort((a, b) => (typeof a[sortKey] === 'string' ? a[sortKey].localeCompare(b[sortKey]) : a[sortKey] - b[sortKey]) * (desc ? -1 : 1));
    clear(table).append(
      el('thead', {}, el('tr', {}, columns.map(([k, label]) => el('th', { class: 'sortable', onclick: () => { desc = sortKey === k ? !desc : true; sortKey = k; draw(); } },
        label + (k === sortKey ? (desc ? ' ▾' : ' ▴') : ''))))),
      el('tbody', {}, rows.map(r => el('tr', {}, columns.map(([k]) => el('td', {},
        k === 'service' ? [el('span', { class: 'swatch', style: { background: serviceColor(r.service) } }), r.service]
          : /Nanos$|^avg$/.test(k) ? formatDuration(r[k] / 1000) : String(r[k])))))));
  }
  draw();
  container.append(el('p', { class: 'hint' }, 'Self time is time in a span not covered by its children.'), table);
}

function renderFlame(container, trace, select) {
  const H = 18;
  const depth = Math.min(trace.maxDepth + 1, 400);
  const canvas = el('canvas', { class: 'flame', id: 'flame', height: depth * H });
  const tip = el('div', { class: 'flame-tip', hidden: true });
  container.append(el('p', { class: 'hint' }, 'Each span is drawn under its parent, as wide as it is long. Click one for its details.'),
    el('div', { class: 'flame-box' }, canvas, tip));
  const total = Math.max(trace.duration, 1e-3);
  function draw() {
    const w = canvas.clientWidth || 800;
    canvas.width = w;
    const ctx = canvas.getContext('2d');
    ctx.font = '11px system-ui, sans-serif';
    ctx.textBaseline = 'middle';
    for (const s of trace.spans) {
      if (s.depth >= depth) continue;
      const x = s.start / total * w, width = Math.max(1, (s.end - s.start) / total * w);
      ctx.fillStyle = serviceColor(s.service);
      ctx.fillRect(x, s.depth * H, width, H - 1);
      if (s.status === 'error') { ctx.strokeStyle = '#c00'; ctx.strokeRect(x + 0.5, s.depth * H + 0.5, width - 1, H - 2); }
      if (width > 40) {
        ctx.fillStyle = '#111';
        ctx.save();
        ctx.beginPath(); ctx.rect(x, s.depth * H, width, H); ctx.clip();
        ctx.fillText(`${s.name}`, x + 3, s.depth * H + H / 2);
        ctx.restore();
      }
    }
  }
  function hit(e) {
    const r = canvas.getBoundingClientRect();
    const d = Math.floor((e.clientY - r.top) / H), t = (e.clientX - r.left) / r.width * total;
    let best = null;
    for (const s of trace.spans) if (s.depth === d && s.start <= t && t <= s.end && (!best || s.end - s.start < best.end - best.start)) best = s;
    return best;
  }
  canvas.addEventListener('click', e => { const s = hit(e); if (s) select(s); });
  canvas.addEventListener('mousemove', e => {
    const s = hit(e);
    tip.hidden = !s;
    if (s) {
      tip.textContent = `${s.service}: ${s.name} · ${formatDuration(s.end - s.start)}`;
      tip.style.left = `${e.offsetX + 12}px`;
      tip.style.top = `${e.offsetY + 12}px`;
    }
  });
  new ResizeObserver(draw).observe(canvas);
  draw();
}
