// The query API, and turning its answers into the model the views draw.
import { nsToMicros } from './util.js';

export class APIError extends Error {
  constructor(message, status) { super(message); this.status = status; }
}

/** Fetches JSON from the server. Every request says it comes from our own scripts
 * (`X-Requested-With`), which a secured server requires of signed-in changes (CSRF). */
export async function getJSON(path, options = {}) {
  const r = await fetch(path, { ...options, headers: { 'X-Requested-With': 'ariadne', ...(options.headers || {}) } });
  const text = await r.text();
  let body;
  try { body = JSON.parse(text); } catch { body = null; }
  if (!r.ok) {
    const msg = body?.error?.message || body?.message || body?.errors?.[0]?.msg || text || r.statusText;
    throw new APIError(`${r.status}: ${msg}`, r.status);
  }
  return body;
}

const KIND = ['', 'internal', 'server', 'client', 'producer', 'consumer'];
const STATUS = ['unset', 'ok', 'error'];

/** The value of an OTLP JSON AnyValue, as text for display. */
export function anyValue(v) {
  if (!v) return '';
  if ('stringValue' in v) return v.stringValue;
  if ('intValue' in v) return String(v.intValue);
  if ('doubleValue' in v) return String(v.doubleValue);
  if ('boolValue' in v) return String(v.boolValue);
  if ('bytesValue' in v) return v.bytesValue;
  if ('arrayValue' in v) return '[' + (v.arrayValue.values || []).map(anyValue).join(', ') + ']';
  if ('kvlistValue' in v) return '{' + (v.kvlistValue.values || []).map(kv => `${kv.key}: ${anyValue(kv.value)}`).join(', ') + '}';
  return '';
}
const attrs = list => (list || []).map(kv => [kv.key, anyValue(kv.value)]);

/**
 * A trace view from /api/analysis/traces: spans with times in μs relative to the trace start,
 * parent/children links, depth-first order, critical path and statistics.
 */
export function buildTrace(view) {
  const spans = [];
  const byID = new Map();
  for (const rs of view.trace.resourceSpans || []) {
    const resource = attrs(rs.resource?.attributes);
    const service = resource.find(([k]) => k === 'service.name')?.[1] || '';
    for (const ss of rs.scopeSpans || []) {
      const scope = ss.scope ? `${ss.scope.name || ''} ${ss.scope.version || ''}`.trim() : '';
      for (const s of ss.spans || []) {
        const start = nsToMicros(s.startTimeUnixNano);
        const span = {
          id: s.spanId, parentId: s.parentSpanId || '', name: s.name || '', service, resource, scope,
          kind: KIND[s.kind || 0] || String(s.kind), start, end: Math.max(start, nsToMicros(s.endTimeUnixNano)),
          attributes: attrs(s.attributes), traceState: s.traceState || '',
          events: (s.events || []).map(e => ({ time: nsToMicros(e.timeUnixNano), name: e.name || '', attributes: attrs(e.attributes) })),
          links: (s.links || []).map(l => ({ traceId: l.traceId, spanId: l.spanId, attributes: attrs(l.attributes) })),
          status: STATUS[s.status?.code || 0] || 'unset', statusMessage: s.status?.message || '',
          children: [], parent: null, depth: 0, critical: [], index: 0,
        };
        if (!byID.has(span.id)) byID.set(span.id, span);
        spans.push(span);
      }
    }
  }
  const roots = [];
  for (const s of spans) {
    const p = s.parentId && byID.get(s.parentId);
    if (p && p !== s && byID.get(s.id) === s) { s.parent = p; p.children.push(s); } else roots.push(s);
  }
  const earlier = (a, b) => a.start - b.start || b.end - a.end;
  roots.sort(earlier);
  const traceStart = spans.length ? spans.reduce((m, s) => Math.min(m, s.start), Infinity) : 0;
  // Depth-first order without recursion: a trace may be thousands of spans deep.
  const order = [];
  const seen = new Set();
  const stack = roots.slice().reverse().map(s => [s, 0]);
  while (stack.length) {
    const [s, d] = stack.pop();
    if (seen.has(s)) continue;
    seen.add(s);
    s.depth = d;
    s.index = order.length;
    order.push(s);
    s.children.sort(earlier);
    for (let i = s.children.length - 1; i >= 0; i--) stack.push([s.children[i], d + 1]);
  }
  for (const s of spans) if (!seen.has(s)) { s.index = order.length; order.push(s); }
  let traceEnd = traceStart;
  for (const s of order) { s.start -= traceStart; s.end -= traceStart; traceEnd = Math.max(traceEnd, s.end + traceStart); }
  for (const s of order) for (const e of s.events) e.time -= traceStart;
  for (const c of view.criticalPath || []) {
    const s = byID.get(c.spanID);
    if (s) s.critical.push([nsToMicros(c.startTimeUnixNano) - traceStart, nsToMicros(c.endTimeUnixNano) - traceStart]);
  }
  const services = [...new Set(order.map(s => s.service))].sort();
  return {
    id: view.summary.traceID, summary: view.summary, spans: order, byID, duration: traceEnd - traceStart,
    startMicros: traceStart, services, statistics: view.statistics || [],
    criticalPath: (view.criticalPath || []).map(c => ({
      span: byID.get(c.spanID), start: nsToMicros(c.startTimeUnixNano) - traceStart,
      end: nsToMicros(c.endTimeUnixNano) - traceStart,
    })).filter(c => c.span),
    maxDepth: order.reduce((m, s) => Math.max(m, s.depth), 0),
  };
}
