"""Hostile and broken input: each gets the documented error, and the server keeps serving."""

import gzip
import json

import pytest
import requests
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from conftest import Server

PROTOBUF = {"Content-Type": "application/x-protobuf"}
JSON = {"Content-Type": "application/json"}


def valid_request(name="ok"):
    req = ExportTraceServiceRequest()
    sp = req.resource_spans.add().scope_spans.add().spans.add()
    sp.trace_id = bytes(range(1, 17))
    sp.span_id = bytes(range(1, 9))
    sp.name = name
    sp.start_time_unix_nano = 1
    sp.end_time_unix_nano = 2
    return req.SerializeToString()


def span_with_name(raw_name):
    """A request whose span name field holds `raw_name` bytes, length-prefixed by hand."""
    span = bytes([0x0A, 16]) + bytes(range(1, 17)) + bytes([0x12, 8]) + bytes(range(1, 9))
    span += bytes([0x2A, len(raw_name)]) + raw_name
    scope_spans = bytes([0x12, len(span)]) + span
    resource_spans = bytes([0x12, len(scope_spans)]) + scope_spans
    return bytes([0x0A, len(resource_spans)]) + resource_spans


CASES = [
    # (name, body, headers, expected status)
    ("truncated protobuf", valid_request()[:-3], PROTOBUF, 400),
    ("wrong wire type", bytes([0x08, 0x01]), PROTOBUF, 400),
    ("wrong wire type in span", bytes([0x0A, 0x04, 0x12, 0x02, 0x10, 0x05]), PROTOBUF, 400),
    ("invalid UTF-8", span_with_name(b"\xff\xfe\xfd"), PROTOBUF, 400),
    ("huge length prefix", bytes([0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F]) + b"\x00" * 10, PROTOBUF, 400),
    ("varint overflow", bytes([0x0A]) + b"\xff" * 11, PROTOBUF, 400),
    ("bad hex trace id", json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [
        {"traceId": "not-hex-at-all!!", "spanId": "0102030405060708", "name": "x"}]}]}]}).encode(), JSON, 400),
    ("JSON that is not an object", b"[1,2,3]", JSON, 400),
    ("truncated JSON", b'{"resourceSpans": [', JSON, 400),
    ("invalid gzip", b"\x1f\x8b\x08\x00garbage", {**PROTOBUF, "Content-Encoding": "gzip"}, 400),
    ("wrong content type", valid_request(), {"Content-Type": "text/plain"}, 415),
    ("no content type", valid_request(), {}, 415),
    ("unknown content encoding", valid_request(), {**PROTOBUF, "Content-Encoding": "br"}, 415),
]


@pytest.mark.parametrize("name,body,headers,status", CASES, ids=[c[0] for c in CASES])
def test_malformed_input_gets_the_documented_error(server, name, body, headers, status):
    r = requests.post(f"http://{server.http}/v1/traces", data=body, headers=headers, timeout=10)
    assert r.status_code == status, f"{name}: {r.status_code} {r.text[:200]}"
    if status == 400 and headers.get("Content-Type") == "application/json":
        assert r.json()["code"] == 3 and r.json()["message"]
    # The server is still up and accepts a valid request afterwards.
    ok = requests.post(f"http://{server.http}/v1/traces", data=valid_request(), headers=PROTOBUF, timeout=10)
    assert ok.status_code == 200


def test_invalid_ids_are_partial_success(server):
    req = ExportTraceServiceRequest()
    spans = req.resource_spans.add().scope_spans.add()
    for n, (tid, sid) in enumerate([(b"\x00" * 16, b"\x01" * 8), (b"\x01" * 16, b"\x00" * 8), (b"\x01" * 3, b"\x01" * 8), (b"\x02" * 16, b"\x02" * 8)]):
        sp = spans.spans.add()
        sp.trace_id, sp.span_id, sp.name = tid, sid, f"s{n}"
        sp.start_time_unix_nano, sp.end_time_unix_nano = 10, 20
    r = requests.post(f"http://{server.http}/v1/traces", data=req.SerializeToString(), headers=PROTOBUF, timeout=10)
    assert r.status_code == 200
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

    resp = ExportTraceServiceResponse()
    resp.ParseFromString(r.content)
    assert resp.partial_success.rejected_spans == 3
    assert "trace id" in resp.partial_success.error_message
    assert server.wait_for_trace("02" * 16, 1)["spans"][0]["operationName"] == "s3"


def test_gzip_bomb_and_oversized_bodies_are_413():
    s = Server(extra_args=["--max-body-bytes", "1000000"])
    try:
        bomb = gzip.compress(b"\x00" * 50_000_000)
        assert len(bomb) < 100_000
        r = requests.post(
            f"http://{s.http}/v1/traces", data=bomb, headers={**PROTOBUF, "Content-Encoding": "gzip"}, timeout=30)
        assert r.status_code == 413
        r = requests.post(f"http://{s.http}/v1/traces", data=b"\x00" * 2_000_000, headers=PROTOBUF, timeout=30)
        assert r.status_code == 413
        ok = requests.post(f"http://{s.http}/v1/traces", data=valid_request(), headers=PROTOBUF, timeout=10)
        assert ok.status_code == 200
    finally:
        s.stop()


def test_grpc_malformed_message_is_invalid_argument(server):
    import grpc

    channel = grpc.insecure_channel(server.grpc)
    export = channel.unary_unary(
        "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
        request_serializer=lambda b: b,
        response_deserializer=lambda b: b,
    )
    with pytest.raises(grpc.RpcError) as err:
        export(bytes([0x0A, 0xFF, 0xFF, 0xFF, 0x0F]), timeout=10)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert export(valid_request(), timeout=10) == b""
    channel.close()


def test_server_logs_start_and_stop_and_stops_on_sigterm():
    s = Server()
    data_dir = s.data_dir
    s.process.send_signal(15)
    s.process.wait(timeout=15)
    out = s.output()
    assert "ariadne serve started" in out and f"data_dir={data_dir}" in out
    assert "ariadne serve stopped" in out
    s.stop()
