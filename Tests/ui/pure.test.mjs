// Unit tests of the web UI's pure modules (no DOM): run with
//   node --experimental-detect-module --test Tests/ui/
// The modules are the files the binary serves; Node reads them as ES modules by their syntax.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nsToMicros, formatDuration, parseDuration, serviceColor } from '../../Sources/AriadneUI/Assets/util.js';
import { anyValue, buildTrace } from '../../Sources/AriadneUI/Assets/api.js';
import { tagsToFilter, searchQuery, sortResults, resultFromSummary } from '../../Sources/AriadneUI/Assets/search.js';

test('durations parse as Go writes them and print as Jaeger shows them', () => {
  assert.equal(parseDuration('250ms'), 250_000);
  assert.equal(parseDuration('1.5s'), 1_500_000);
  assert.equal(parseDuration('300us'), 300);
  assert.equal(parseDuration('10ns'), 0.01);
  assert.equal(parseDuration('2m'), 120_000_000);
  for (const bad of ['', 'fast', '-1s', '1 parsec', '1e3s']) assert.equal(parseDuration(bad), null, bad);
  assert.equal(formatDuration(950), '950μs');
  assert.equal(formatDuration(12_300), '12.3ms');
  assert.equal(formatDuration(1_520_000), '1.52s');
  assert.equal(formatDuration(123_000_000), '2m 3s');
  assert.equal(formatDuration(0.5), '500ns');
  assert.equal(formatDuration(Infinity), '–');
});

test('nanosecond strings become microseconds without losing the digits that matter', () => {
  assert.equal(nsToMicros('1700000000123456789'), 1700000000123456.8);
  assert.equal(nsToMicros('999'), 0.999);
  assert.equal(nsToMicros(undefined), 0);
  assert.equal(serviceColor('checkout'), serviceColor('checkout'));
});

test("Jaeger's tag syntax becomes filter conditions", () => {
  assert.deepEqual(tagsToFilter('http.status_code=500 error=true'), ['.http.status_code = 500', 'status = error']);
  assert.deepEqual(tagsToFilter('user="a b" flag=true'), ['.user = "a b"', '.flag = true']);
  assert.throws(() => tagsToFilter('"odd key"=x'), /key=value/);  // a quoted key is not Jaeger's syntax
  assert.deepEqual(tagsToFilter('my-key/x=v1.2'), ['.my-key/x = "v1.2"']);
  assert.throws(() => tagsToFilter('just words'), /key=value/);
  assert.deepEqual(tagsToFilter(''), []);
});

test('the search form becomes /api/search parameters', () => {
  const p = searchQuery({ service: 'shop', operation: 'GET /', tags: 'a=1', minDuration: '10ms', durationOf: 'span', filter: '{ kind = server }', lookback: '1h', limit: 5, sort: 'longest' });
  assert.equal(p.get('service'), 'shop');
  assert.equal(p.get('q'), '.a = 1 && duration >= 10ms && ( kind = server )');
  assert.equal(Number(p.get('end')) - Number(p.get('start')), 3600);
  assert.equal(p.get('limit'), '5');
  assert.equal(p.get('sort'), 'longest');
  const trace = searchQuery({ minDuration: '1s', maxDuration: '2s', lookback: '5m' });
  assert.equal(trace.get('minDuration'), '1s');
  assert.equal(trace.get('q'), null);
  assert.throws(() => searchQuery({ minDuration: 'soon' }), /not a duration/);
  assert.throws(() => searchQuery({ lookback: 'custom', start: 'x', end: 'y' }), /custom range/);
});

test('results sort as asked, newest first on ties', () => {
  const r = [
    { traceID: 'a', startMicros: 1, duration: 5, spanCount: 1, errorCount: 0 },
    { traceID: 'b', startMicros: 2, duration: 5, spanCount: 9, errorCount: 2 },
    { traceID: 'c', startMicros: 3, duration: 1, spanCount: 3, errorCount: 1 },
  ];
  assert.deepEqual(sortResults(r, 'recent').map(t => t.traceID), ['c', 'b', 'a']);
  assert.deepEqual(sortResults(r, 'longest').map(t => t.traceID), ['b', 'a', 'c']);
  assert.deepEqual(sortResults(r, 'spans').map(t => t.traceID), ['b', 'c', 'a']);
  assert.deepEqual(sortResults(r, 'errors').map(t => t.traceID), ['b', 'c', 'a']);
  const s = resultFromSummary({ traceID: 'x', rootServiceName: 'shop', rootTraceName: 'GET /', startTimeUnixNano: '2000', durationNanos: 5000, spanCount: 2, errorCount: 0 });
  assert.equal(s.root, 'shop: GET /');
  assert.equal(s.duration, 5);
  assert.deepEqual(s.services, []);
});

test('a trace view becomes a span tree in depth-first order with the critical path', () => {
  const span = (id, parent, start, end, extra = {}) => ({
    spanId: id, parentSpanId: parent, name: `op-${id}`, kind: 2, startTimeUnixNano: String(start), endTimeUnixNano: String(end), ...extra,
  });
  const view = {
    summary: { traceID: 't1' },
    trace: { resourceSpans: [{
      resource: { attributes: [{ key: 'service.name', value: { stringValue: 'shop' } }] },
      scopeSpans: [{ scope: { name: 'lib', version: '1' }, spans: [
        span('c', 'a', 3000, 9000),
        span('a', '', 1000, 10000, { attributes: [{ key: 'n', value: { intValue: '3' } }], status: { code: 2, message: 'bad' } }),
        span('b', 'a', 2000, 4000),
        span('orphan', 'missing', 500, 700),
      ] }],
    }] },
    criticalPath: [{ spanID: 'a', startTimeUnixNano: '9000', endTimeUnixNano: '10000' }, { spanID: 'c', startTimeUnixNano: '3000', endTimeUnixNano: '9000' }],
    statistics: [],
  };
  const t = buildTrace(view);
  assert.deepEqual(t.spans.map(s => s.id), ['orphan', 'a', 'b', 'c']);
  assert.deepEqual(t.spans.map(s => s.depth), [0, 0, 1, 1]);
  assert.equal(t.duration, 9.5);  // μs, from the orphan's start to a's end
  assert.equal(t.byID.get('a').status, 'error');
  assert.deepEqual(t.byID.get('a').attributes, [['n', '3']]);
  assert.equal(t.byID.get('a').scope, 'lib 1');
  assert.deepEqual(t.criticalPath.map(c => c.span.id), ['a', 'c']);
  assert.equal(t.maxDepth, 1);
  assert.equal(anyValue({ arrayValue: { values: [{ intValue: '1' }, { boolValue: true }] } }), '[1, true]');
  assert.equal(anyValue({ kvlistValue: { values: [{ key: 'k', value: { stringValue: 'v' } }] } }), '{k: v}');
});

import { expandLink, linkVars, linksFor } from '../../Sources/AriadneUI/Assets/links.js';

test('link templates fill every variable, URL-encoded, and keep unknown ones', () => {
  const vars = linkVars({ traceId: 'abc', spanId: '01', service: 'pay&x=1/../evil', operation: 'GET /a b', startUs: 1_700_000_000_123_456, endUs: 1_700_000_000_223_456 });
  assert.equal(expandLink('https://logs/?q=${traceId}&s=${service}&op=${operation}', vars),
    'https://logs/?q=abc&s=pay%26x%3D1%2F..%2Fevil&op=GET%20%2Fa%20b');
  assert.equal(expandLink('https://l/${startMs}-${endMs}/${startUs}/${nope}', vars), 'https://l/1700000000123-1700000000224/1700000000123456/${nope}');
  assert.equal(vars.startISO, '2023-11-14T22:13:20.123Z');
});

test('link time padding widens the window on both sides', () => {
  const v = linkVars({ traceId: 't', startUs: 10_000_000, endUs: 11_000_000 }, 60_000_000);
  assert.equal(v.startMs, -50_000);
  assert.equal(v.endMs, 71_000);
});

test('linksFor keeps one scope and only http(s) results', () => {
  const config = { links: [
    { scope: 'trace', text: 'Logs', url: 'https://logs/${traceId}' },
    { scope: 'span', text: 'Span', url: 'https://logs/${spanId}' },
    { scope: 'trace', text: 'Bad', url: '${traceId}' },
  ] };
  assert.deepEqual(linksFor(config, 'trace', { traceId: 'javascript:alert(1)' }), [{ text: 'Logs', href: 'https://logs/javascript%3Aalert(1)' }]);
  assert.deepEqual(linksFor(undefined, 'trace', {}), []);
});
