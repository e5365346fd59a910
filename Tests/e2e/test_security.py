"""API keys and roles on the real binary, with the OpenTelemetry SDK sending a bearer header over
gRPC and HTTP, and the audit log of a scripted sequence of requests checked line by line and with
`ariadne audit verify` (which must name the line that was edited, removed or swapped)."""

import json
import subprocess

import pytest
import requests
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GRPCExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HTTPExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from conftest import BINARY, Server

INGEST, VIEWER, ADMIN = "ingest-0123456789abcdef", "viewer-0123456789abcdef", "admin-0123456789abcdef"


@pytest.fixture(scope="module")
def secured(tmp_path_factory):
    d = tmp_path_factory.mktemp("secured")
    for name, key in (("ingest", INGEST), ("viewer", VIEWER), ("admin", ADMIN)):
        (d / name).write_text(key + "\n")
    config = d / "ariadne.yaml"
    config.write_text(
        "auth:\n"
        "  api_keys:\n"
        "    - {name: shop-ingest, key_file: ingest, tenant: shop, role: ingest}\n"
        "    - {name: pay-reader, key_file: viewer, tenant: shop, role: viewer}\n"
        "    - {name: ops, key_file: admin, tenant: shop, role: admin}\n"
        "audit:\n"
        "  file: audit.log\n"
    )
    s = Server(extra_args=["--config", str(config)])
    s.audit_path = d / "audit.log"
    yield s
    s.stop()


def send(exporter):
    provider = TracerProvider(resource=Resource.create({"service.name": "secured-svc"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with provider.get_tracer("t").start_as_current_span("op") as span:
        trace_id = format(span.get_span_context().trace_id, "032x")
    provider.shutdown()
    return trace_id


def test_sdk_exports_with_a_bearer_header_and_is_refused_without(secured):
    auth = {"authorization": f"Bearer {INGEST}"}
    grpc_trace = send(GRPCExporter(endpoint=secured.grpc, insecure=True, headers=auth))
    http_trace = send(HTTPExporter(endpoint=f"http://{secured.http}/v1/traces", headers=auth))
    headers = {"Authorization": f"Bearer {VIEWER}"}
    for trace_id in (grpc_trace, http_trace):
        r = requests.get(secured.url(f"/api/traces/{trace_id}"), headers=headers, timeout=10)
        assert r.status_code == 200 and r.json()["data"][0]["spans"]
    # Without a key, or with a reader's, the receivers refuse.
    assert requests.post(f"http://{secured.http}/v1/traces", data=b"", timeout=10,
                         headers={"Content-Type": "application/x-protobuf"}).status_code == 401
    assert requests.post(f"http://{secured.http}/v1/traces", data=b"", timeout=10,
                         headers={"Content-Type": "application/x-protobuf", "Authorization": f"Bearer {VIEWER}"}).status_code == 403
    from opentelemetry.sdk.trace.export import SpanExportResult
    provider = TracerProvider()
    exporter = GRPCExporter(endpoint=secured.grpc, insecure=True, headers={"authorization": f"Bearer {VIEWER}"}, timeout=5)
    with provider.get_tracer("t").start_as_current_span("x") as span:
        pass
    assert exporter.export([span]) == SpanExportResult.FAILURE
    assert requests.get(secured.url("/health"), timeout=10).status_code == 200


def test_audit_log_of_a_scripted_sequence_and_its_verification(secured, tmp_path):
    viewer, admin = {"Authorization": f"Bearer {VIEWER}"}, {"Authorization": f"Bearer {ADMIN}"}
    before = secured.audit_path.read_text().count("\n") if secured.audit_path.exists() else 0
    steps = [
        (requests.get, "/api/traces?service=secured-svc&limit=5", viewer, 200),
        (requests.get, "/api/traces/0af7651916cd43dd8448eb211c80319c", viewer, 404),
        (requests.get, "/api/analysis/bottlenecks?service=secured-svc", viewer, None),
        (requests.get, "/api/services", viewer, 200),  # not a trace read: not audited
        (requests.post, "/api/admin/delete", viewer, 403),
        (requests.get, "/api/services", {"Authorization": "Bearer not-a-key-at-all-1234"}, 401),
    ]
    for method, path, headers, status in steps:
        r = method(secured.url(path), headers=headers, timeout=10)
        assert status is None or r.status_code == status, (path, r.status_code, r.text)
    r = requests.post(secured.url("/api/admin/delete"), headers={**admin, "Content-Type": "application/json"},
                      data=json.dumps({"traceIDs": ["0af7651916cd43dd8448eb211c80319c"]}), timeout=10)
    assert r.status_code in (200, 400), r.text
    lines = [json.loads(l) for l in secured.audit_path.read_text().splitlines()[before:]]
    assert [(l["action"], l["principal"]) for l in lines] == [
        ("trace.search", "pay-reader"), ("trace.read", "pay-reader"), ("analysis", "pay-reader"),
        ("auth.forbidden", "pay-reader"), ("auth.failure", ""), ("admin.delete", "ops"),
    ]
    assert lines[0]["target"] == "/api/traces?service=secured-svc&limit=5" and lines[0]["result"] == "200"
    assert lines[1]["result"] == "404" and lines[3]["result"] == "403"
    assert all(l["tenant"] == "shop" for l in lines if l["principal"]) and all(l["remote"] == "127.0.0.1" for l in lines)
    assert all(l["request_id"] for l in lines)
    # Only admins read it back.
    assert requests.get(secured.url("/api/admin/audit?limit=3"), headers=viewer, timeout=10).status_code == 403
    tail = requests.get(secured.url("/api/admin/audit?limit=3"), headers=admin, timeout=10).json()
    assert len(tail) == 3

    text = secured.audit_path.read_text()
    ok = subprocess.run([BINARY, "audit", "verify", str(secured.audit_path)], capture_output=True, text=True)
    assert ok.returncode == 0 and "chain intact" in ok.stdout
    all_lines = text.splitlines()
    for name, tampered, line in [
        ("edited", all_lines[:2] + [all_lines[2].replace('"result":"', '"result":"x')] + all_lines[3:], 3),
        ("removed", all_lines[:1] + all_lines[2:], 2),
        ("swapped", [all_lines[1], all_lines[0]] + all_lines[2:], 1),
    ]:
        f = tmp_path / f"{name}.log"
        f.write_text("\n".join(tampered) + "\n")
        bad = subprocess.run([BINARY, "audit", "verify", str(f)], capture_output=True, text=True)
        assert bad.returncode == 1 and f"{f}:{line}:" in bad.stderr, (name, bad.stderr)
