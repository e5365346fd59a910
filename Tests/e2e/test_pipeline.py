"""The processing pipeline from a configuration file, on the real binary with the real
OpenTelemetry SDK: planted personal data is not readable through any query endpoint, and the
attributes processor's changes are."""

import hashlib
import math
import os
import socket
import subprocess
import tempfile
import time

import pytest
import requests
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

from conftest import BINARY, Server

CONFIG = """
processors:
  attributes/tenant:
    include: {services: [shop]}
    actions:
      - {key: tenant, action: insert, value: acme}
      - {key: user.id, action: hash}
  redaction:
    mode: hash
    hash_key_env: ARIADNE_TEST_REDACTION_KEY
service:
  pipelines:
    traces:
      processors: [attributes/tenant, redaction]
"""

# What a careless service puts in its spans.
PLANTED = {
    "email": "jane.doe@example.com",
    "card": "4111 1111 1111 1111",
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJqYW5lIn0.c2lnbmF0dXJlLXZhbHVl",
    "bearer": "mF_9.B5f-4.1JqM",
    "ssn": "123-45-6789",
    "password": "hunter2-correct-horse",
    "query_secret": "tok3n-in-the-url",
}


@pytest.fixture(scope="module")
def server():
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        f.write(CONFIG)
    os.environ["ARIADNE_TEST_REDACTION_KEY"] = "e2e-key"
    s = Server(extra_args=["--config", f.name])
    yield s
    s.stop()
    os.unlink(f.name)


def emit(server):
    provider = TracerProvider(resource=Resource.create({"service.name": "shop", "owner.email": PLANTED["email"]}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"http://{server.grpc}", insecure=True)))
    tracer = provider.get_tracer("e2e.pipeline")
    with tracer.start_as_current_span(f"login {PLANTED['email']}", kind=SpanKind.SERVER, attributes={
        "user.id": "u-42",
        "user.email": PLANTED["email"],
        "payment.card": PLANTED["card"],
        "http.request.header.authorization": f"Bearer {PLANTED['bearer']}",
        "session": PLANTED["jwt"],
        "db.password": PLANTED["password"],
        "url.full": f"https://shop.example.com/login?next=/home&token={PLANTED['query_secret']}",
        "http.route": "/login",
    }) as span:
        span.add_event("lookup", {"detail": f"ssn {PLANTED['ssn']} not found"})
        span.set_status(Status(StatusCode.ERROR, f"no account for {PLANTED['email']}"))
        trace_id = format(span.get_span_context().trace_id, "032x")
    provider.shutdown()
    return trace_id


def test_planted_pii_is_not_readable_through_the_query_api(server):
    trace_id = emit(server)
    jaeger = server.wait_for_trace(trace_id, 1)
    bodies = [
        requests.get(server.url(path), timeout=10).text
        for path in (f"/api/traces/{trace_id}", f"/api/v3/traces/{trace_id}", f"/api/analysis/traces/{trace_id}",
                     "/api/traces?service=shop&lookback=1h", "/api/search?service=shop")
    ]
    for body in bodies:
        for kind, value in PLANTED.items():
            assert value not in body, f"{kind} readable: {value}"
    # Searching by a planted value finds nothing; by its hash, the trace (equal values stay joinable).
    assert requests.get(server.url("/api/traces"), params={"service": "shop", "tag": f"user.email:{PLANTED['email']}"},
                        timeout=10).json()["data"] == []
    span = jaeger["spans"][0]
    tags = {t["key"]: t["value"] for t in span["tags"]}
    hashed = tags["user.email"]
    assert hashed.startswith("[email:") and len(hashed) == len("[email:]") + 16
    found = requests.get(server.url("/api/traces"), params={"service": "shop", "tag": f"user.email:{hashed}"}, timeout=10)
    assert [t["traceID"] for t in found.json()["data"]] == [trace_id]
    assert tags["db.password"].startswith("[value:")
    assert tags["url.full"] == "https://shop.example.com/login?next=REDACTED&token=REDACTED"
    assert tags["http.route"] == "/login"
    assert tags["ariadne.redacted.count"] >= 8
    # The attributes processor ran first: the tenant was added and the user id hashed (SHA-256).
    assert tags["tenant"] == "acme"
    assert tags["user.id"] == hashlib.sha256(b"u-42").hexdigest()
    metrics = requests.get(server.url("/metrics"), timeout=5).text
    redacted = int(next(l for l in metrics.splitlines() if l.startswith("ariadne_redaction_values_total ")).split()[1])
    assert redacted >= tags["ariadne.redacted.count"]
    assert 'ariadne_pipeline_batch_duration_seconds_bucket{le="+Inf"} ' in metrics
    assert "# TYPE ariadne_pipeline_batch_duration_seconds histogram" in metrics


def test_config_validate_names_the_line_of_each_mistake(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("processors:\n  memory_limiter: {limit_mib: 0}\n  redaction: {mode: scramble}\n")
    out = subprocess.run([BINARY, "config", "validate", str(bad)], capture_output=True, text=True, timeout=30)
    assert out.returncode == 1
    assert f"{bad}:2:31: limit_mib must be a positive integer" in out.stderr
    assert f"{bad}:3:21: mode must be mask or hash" in out.stderr
    good = tmp_path / "good.yaml"
    good.write_text(CONFIG)
    out = subprocess.run([BINARY, "config", "validate", str(good)], capture_output=True, text=True, timeout=30,
                         env={**os.environ, "ARIADNE_TEST_REDACTION_KEY": "k"})
    assert out.returncode == 0, out.stderr
    assert "otlp_grpc+otlp_http+zipkin → attributes/tenant → redaction → store" in out.stdout
    # serve refuses a bad file before binding anything.
    out = subprocess.run([BINARY, "serve", "--config", str(bad), "--data-dir", str(tmp_path / "d")],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 1 and "limit_mib must be a positive integer" in out.stderr


TAIL_CONFIG = """
processors:
  tail_sampling:
    decision_wait: 1s
    policies:
      - {name: errors, type: status_code, status_codes: [ERROR]}
      - {name: slow, type: latency, threshold_ms: 150}
      - {name: some-of-the-rest, type: probabilistic, sampling_percentage: 10}
"""


def all_summaries(server):
    return {t["traceID"]: t for t in server.get_json("/api/search?limit=1000000")["traces"]}


def test_tail_sampling_keeps_errors_slow_and_a_tenth_of_the_rest(tmp_path):
    """The same loadgen workload (same seed, same traces) goes to a server that keeps everything
    and to one that tail-samples: the second must hold every error and slow trace of the first,
    whole, and about a tenth of the others."""
    config = tmp_path / "tail.yaml"
    config.write_text(TAIL_CONFIG)
    truth, sampled = Server(), Server(extra_args=["--config", str(config)])
    try:
        for s in (truth, sampled):
            out = subprocess.run([BINARY, "loadgen", "--endpoint", s.grpc, "--spans", "30000", "--seed", "11",
                                  "--concurrency", "1"],
                                 capture_output=True, text=True, timeout=120)
            assert out.returncode == 0, out.stderr
        deadline = time.time() + 15
        while time.time() < deadline and "ariadne_tail_sampling_traces_held 0" not in requests.get(
                sampled.url("/metrics"), timeout=5).text:
            time.sleep(0.2)
        time.sleep(0.5)
        everything, kept = all_summaries(truth), all_summaries(sampled)
        assert len(everything) > 1000
        assert set(kept) <= set(everything)
        errors = {i for i, t in everything.items() if t["errorCount"] > 0}
        slow = {i for i, t in everything.items() if t["durationNanos"] >= 150_000_000}
        rest = set(everything) - errors - slow
        assert errors and slow
        assert errors <= set(kept), f"{len(errors - set(kept))} error traces dropped"
        assert slow <= set(kept), f"{len(slow - set(kept))} slow traces dropped"
        for i in kept:
            assert kept[i]["spanCount"] == everything[i]["spanCount"], "a kept trace is whole"
        share = len(set(kept) & rest) / len(rest)
        sigma = math.sqrt(0.1 * 0.9 / len(rest))
        assert abs(share - 0.1) < 5 * sigma, f"kept {share:.3f} of {len(rest)} fast successful traces"
        metrics = requests.get(sampled.url("/metrics"), timeout=5).text
        assert f'ariadne_tail_sampling_traces_total{{decision="sampled"}} {len(kept)}' in metrics
        print(f"\ntail sampling: {len(everything)} traces; kept {len(errors)} errors, {len(slow)} slow, "
              f"{share:.3f} of {len(rest)} others")
    finally:
        truth.stop()
        sampled.stop()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def span_total(server):
    return sum(t["spanCount"] for t in all_summaries(server).values())


def test_agent_forwards_whole_traces_to_gateways_and_retries_until_one_is_up(tmp_path):
    """An agent with no local store forwards over OTLP/gRPC to a gateway that starts late (the
    agent queues and retries) and over OTLP/HTTP to one that is up; both get every span."""
    late_port = free_port()
    http_gateway = Server()
    config = tmp_path / "agent.yaml"
    config.write_text(f"""
exporters:
  otlp/late:
    endpoint: 127.0.0.1:{late_port}
    retry_on_failure: {{initial_interval: 200ms, max_interval: 1s}}
  otlphttp/up:
    endpoint: http://{http_gateway.http}/v1/traces
    compression: gzip
service:
  pipelines:
    traces:
      processors: [batch]
      exporters: [otlp/late, otlphttp/up]
processors:
  batch: {{send_batch_size: 2000, timeout: 100ms}}
""")
    agent = Server(extra_args=["--config", str(config)])
    late = None
    try:
        out = subprocess.run([BINARY, "loadgen", "--endpoint", agent.grpc, "--spans", "5000", "--seed", "3"],
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        acknowledged = int(out.stdout.split("acknowledged=")[-1].split()[0])
        time.sleep(1.5)  # the late gateway is still down: the agent retries
        assert "ariadne_exporter_retries_total{exporter=\"otlp/late\"}" in requests.get(agent.url("/metrics"), timeout=5).text
        late = Server(extra_args=["--otlp-grpc-port", str(late_port)])
        deadline = time.time() + 30
        while time.time() < deadline and (span_total(late) < acknowledged or span_total(http_gateway) < acknowledged):
            time.sleep(0.3)
        assert span_total(late) == acknowledged
        assert span_total(http_gateway) == acknowledged
        assert set(all_summaries(late)) == set(all_summaries(http_gateway))
        assert all_summaries(agent) == {}  # no store among the agent's exporters
        metrics = requests.get(agent.url("/metrics"), timeout=5).text
        assert f'ariadne_exporter_sent_spans_total{{exporter="otlp/late"}} {acknowledged}' in metrics
        assert 'ariadne_exporter_queue_spans{exporter="otlp/late"} 0' in metrics
    finally:
        agent.stop()
        http_gateway.stop()
        if late:
            late.stop()


def test_receivers_from_the_file_decide_what_listens(tmp_path):
    config = tmp_path / "receivers.yaml"
    config.write_text("""
receivers:
  otlp:
    protocols:
      grpc: {endpoint: "127.0.0.1:4317"}
service:
  pipelines:
    traces:
      receivers: [otlp]
""")
    # conftest's --otlp-grpc-port 0 overrides the file's port; the file still decides what listens.
    s = Server(extra_args=["--config", str(config)])
    try:
        assert s.http == "off" and s.zipkin == "off"
        out = subprocess.run([BINARY, "loadgen", "--endpoint", s.grpc, "--spans", "500"], capture_output=True, text=True,
                             timeout=60)
        assert out.returncode == 0, out.stderr
        assert " acknowledged=" in out.stdout and " acknowledged=0 " not in out.stdout
        assert all_summaries(s)
    finally:
        s.stop()
