"""Jaeger's storage integration suite, as cases of our own: every query and trace shape it checks
(tags on a span, an event, the resource, spread over the three, the scope and a link; operation
names and duration bounds alone and combined; several traces; a trace over two time ranges; a
10,008-span trace; span ids shared by different spans; a search without a service), written over
OTLP/HTTP and read back through /api/traces (Jaeger v1) and /api/v3/traces. Each query also has a
decoy trace in its service that misses one condition, so a store that ignores a condition fails.
"""

import json
import time
import urllib.parse

import pytest
import requests

from conftest import STORES, Server, store_args

NOW_NS = int(time.time() * 1e9) - 3600 * 10**9
TAGS = {"sameplacetag1": "sameplacevalue", "sameplacetag2": 123, "sameplacetag3": 72.5, "sameplacetag4": True}
_next_trace = [0x1000]


def any_value(v):
    if isinstance(v, bool):
        return {"boolValue": v}
    if isinstance(v, int):
        return {"intValue": str(v)}
    if isinstance(v, float):
        return {"doubleValue": v}
    return {"stringValue": v}


def kvs(d):
    return [{"key": k, "value": any_value(v)} for k, v in d.items()]


def span(trace_id, n, name, start, duration, attrs=None, events=None, links=None, parent=None, kind=2):
    s = {
        "traceId": trace_id, "spanId": f"{n:016x}", "name": name, "kind": kind,
        "startTimeUnixNano": str(start), "endTimeUnixNano": str(start + duration),
        "attributes": kvs(attrs or {}), "events": events or [], "links": links or [],
    }
    if parent:
        s["parentSpanId"] = f"{parent:016x}"
    return s


def resource_spans(service, spans, resource=None, scope=None):
    return {
        "resource": {"attributes": kvs({"service.name": service, **(resource or {})})},
        "scopeSpans": [{"scope": scope or {}, "spans": spans}],
    }


def new_trace_id():
    _next_trace[0] += 1
    return f"{0xC0FFEE:016x}{_next_trace[0]:016x}"


def shaped(service, where, op="placeholder", duration=5000, tags=TAGS, offset=0):
    """One trace of one span whose tags sit `where`: span, log, process, multi, scope, link."""
    tid = new_trace_id()
    start = NOW_NS + offset
    attrs, events, links, resource = {}, [], [], {}
    scope = {"name": "testing-library", "version": "1.1.1"}
    if where == "span":
        attrs = dict(tags)
    elif where == "log":
        events = [{"timeUnixNano": str(start + 1), "name": "log", "attributes": kvs(tags)}]
    elif where == "process":
        resource = dict(tags)
    elif where == "multi":  # spread over the resource, the span and one of its events
        items = list(tags.items())
        resource = dict(items[:1])
        events = [{"timeUnixNano": str(start + 1), "name": "log", "attributes": kvs(dict(items[1:2]))}]
        attrs = dict(items[2:])
    elif where == "scope":
        scope = {"name": "testing-library", "version": "1.1.1", "attributes": kvs(tags)}
    elif where == "link":
        links = [{"traceId": new_trace_id(), "spanId": "00000000000000aa", "attributes": kvs(tags)}]
    elif where == "none":
        pass
    s = span(tid, 1, op, start, duration, attrs, events, links)
    return tid, resource_spans(service, [s], resource, scope)


def post(server, resource_spans_list):
    r = requests.post(
        f"http://{server.http}/v1/traces", data=json.dumps({"resourceSpans": resource_spans_list}),
        headers={"Content-Type": "application/json"}, timeout=30)
    assert r.status_code == 200, r.text


# Each case: (caption, service, where the tags are, operation or None, min ns, max ns), as the
# suite's queries name them; the matching trace and a decoy are written for each.
CASES = [
    ("Tags in one spot - Tags", "q01", "span", None, None, None),
    ("Tags in one spot - Logs", "q02", "log", None, None, None),
    ("Tags in one spot - Process", "q03", "process", None, None, None),
    ("Tags in different spots", "q04", "multi", None, None, None),
    ("Operation name", "q06", "none", "q06-op", None, None),
    ("Operation name + max Duration", "q07", "none", "q07-op", None, 2000),
    ("Operation name + Duration range", "q08", "none", "q08-op", 4500, 5500),
    ("Duration range", "q09", "none", None, 4500, 5500),
    ("max Duration", "q10", "none", None, None, 1000),
    ("Tags + Operation name", "q12", "span", "q12-op", None, None),
    ("Tags + Operation name + max Duration", "q13", "span", "q13-op", None, 2000),
    ("Tags + Operation name + Duration range", "q14", "span", "q14-op", 4500, 5500),
    ("Tags + Duration range", "q15", "span", None, 4500, 5500),
    ("Tags + max Duration", "q16", "span", None, None, 1000),
    ("Multi-spot Tags + Operation name", "q17", "multi", "q17-op", None, None),
    ("Multi-spot Tags + Operation name + max Duration", "q18", "multi", "q18-op", None, 2000),
    ("Multi-spot Tags + Operation name + Duration range", "q19", "multi", "q19-op", 4500, 5500),
    ("Multi-spot Tags + Duration range", "q20", "multi", None, 4500, 5500),
    ("Multi-spot Tags + max Duration", "q21", "multi", None, None, 1000),
    ("Scope Name and Version", "q23", "span", None, None, None),
    ("Scope Attributes", "q24", "scope", None, None, None),
    ("Link Attributes", "q25", "link", None, None, None),
]


def duration_for(lo, hi):
    if lo is not None:
        return 5000
    if hi is not None:
        return hi // 2
    return 5000


def decoy_for(service, where, op, lo, hi):
    """A trace in the same service that misses exactly one condition of the query."""
    if where != "none":
        wrong = dict(TAGS, sameplacetag2=124)
        return shaped(service, where, op or "placeholder", duration_for(lo, hi), tags=wrong)
    if op:
        return shaped(service, "none", op + "-other", duration_for(lo, hi))
    # Duration outside the bounds.
    return shaped(service, "none", "placeholder", (hi or 5500) * 3)


@pytest.fixture(scope="module", params=STORES)
def fixture(request):
    s = Server(store_args(request.param))
    expected = {}
    batch = []
    for caption, service, where, op, lo, hi in CASES:
        tid, rs = shaped(service, where, op or "placeholder", duration_for(lo, hi))
        _, decoy = decoy_for(service, where, op, lo, hi)
        batch += [rs, decoy]
        expected[caption] = {tid}
    # Several traces of one service; a trace whose spans lie minutes apart.
    multiple = set()
    for k in range(3):
        tid, rs = shaped("q22", "none", offset=k * 1000)
        multiple.add(tid)
        batch.append(rs)
    expected["Multiple Traces"] = multiple
    spread = new_trace_id()
    batch.append(resource_spans("q05", [
        span(spread, 1, "operation-list-test2", NOW_NS, 5000),
        span(spread, 2, "operation-list-test3", NOW_NS - 7 * 60 * 10**9, 5000, kind=3),
    ]))
    expected["Trace spans over multiple indices"] = {spread}
    post(s, batch)
    yield s, expected, spread
    s.stop()


def v1_query(service, op, lo, hi, tags):
    q = {"service": service, "start": str((NOW_NS - 3600 * 10**9) // 1000), "end": str((NOW_NS + 3600 * 10**9) // 1000), "limit": "1000"}
    if op:
        q["operation"] = op
    if lo is not None:
        q["minDuration"] = f"{lo}ns"
    if hi is not None:
        q["maxDuration"] = f"{hi}ns"
    if tags:
        q["tags"] = json.dumps({k: (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in tags.items()})
    return "/api/traces?" + urllib.parse.urlencode(q)


def v3_query(service, op, lo, hi, tags):
    fmt = lambda ns: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ns / 1e9))
    q = {"query.service_name": service, "query.start_time_min": fmt(NOW_NS - 3600 * 10**9),
         "query.start_time_max": fmt(NOW_NS + 3600 * 10**9), "query.search_depth": "1000"}
    if op:
        q["query.operation_name"] = op
    if lo is not None:
        q["query.duration_min"] = f"{lo}ns"
    if hi is not None:
        q["query.duration_max"] = f"{hi}ns"
    for k, v in (tags or {}).items():
        q["query.attributes." + k] = str(v).lower() if isinstance(v, bool) else str(v)
    return "/api/v3/traces?" + urllib.parse.urlencode(q)


def v3_trace_ids(doc):
    return {sp["traceId"] for rs in doc["result"]["resourceSpans"] for ss in rs["scopeSpans"] for sp in ss["spans"]}


ALL = [(c[0], c[1], c[2], c[3], c[4], c[5]) for c in CASES] + [
    ("Multiple Traces", "q22", "none", None, None, None),
    ("Trace spans over multiple indices", "q05", "none", None, None, None),
]


@pytest.mark.parametrize("caption,service,where,op,lo,hi", ALL, ids=[c[0] for c in ALL])
def test_find_traces_v1_and_v3(fixture, caption, service, where, op, lo, hi):
    s, expected, _ = fixture
    tags = TAGS if where != "none" else None
    v1 = s.get_json(v1_query(service, op, lo, hi, tags))
    assert {t["traceID"] for t in v1["data"]} == expected[caption], caption
    v3 = s.get_json(v3_query(service, op, lo, hi, tags))
    assert v3_trace_ids(v3) == expected[caption], caption


def test_services_operations_and_trace_by_id(fixture):
    s, expected, spread = fixture
    services = s.get_json("/api/services")["data"]
    for c in ALL:
        assert c[1] in services
    ops = s.get_json("/api/operations?service=q05")["data"]
    assert {(o["name"], o["spanKind"]) for o in ops} == {("operation-list-test2", "server"), ("operation-list-test3", "client")}
    assert s.get_json("/api/operations?service=q05&spanKind=client")["data"] == [{"name": "operation-list-test3", "spanKind": "client"}]
    assert s.get_json("/api/v3/operations?service=q05")["operations"]
    trace = s.get_json(f"/api/traces/{spread}")["data"][0]
    assert len(trace["spans"]) == 2
    # Scope name and version come back as Jaeger renders them.
    (q23,) = expected["Scope Name and Version"]
    tags = {t["key"]: t["value"] for t in s.get_json(f"/api/traces/{q23}")["data"][0]["spans"][0]["tags"]}
    assert tags["sameplacetag2"] == 123 and tags["sameplacetag4"] is True
    assert tags["otel.scope.name"] == "testing-library" and tags["otel.scope.version"] == "1.1.1"
    missing = requests.get(s.url("/api/traces/" + "ab" * 16), timeout=10)
    assert missing.status_code == 404 and missing.json()["errors"][0]["msg"] == "trace not found"
    v3_missing = requests.get(s.url("/api/v3/traces/" + "ab" * 16), timeout=10)
    assert v3_missing.status_code == 404 and v3_missing.json()["error"]["httpCode"] == 404


def test_large_trace_and_shared_span_ids(fixture):
    s, _, _ = fixture
    # 10,008 spans in one trace.
    big = new_trace_id()
    post(s, [resource_spans("large", [span(big, i + 1, "big", NOW_NS + i * 10**9, 1000) for i in range(10_008)])])
    assert len(s.get_json(f"/api/traces/{big}")["data"][0]["spans"]) == 10_008
    doc = s.get_json(f"/api/v3/traces/{big}")
    assert sum(len(ss["spans"]) for rs in doc["result"]["resourceSpans"] for ss in rs["scopeSpans"]) == 10_008
    # 200 spans where every 20th reuses the first span's id but starts later: different spans,
    # all kept. Writing the same request again (a retry) adds nothing.
    dup = new_trace_id()
    spans = [span(dup, 1 if (i > 0 and i % 20 == 0) else i + 1, "dup", NOW_NS + (i + 1) * 10**9, 1000) for i in range(200)]
    body = [resource_spans("duplicates", spans)]
    post(s, body)
    post(s, body)
    got = s.get_json(f"/api/traces/{dup}")["data"][0]["spans"]
    assert len(got) == 200
    assert sum(1 for sp in got if sp["spanID"] == f"{1:016x}") == 10


def test_search_without_service_and_child_of_links(fixture):
    s, _, _ = fixture
    ids = []
    for service in ("cross-service-a", "cross-service-b"):
        tid = new_trace_id()
        ids.append(tid)
        post(s, [resource_spans(service, [span(tid, 1, "cross-service-op", NOW_NS, 1000, {"rfc0013.cross.service": "yes"})])])
    tags = urllib.parse.quote(json.dumps({"rfc0013.cross.service": "yes"}))
    v1 = s.get_json(f"/api/traces?tags={tags}&lookback=3h")
    assert {t["traceID"] for t in v1["data"]} == set(ids)
    v3 = s.get_json("/api/v3/traces?query.attributes.rfc0013.cross.service=yes&query.start_time_min="
                    + time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(NOW_NS / 1e9 - 3600)))
    assert v3_trace_ids(v3) == set(ids)
    # A link that says it is a child-of reference comes back as one; a plain link is FOLLOWS_FROM.
    tid = new_trace_id()
    other = new_trace_id()
    links = [
        {"traceId": other, "spanId": "0000000000000009", "attributes": kvs({"opentracing.ref_type": "child_of"})},
        {"traceId": other, "spanId": "000000000000000a"},
    ]
    post(s, [resource_spans("links", [span(tid, 1, "linked", NOW_NS, 1000, links=links)])])
    refs = s.get_json(f"/api/traces/{tid}")["data"][0]["spans"][0]["references"]
    assert [(r["refType"], r["spanID"]) for r in refs] == [("CHILD_OF", "0000000000000009"), ("FOLLOWS_FROM", "000000000000000a")]
    # Nothing found: 404 in api/v3, as Jaeger answers.
    r = requests.get(s.url("/api/v3/traces?query.service_name=nobody"), timeout=10)
    assert r.status_code == 404 and r.json()["error"]["message"]
