"""Tenants and teams on the real binary, on every store: two tenants with the same service names,
two teams within one of them. Every query endpoint is probed from each side for the other's data
(by trace id, search by its attributes, services, operations, dependencies, RED metrics,
/metrics, analyses, compare); a team's reader sees other services' spans only opaque; an admin
may name another tenant; data stays with its tenant across a restart. Without `auth`, a trusted
`X-Scope-OrgID` header names the tenant."""

import json
import os
import random
import time

import pytest
import requests

from conftest import STORES, Server, store_args

KEYS = {
    "shop-ingest": ("shop", "ingest", []), "acme-ingest": ("acme", "ingest", []),
    "shop-viewer": ("shop", "viewer", []), "pay-viewer": ("shop", "viewer", ["payments"]),
    "acme-viewer": ("acme", "viewer", []), "shop-admin": ("shop", "admin", []),
}


def bearer(name):
    return {"Authorization": f"Bearer {name}-key-0123456789abcdef"}


def span(trace, sid, parent, service, name, start, attrs, kind=2):
    return service, {
        "traceId": trace, "spanId": sid, "parentSpanId": parent, "name": name, "kind": kind,
        "startTimeUnixNano": str(start), "endTimeUnixNano": str(start + 5_000_000),
        "attributes": [{"key": k, "value": {"stringValue": v}} for k, v in attrs.items()],
    }


def body(spans):
    by_service = {}
    for service, s in spans:
        by_service.setdefault(service, []).append(s)
    return json.dumps({"resourceSpans": [
        {"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": svc}},
                                     {"key": "host.name", "value": {"stringValue": f"host-of-{svc}"}}]},
         "scopeSpans": [{"spans": ss}]} for svc, ss in by_service.items()]})


def call_trace(tenant, now, secret):
    """checkout → payment-gw → catalog, each with a tenant-specific secret attribute."""
    t = "%032x" % random.getrandbits(128)
    ids = ["%016x" % random.getrandbits(64) for _ in range(3)]
    return t, [
        span(t, ids[0], "", "checkout", f"{tenant}-pay", now, {"secret": f"{secret}-checkout"}),
        span(t, ids[1], ids[0], "payment-gw", f"{tenant}-charge", now + 1_000_000, {"secret": f"{secret}-gw"}, kind=3),
        span(t, ids[2], ids[1], "catalog", f"{tenant}-lookup", now + 2_000_000, {"secret": f"{secret}-catalog"}),
    ]


def post(server, headers, spans):
    r = requests.post(f"http://{server.http}/v1/traces", data=body(spans), timeout=10,
                      headers={**headers, "Content-Type": "application/json"})
    assert r.status_code == 200, r.text


@pytest.fixture(scope="module", params=STORES)
def tenants(request, tmp_path_factory):
    d = tmp_path_factory.mktemp("tenancy")
    lines = ["auth:", "  api_keys:"]
    for name, (tenant, role, teams) in KEYS.items():
        (d / name).write_text(bearer(name)["Authorization"].split()[1] + "\n")
        lines.append(f"    - {{name: {name}, key_file: {name}, tenant: {tenant}, role: {role}, teams: {json.dumps(teams)}}}")
    lines += ["teams:", "  payments: {services: [checkout, \"payment*\"]}", "  catalog: {services: [catalog]}"]
    (d / "ariadne.yaml").write_text("\n".join(lines) + "\n")
    args = ["--config", str(d / "ariadne.yaml")] + store_args(request.param)
    s = Server(args, data_dir=str(d / "data"))
    now = time.time_ns() - 60_000_000_000
    shop = [call_trace("shop", now + i * 10_000_000, "shop-secret") for i in range(3)]
    acme = [call_trace("acme", now, "acme-secret")]
    # A shop trace of the catalog team only.
    lone = "%032x" % random.getrandbits(128)
    lone_spans = [span(lone, "%016x" % random.getrandbits(64), "", "catalog", "shop-browse", now, {"secret": "shop-lone"})]
    post(s, bearer("shop-ingest"), [x for _, t in shop for x in t] + lone_spans)
    post(s, bearer("acme-ingest"), [x for _, t in acme for x in t])
    s.shop, s.acme, s.lone, s.args = [t for t, _ in shop], [t for t, _ in acme], lone, args
    wait(s, "shop-viewer", f"/api/traces/{s.shop[0]}")
    wait(s, "acme-viewer", f"/api/traces/{s.acme[0]}")
    yield s
    s.stop()


def wait(s, who, path, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        r = requests.get(s.url(path), headers=bearer(who), timeout=10)
        if r.status_code == 200 and r.json().get("data"):
            return r.json()
        time.sleep(0.2)
    raise AssertionError(f"{who} never saw {path}")


def get(s, who, path, expect=200, headers=None):
    r = requests.get(s.url(path), headers={**bearer(who), **(headers or {})}, timeout=10)
    assert r.status_code == expect, (who, path, r.status_code, r.text[:300])
    return r


def test_no_endpoint_shows_one_tenant_the_others_data(tenants):
    s = tenants
    for reader, own, other, own_secret, other_secret in (
        ("acme-viewer", "acme", "shop", "acme-secret", "shop-secret"),
        ("shop-viewer", "shop", "acme", "shop-secret", "acme-secret"),
    ):
        theirs = s.shop if other == "shop" else s.acme
        mine = s.acme if own == "acme" else s.shop
        # By id, alone and in a batch, in every dialect.
        for t in theirs:
            get(s, reader, f"/api/traces/{t}", 404)
            get(s, reader, f"/api/v3/traces/{t}", 404)
        assert get(s, reader, f"/api/traces?traceID={theirs[0]}").json()["data"] == []
        # Search by their attributes (Jaeger tags, the filter language, Tempo search).
        for path in (f"/api/traces?service=checkout&tags=%7B%22secret%22%3A%22{other_secret}-checkout%22%7D&lookback=1h",
                     f"/api/search?q=span.secret%20%3D%20%22{other_secret}-checkout%22&limit=20"):
            text = get(s, reader, path).text
            assert other_secret not in text and not any(t in text for t in theirs), path
        found = get(s, reader, f"/api/traces?service=checkout&lookback=1h&limit=50").json()["data"]
        assert {t["traceID"] for t in found} == set(mine)
        # Names: the same services, only their own operations.
        assert get(s, reader, "/api/services").json()["data"] == ["catalog", "checkout", "payment-gw"]
        ops = get(s, reader, "/api/services/checkout/operations").json()["data"]
        assert ops == [f"{own}-pay"]
        # Dependencies and the service map count only their own calls.
        deps = get(s, reader, "/api/dependencies?lookback=3600000").json()["data"]
        calls = {(d["parent"], d["child"]): d["callCount"] for d in deps}
        assert calls[("checkout", "payment-gw")] == len(mine), deps
        # RED metrics, the Monitor tab's series and /metrics.
        red = get(s, reader, "/api/analysis/red?service=checkout&lookback=1h").text
        assert f"{own}-pay" in red and f"{other}-pay" not in red
        metrics = get(s, reader, "/metrics").text
        assert f'span_name="{own}-pay"' in metrics and f'span_name="{other}-pay"' not in metrics
        # Analyses and comparisons of their traces are not found.
        b = get(s, reader, f"/api/analysis/bottlenecks?service=checkout&operation={other}-pay&lookback=1h").json()
        assert b["traces"] == 0
        get(s, reader, f"/api/analysis/traces/{theirs[0]}", 404)
        get(s, reader, f"/api/analysis/compare?a={mine[0]}&b={theirs[0]}", 404)
        pops = get(s, reader, f"/api/analysis/populations?service=checkout&attribute=secret"
                              f"&a={other_secret}-checkout&b={own_secret}-checkout&lookback=1h").text
        assert f"{other}-pay" not in pops and f"{own}-pay" in pops


def test_a_readers_teams_limit_what_they_see(tenants):
    s = tenants
    reader = "pay-viewer"
    assert get(s, reader, "/api/services").json()["data"] == ["checkout", "payment-gw"]
    assert get(s, reader, "/api/services/catalog/operations").json()["data"] == []
    # A trace with a span of theirs: other services' spans opaque.
    trace = get(s, reader, f"/api/traces/{s.shop[0]}").json()["data"][0]
    services = {p["serviceName"]: p for p in trace["processes"].values()}
    by_service = {trace["processes"][sp["processID"]]["serviceName"]: sp for sp in trace["spans"]}
    assert set(by_service) == {"checkout", "payment-gw", "catalog"}
    hidden = by_service["catalog"]
    assert hidden["operationName"] == "shop-lookup" and hidden["duration"] > 0
    assert all(t["key"] in ("span.kind", "otel.status_code", "error", "internal.span.format") for t in hidden["tags"]), hidden["tags"]
    assert not hidden["logs"] and not hidden.get("references", [])[1:]
    assert services["catalog"]["tags"] == []
    assert "shop-secret-catalog" not in json.dumps(trace) and "host-of-catalog" not in json.dumps(trace)
    assert {"key": "secret", "type": "string", "value": "shop-secret-checkout"} in by_service["checkout"]["tags"]
    v3 = get(s, reader, f"/api/v3/traces/{s.shop[0]}").text
    assert "shop-secret-catalog" not in v3 and "shop-secret-checkout" in v3
    # A trace of only another team's services is not theirs to see.
    get(s, reader, f"/api/traces/{s.lone}", 404)
    # No filter matches what they may not see.
    for q in ("tags=%7B%22secret%22%3A%22shop-secret-catalog%22%7D", "service=catalog"):
        assert get(s, reader, f"/api/traces?{q}&lookback=1h").json()["data"] == []
    assert get(s, reader, "/api/search?q=span.secret%20%3D%20%22shop-secret-catalog%22").json()["traces"] == []
    assert len(get(s, reader, "/api/search?q=span.secret%20%3D%20%22shop-secret-checkout%22").json()["traces"]) == 3
    assert len(get(s, reader, "/api/traces?tags=%7B%22secret%22%3A%22shop-secret-gw%22%7D&lookback=1h").json()["data"]) == 3
    deps = get(s, reader, "/api/dependencies?lookback=3600000").json()["data"]
    assert {(d["parent"], d["child"]) for d in deps} == {("checkout", "payment-gw")}
    assert "catalog" not in get(s, reader, "/api/analysis/red?lookback=1h").text
    metrics = get(s, reader, "/metrics").text
    assert 'service_name="catalog"' not in metrics and 'service_name="checkout"' in metrics
    # The whole tenant for a reader without teams.
    assert "catalog" in get(s, "shop-viewer", "/api/services").json()["data"]
    assert "shop-secret-catalog" in get(s, "shop-viewer", f"/api/traces/{s.shop[0]}").text


def test_an_admin_names_another_tenant_and_a_viewer_may_not(tenants):
    s = tenants
    other = {"X-Scope-OrgID": "acme"}
    assert "acme-secret-catalog" in get(s, "shop-admin", f"/api/traces/{s.acme[0]}", headers=other).text
    get(s, "shop-admin", f"/api/traces/{s.acme[0]}", 404)
    r = get(s, "shop-viewer", f"/api/traces/{s.acme[0]}", 403, headers=other)
    assert "own tenant" in r.json()["error"]["message"]
    get(s, "shop-admin", "/api/services", 400, headers={"X-Scope-OrgID": "no spaces allowed"})
    # The node's own metrics count every tenant's spans: for admins only.
    assert "ariadne_receiver_spans_accepted_total" in get(s, "shop-admin", "/metrics").text
    viewer = get(s, "shop-viewer", "/metrics").text
    assert "ariadne_receiver_spans_accepted_total" not in viewer and "traces_span_metrics_calls_total" in viewer


def test_tenants_stay_apart_across_a_restart(tenants):
    s = tenants
    s.stop()
    again = Server(s.args, data_dir=s.data_dir)
    try:
        wait(again, "acme-viewer", f"/api/traces/{s.acme[0]}")
        get(again, "shop-viewer", f"/api/traces/{s.acme[0]}", 404)
        get(again, "acme-viewer", f"/api/traces/{s.shop[0]}", 404)
        assert "shop-secret-catalog" in get(again, "shop-viewer", f"/api/traces/{s.shop[0]}").text
    finally:
        # The fixture stops `s` again: hand it the running process.
        s.process, s.log = again.process, again.log
        s.query, s.http = again.query, again.http


def test_a_trusted_header_names_the_tenant_without_auth(tmp_path):
    (tmp_path / "ariadne.yaml").write_text("tenancy:\n  header_trusted: true\n")
    s = Server(["--config", str(tmp_path / "ariadne.yaml")])
    try:
        now = time.time_ns() - 10_000_000_000
        a, a_spans = call_trace("a", now, "a-secret")
        b, b_spans = call_trace("b", now, "b-secret")
        post(s, {"X-Scope-OrgID": "team-a"}, a_spans)
        post(s, {"X-Scope-OrgID": "team-b"}, b_spans)
        r = requests.post(f"http://{s.http}/v1/traces", data=body(a_spans), timeout=10,
                          headers={"X-Scope-OrgID": "bad tenant", "Content-Type": "application/json"})
        assert r.status_code == 400 and "X-Scope-OrgID" in r.text
        deadline = time.time() + 10
        while requests.get(s.url(f"/api/traces/{a}"), headers={"X-Scope-OrgID": "team-a"}, timeout=10).status_code != 200:
            assert time.time() < deadline
            time.sleep(0.1)
        assert requests.get(s.url(f"/api/traces/{b}"), headers={"X-Scope-OrgID": "team-a"}, timeout=10).status_code == 404
        assert requests.get(s.url(f"/api/traces/{b}"), headers={"X-Scope-OrgID": "team-b"}, timeout=10).status_code == 200
        # Without the header: the default tenant, which has neither.
        assert requests.get(s.url(f"/api/traces/{a}"), timeout=10).status_code == 404
        assert os.path.isdir(os.path.join(s.data_dir, "tenants", "team_2da"))
    finally:
        s.stop()
