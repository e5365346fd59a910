"""Analytics end to end: span metrics scraped by a real Prometheus and accepted by promtool, Jaeger's
Monitor endpoints, rollups that survive a restart, a planted incident reaching a webhook as firing
and resolved notifications, a planted latency step listed as an anomaly, and `ariadne diff` as a
CI gate."""

import json
import os
import random
import re
import shutil
import subprocess
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
import requests

from conftest import BINARY, STORES, Server, store_args

NS = 1_000_000_000


def free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Spans:
    """Builds OTLP JSON requests of spans with chosen end times, durations and statuses."""

    def __init__(self, seed=1):
        self.rng = random.Random(seed)

    def ids(self, n):
        return "".join(self.rng.choice("0123456789abcdef") for _ in range(n))

    def request(self, service, spans, version=None):
        """`spans`: (name, kind, end_ns, duration_ns, error, children) with children of the same shape in `peer` services."""
        by_service = {}

        def add(svc, name, kind, end, duration, error, trace_id, parent):
            span_id = self.ids(16)
            span = {
                "traceId": trace_id,
                "spanId": span_id,
                "name": name,
                "kind": kind,
                "startTimeUnixNano": str(end - duration),
                "endTimeUnixNano": str(end),
                "status": {"code": 2, "message": "failed"} if error else {},
            }
            if parent:
                span["parentSpanId"] = parent
            by_service.setdefault(svc, []).append(span)
            return span_id

        for name, kind, end, duration, error, children in spans:
            trace_id = self.ids(32)
            root = add(service, name, kind, end, duration, error, trace_id, None)
            for c_svc, c_name, c_kind, c_end, c_duration, c_error in children:
                add(c_svc, c_name, c_kind, c_end, c_duration, c_error, trace_id, root)
        resource_spans = []
        for svc, spans_of in by_service.items():
            attrs = [{"key": "service.name", "value": {"stringValue": svc}}]
            if version:
                attrs.append({"key": "service.version", "value": {"stringValue": version}})
            resource_spans.append({"resource": {"attributes": attrs}, "scopeSpans": [{"scope": {"name": "e2e"}, "spans": spans_of}]})
        return {"resourceSpans": resource_spans}


def send(server, body):
    r = requests.post(f"http://{server.http}/v1/traces", json=body, timeout=10)
    assert r.status_code == 200, r.text


def write_config(tmp_path, text):
    path = tmp_path / "ariadne.yaml"
    path.write_text(text)
    return str(path)


# MARK: Prometheus


def test_promtool_accepts_metrics_and_a_real_prometheus_scrapes_span_metrics(tmp_path):
    promtool = shutil.which("promtool")
    prometheus = shutil.which("prometheus")
    assert promtool and prometheus, "Debian's prometheus package must be installed (scripts/setup.sh --python)"
    server = Server()
    prom = None
    try:
        now = time.time_ns()
        b = Spans(seed=2)
        # 300 checkout calls of 50 ms (10 failed), each calling payments for 20 ms.
        spans = [
            ("POST /checkout", 2, now - i * 10_000_000, 50_000_000, i < 10, [("payments", "charge", 2, now - i * 10_000_000 - NS // 100, 20_000_000, False)])
            for i in range(300)
        ]
        send(server, b.request("checkout", spans))
        text = requests.get(server.url("/metrics"), timeout=10).text
        check = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True)
        assert check.returncode == 0, f"promtool check metrics:\n{check.stdout}{check.stderr}"
        assert 'traces_span_metrics_calls_total{service_name="checkout",span_name="POST /checkout",span_kind="SPAN_KIND_SERVER",status_code="STATUS_CODE_ERROR"} 10' in text
        assert 'traces_span_metrics_duration_seconds_count{service_name="payments",span_name="charge",span_kind="SPAN_KIND_SERVER",status_code="STATUS_CODE_UNSET"} 300' in text
        # Tempo's service-graph series: checkout's spans called payments 300 times, 10 of them failed.
        assert 'traces_service_graph_request_total{client="checkout",server="payments",connection_type=""} 300' in text
        assert 'traces_service_graph_request_failed_total{client="checkout",server="payments",connection_type=""} 10' in text

        port = free_port()
        config = tmp_path / "prometheus.yml"
        config.write_text(
            "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
            "scrape_configs:\n"
            f"  - job_name: ariadne\n    static_configs: [{{targets: ['{server.query}']}}]\n"
        )
        prom = subprocess.Popen(
            [prometheus, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}", f"--web.listen-address=127.0.0.1:{port}"],
            stdout=open(tmp_path / "prometheus.log", "w"), stderr=subprocess.STDOUT,
        )

        def query(q):
            r = requests.get(f"http://127.0.0.1:{port}/api/v1/query", params={"query": q}, timeout=5)
            r.raise_for_status()
            result = r.json()["data"]["result"]
            return float(result[0]["value"][1]) if result else None

        deadline = time.time() + 60
        calls = None
        while time.time() < deadline:
            try:
                calls = query('sum(traces_span_metrics_calls_total{service_name="checkout"})')
                if calls is not None:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.5)
        assert calls == 300, f"Prometheus saw {calls} checkout calls; log:\n{(tmp_path / 'prometheus.log').read_text()[-2000:]}"
        errors = query('sum(traces_span_metrics_calls_total{service_name="checkout",status_code="STATUS_CODE_ERROR"})')
        assert errors == 10
        # The histogram is usable as Grafana uses it: the median of 50 ms spans lands in the 40–50 ms bucket.
        median = query('histogram_quantile(0.5, sum by (le) (traces_span_metrics_duration_seconds_bucket{service_name="checkout"}))')
        assert 0.040 <= median <= 0.050, median
        graph = query('sum(traces_service_graph_request_total{client="checkout",server="payments"})')
        assert graph == 300
        up = query('up{job="ariadne"}')
        assert up == 1
    finally:
        if prom:
            prom.terminate()
            prom.wait(timeout=15)
        server.stop()


# MARK: Jaeger's Monitor endpoints and rollups on disk


def test_jaeger_metrics_endpoints_and_rollups_that_survive_a_restart(tmp_path):
    config = write_config(tmp_path, "analytics:\n  interval: 1s\n  evaluation_interval: 200ms\n")
    data = str(tmp_path / "data")
    server = Server(["--config", config], data_dir=data)
    try:
        now = time.time_ns()
        end = now - 5 * NS  # whole windows in the past, so they are complete and written
        b = Spans(seed=3)
        spans = [("GET /cart", 2, end - i * 20_000_000, 30_000_000 if i % 2 else 90_000_000, i % 10 == 0, []) for i in range(100)]
        spans += [("GET /health", 2, end - i * 20_000_000, 1_000_000, False, []) for i in range(50)]
        send(server, b.request("cart", spans))
        end_ms = now // 1_000_000
        base = f"service=cart&endTs={end_ms}&lookback=20000&step=1000&ratePer=20000"
        calls = server.get_json(f"/api/metrics/calls?{base}")
        assert calls["name"] == "service_call_rate" and calls["type"] == "GAUGE"
        series = calls["metrics"][0]
        assert series["labels"] == [{"name": "service_name", "value": "cart"}]
        last = series["metricPoints"][-1]
        assert abs(last["gaugeValue"]["doubleValue"] - 150 / 20) < 1e-9, last
        assert last["timestamp"].endswith("Z")
        errors = server.get_json(f"/api/metrics/errors?{base}&groupByOperation=true")
        by_op = {m["labels"][1]["value"]: m["metricPoints"][-1]["gaugeValue"]["doubleValue"] for m in errors["metrics"]}
        assert by_op == {"GET /cart": pytest.approx(0.1), "GET /health": 0.0}
        lat = server.get_json(f"/api/metrics/latencies?{base}&groupByOperation=true&quantile=0.95")
        p95 = {m["labels"][1]["value"]: m["metricPoints"][-1]["gaugeValue"]["doubleValue"] for m in lat["metrics"]}
        assert 75 <= p95["GET /cart"] <= 90 and p95["GET /health"] <= 1, p95
        bad = requests.get(server.url(f"/api/metrics/latencies?{base}"), timeout=5)
        assert bad.status_code == 400 and "quantile" in bad.json()["errors"][0]["msg"]
        assert requests.get(server.url("/api/metrics/calls"), timeout=5).status_code == 400

        red = server.get_json("/api/analysis/red?service=cart&lookback=1m")
        before = {o["operation"]: (o["calls"], o["errors"]) for o in red["operations"]}
        assert before == {"GET /cart": (100, 10), "GET /health": (50, 0)}
        server.stop()
        server = Server(["--config", config], data_dir=data)
        red = server.get_json("/api/analysis/red?service=cart&lookback=1m")
        after = {o["operation"]: (o["calls"], o["errors"]) for o in red["operations"]}
        assert after == before, f"rollups after a restart: {after}"
        assert os.listdir(os.path.join(data, "rollups"))
    finally:
        server.stop()


# MARK: alerts


class Hook(BaseHTTPRequestHandler):
    received = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Hook.received.append((time.time(), json.loads(body)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.mark.parametrize("store", STORES)
def test_a_planted_incident_reaches_the_webhook_as_firing_then_resolved(tmp_path, store):
    hook = HTTPServer(("127.0.0.1", 0), Hook)
    Hook.received = []
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    config = write_config(
        tmp_path,
        f"""
analytics:
  interval: 1s
  evaluation_interval: 500ms
  webhooks: [http://127.0.0.1:{hook.server_port}/alerts]
  alerts:
    - {{name: checkout-slow, type: latency, service: checkout, quantile: 0.95, threshold_ms: 200, window: 3s, min_calls: 5}}
    - {{name: checkout-failing, type: error_rate, service: checkout, threshold: 0.2, window: 3s, min_calls: 5}}
  slos:
    - {{name: checkout-fast, service: checkout, objective: 99, latency_threshold_ms: 300, window: 1h}}
""",
    )
    server = Server(["--config", config] + store_args(store))
    b = Spans(seed=4)

    def traffic(seconds, duration_ns, error_every=0):
        stop = time.time() + seconds
        i = 0
        while time.time() < stop:
            now = time.time_ns()
            spans = [("POST /checkout", 2, now - k * 1_000_000, duration_ns, bool(error_every) and (i + k) % error_every == 0, []) for k in range(10)]
            i += 10
            send(server, b.request("checkout", spans))
            time.sleep(0.2)

    try:
        traffic(4, 50_000_000)
        assert Hook.received == [], f"notified before the incident: {Hook.received}"
        incident_start = time.time()
        traffic(5, 600_000_000, error_every=2)
        incident_end = time.time()
        traffic(10, 50_000_000)
        deadline = time.time() + 10
        while time.time() < deadline and len(Hook.received) < 4:
            time.sleep(0.2)
        events = [(t, n["alerts"][0]["labels"]["alertname"], n["status"], n) for t, n in Hook.received]
        summary = [(name, status) for _, name, status, _ in events]
        for name in ("checkout-slow", "checkout-failing"):
            mine = [(t, status, n) for t, nm, status, n in events if nm == name]
            assert [s for _, s, _ in mine] == ["firing", "resolved"], summary
            (fired_at, _, firing), (resolved_at, _, resolved) = mine
            assert incident_start <= fired_at <= incident_end + 1, (fired_at - incident_start, summary)
            assert resolved_at > incident_end
            print(f"{name}: fired {fired_at - incident_start:.1f} s after the incident began, "
                  f"resolved {resolved_at - incident_end:.1f} s after it ended")
            alert = firing["alerts"][0]
            assert alert["labels"]["service"] == "checkout" and alert["annotations"]["summary"]
            assert alert["value"] > alert["threshold"]
            assert alert["exampleTraces"], firing
            for ex in alert["exampleTraces"]:
                assert ex["url"].endswith("/#/trace/" + ex["traceID"])
                trace = server.get_json(f"/api/traces/{ex['traceID']}")["data"][0]
                span = trace["spans"][0]
                if name == "checkout-slow":
                    assert span["duration"] >= 200_000, span["duration"]
                else:
                    assert any(t["key"] == "error" and t["value"] is True for t in span["tags"])
            assert resolved["alerts"][0]["endsAt"] != "0001-01-01T00:00:00Z"
        states = server.get_json("/api/alerts")
        assert {a["name"]: a["state"] for a in states["alerts"]} == {"checkout-slow": "inactive", "checkout-failing": "inactive"}
        slo = server.get_json("/api/slos")["slos"][0]
        assert slo["name"] == "checkout-fast" and slo["compliance"] < 0.99 and slo["errorBudgetRemaining"] < 0
        log = server.output()
        assert "alert firing name=checkout-slow" in log and "alert resolved name=checkout-slow" in log
    finally:
        server.stop()
        hook.shutdown()


# MARK: anomalies


@pytest.mark.parametrize("store", STORES)
def test_a_planted_latency_step_is_listed_as_an_anomaly_with_examples(tmp_path, store):
    config = write_config(tmp_path, "analytics:\n  interval: 1s\n")
    server = Server(["--config", config] + store_args(store))
    try:
        rng = random.Random(5)
        b = Spans(seed=5)
        now = time.time_ns()
        start = now - now % NS - 60 * NS
        # Forty seconds of ~80 ms, then twelve of ~240 ms, twenty calls a second.
        for w in range(52):
            latency = 240_000_000 if w >= 40 else 80_000_000
            spans = [("GET /search", 2, start + w * NS + k * 40_000_000, int(latency * (0.9 + 0.2 * rng.random())), False, []) for k in range(20)]
            send(server, b.request("search", spans))
        body = server.get_json("/api/analysis/anomalies?service=search&lookback=5m")
        latency = [a for a in body["anomalies"] if a["metric"] == "latency"]
        assert len(latency) == 1, body
        a = latency[0]
        step_at = start + 40 * NS
        assert step_at <= int(a["start"]) <= step_at + 3 * NS, (int(a["start"]) - step_at) / NS
        assert 2.4 <= a["ratio"] <= 3.6, a
        print(f"latency step flagged from window {(int(a['start']) - step_at) // NS} after the step, ratio {a['ratio']:.2f}, score {a['score']:.1f}")
        assert a["exampleTraceIDs"]
        assert not [x for x in body["anomalies"] if x["metric"] == "error_rate"], body
        forecast = server.get_json("/api/analysis/forecast?service=search&lookback=2m&horizon=5")
        assert len(forecast["throughput"]["forecast"]) == 5
        assert all(p["lower"] <= p["value"] <= p["upper"] for p in forecast["p95Ms"]["forecast"])
    finally:
        server.stop()


# MARK: ariadne diff


@pytest.mark.parametrize("store", STORES)
def test_diff_exits_non_zero_on_a_significant_regression_only(tmp_path, store):
    server = Server(store_args(store))
    try:
        rng = random.Random(6)
        b = Spans(seed=6)
        now = time.time_ns()
        for version, cart_ms in (("1.0", 100), ("1.1", 140), ("1.2", 100)):
            spans = []
            for i in range(150):
                end = now - i * 5_000_000
                duration = int(cart_ms * (0.8 + 0.4 * rng.random()) * 1_000_000)
                db = int((5 + rng.random()) * 1_000_000)
                spans.append(("GET /cart", 2, end, duration, False, [("cart", "SELECT items", 3, end - 1_000_000, db, False)]))
            send(server, b.request("cart", spans, version=version))

        def diff(*args):
            return subprocess.run(
                [BINARY, "diff", "--endpoint", f"http://{server.query}", "--service", "cart", "--attribute", "service.version", *args],
                capture_output=True, text=True, timeout=60,
            )

        slower = diff("--baseline", "1.0", "--candidate", "1.1", "--percentile", "p50", "--threshold", "10%")
        assert slower.returncode == 1, slower.stdout + slower.stderr
        rows = {re.split(r"\s{2,}", line)[1]: line for line in slower.stdout.splitlines() if line.startswith("cart ")}
        assert "REGRESSED" in rows["GET /cart"], slower.stdout
        assert "REGRESSED" not in rows["SELECT items"], slower.stdout
        same = diff("--baseline", "1.0", "--candidate", "1.2")
        assert same.returncode == 0, same.stdout + same.stderr
        assert "no p95 regression" in same.stdout
        empty = diff("--baseline", "1.0", "--candidate", "9.9")
        assert empty.returncode == 2 and "no traces in the candidate" in empty.stderr
    finally:
        server.stop()


def test_red_metrics_count_spans_that_tail_sampling_drops(tmp_path):
    config = write_config(
        tmp_path,
        """
processors:
  tail_sampling:
    decision_wait: 500ms
    policies:
      - {name: errors, type: status_code, status_codes: [ERROR]}
""",
    )
    server = Server(["--config", config])
    try:
        now = time.time_ns()
        b = Spans(seed=7)
        spans = [("GET /item", 2, now - i * 1_000_000, 10_000_000, i < 3, []) for i in range(100)]
        send(server, b.request("shop", spans))
        time.sleep(2)  # past the decision wait
        stored = server.get_json("/api/traces?service=shop&limit=1000&lookback=1h")["data"]
        assert len(stored) == 3, f"only the failed traces are kept: {len(stored)}"
        red = server.get_json("/api/analysis/red?service=shop&lookback=1h")["operations"][0]
        assert (red["calls"], red["errors"]) == (100, 3), red
        text = requests.get(server.url("/metrics"), timeout=10).text
        assert 'traces_span_metrics_calls_total{service_name="shop",span_name="GET /item",span_kind="SPAN_KIND_SERVER",status_code="STATUS_CODE_UNSET"} 97' in text
    finally:
        server.stop()
