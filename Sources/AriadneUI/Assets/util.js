// Small helpers shared by every view: element building, formatting, colours.

/** Creates an element: el('div', {class: 'x', onclick: f}, child, 'text', ...). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else if (k === 'class') node.className = v;
    else if (k === 'style' && typeof v === 'object') Object.assign(node.style, v);
    else if (k === 'dataset') Object.assign(node.dataset, v);
    else node.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

export function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null) node.setAttribute(k, v);
  }
  for (const c of children.flat()) if (c) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

/** Microseconds since the epoch from a decimal string of nanoseconds, exactly enough for display. */
export function nsToMicros(text) {
  const s = String(text ?? '0');
  if (s.length <= 3) return Number(s) / 1000;
  return Number(s.slice(0, -3)) + Number(s.slice(-3)) / 1000;
}

/** A duration in microseconds, the way Jaeger shows it: 950μs, 12.3ms, 1.52s, 2m 3s. */
export function formatDuration(us) {
  if (!isFinite(us)) return '–';
  if (us < 1) return `${Math.round(us * 1000)}ns`;
  if (us < 1000) return `${+us.toFixed(us < 10 ? 2 : 0)}μs`;
  if (us < 1e6) return `${+(us / 1000).toFixed(us < 1e4 ? 2 : 1)}ms`;
  if (us < 6e7) return `${+(us / 1e6).toFixed(2)}s`;
  const m = Math.floor(us / 6e7);
  return `${m}m ${Math.round((us - m * 6e7) / 1e6)}s`;
}

export function formatTime(us) {
  const d = new Date(us / 1000);
  const pad = (n, w = 2) => String(n).padStart(w, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

export function timeAgo(us) {
  const s = (Date.now() * 1000 - us) / 1e6;
  if (s < 60) return `${Math.max(0, Math.round(s))}s ago`;
  if (s < 3600) return `${Math.round(s / 60)}m ago`;
  if (s < 86400) return `${Math.round(s / 3600)}h ago`;
  return `${Math.round(s / 86400)}d ago`;
}

// A stable colour per service, from a hash of its name: the same service has the same colour in
// every view.
const palette = ['#17b8be', '#f8dca1', '#b7885e', '#ffcb99', '#f89570', '#829ae3', '#e79fd5', '#1e96be',
  '#89dac1', '#b3ad9e', '#12939a', '#ddb27c', '#88572c', '#ff9833', '#ef5d28', '#162a65', '#da70bf', '#125c77',
  '#4dc19c', '#776e57'];
export function serviceColor(name) {
  let h = 2166136261;
  for (let i = 0; i < name.length; i++) { h ^= name.charCodeAt(i); h = Math.imul(h, 16777619); }
  return palette[(h >>> 0) % palette.length];
}

/** Parses a Go-style duration (250ms, 1.5s, 2m, 300us) to microseconds; null if not one. */
export function parseDuration(text) {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ns|us|µs|μs|ms|s|m|h)\s*$/.exec(text || '');
  if (!m) return null;
  const scale = { ns: 1e-3, us: 1, 'µs': 1, 'μs': 1, ms: 1e3, s: 1e6, m: 6e7, h: 3.6e9 }[m[2]];
  return Number(m[1]) * scale;
}

export function clear(node) { while (node.firstChild) node.firstChild.remove(); return node; }
