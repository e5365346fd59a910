"""Jaeger's legacy receivers: real legacy clients (jaeger-client, the OpenTelemetry Jaeger Thrift
exporter) over UDP Thrift compact and HTTP Thrift binary, hand-built messages for UDP Thrift binary
and gRPC api_v2 (no legacy Python client speaks them), and malformed input on every one."""

import json
import os
import random
import re
import socket
import struct
import subprocess
import time

import grpc
import pytest
import requests

from conftest import ROOT, Server

LEGACY_PYTHON = os.path.join(ROOT, ".venv-legacy", "bin", "python")
SEND = os.path.join(ROOT, "Tests", "e2e", "legacy", "send.py")


@pytest.fixture(scope="module")
def jaeger():
    s = Server(
        extra_args=[
            "--jaeger-grpc-port", "0", "--jaeger-thrift-http-port", "0",
            "--jaeger-thrift-compact-port", "0", "--jaeger-thrift-binary-port", "0",
        ]
    )
    yield s
    s.stop()


def port(server, name):
    return int(server.addresses[name].rsplit(":", 1)[1])


def legacy_send(mode, where):
    out = subprocess.run([LEGACY_PYTHON, SEND, mode, str(where)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def tags(obj):
    return {t["key"]: t["value"] for t in obj["tags"]}


def spans_by_id(trace):
    return {s["spanID"]: s for s in trace["spans"]}


def metric(server, name, **labels):
    text = requests.get(server.url("/metrics"), timeout=10).text
    total = 0
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_default_server_has_jaeger_receivers_off(server):
    for name in ("jaeger_grpc", "jaeger_thrift_http", "jaeger_compact", "jaeger_binary"):
        assert server.addresses[name] == "off"


def test_jaeger_client_over_udp_compact(jaeger):
    sent = legacy_send("jaeger-client", port(jaeger, "jaeger_compact"))
    trace = jaeger.wait_for_trace(sent["trace_id"], 3)
    spans = spans_by_id(trace)
    root, db, later = spans[sent["root"]], spans[sent["db"]], spans[sent["later"]]

    assert root["operationName"] == "GET /checkout" and root["references"] == []
    t = tags(root)
    assert t["user.id"] == "u-1234" and t["http.status_code"] == 200
    assert t["cart.value"] == 12.5 and t["cache.hit"] is False and t["span.kind"] == "server"
    log = root["logs"][0]
    assert {f["key"]: f["value"] for f in log["fields"]} == {"event": "cart loaded", "items": 3}
    assert log["timestamp"] >= root["startTime"]

    assert db["references"] == [{"refType": "CHILD_OF", "traceID": sent["trace_id"], "spanID": sent["root"]}]
    t = tags(db)
    assert t["error"] is True and t["span.kind"] == "client" and t["db.statement"].startswith("SELECT")
    assert {f["key"]: f["value"] for f in db["logs"][0]["fields"]}["message"] == "deadlock detected"

    assert {"refType": "FOLLOWS_FROM", "traceID": sent["trace_id"], "spanID": sent["root"]} in later["references"]

    process = trace["processes"][root["processID"]]
    assert process["serviceName"] == "legacy-shop"
    p = tags(process)
    assert p["region"] == "eu-west-1" and p["build"] == 42 and p["jaeger.version"].startswith("Python-")

    # The error tag is the span's status: a search for errors finds it.
    found = jaeger.get_json("/api/traces?service=legacy-shop&tags=%7B%22error%22%3A%22true%22%7D")
    assert sent["trace_id"] in [t["traceID"] for t in found["data"]]


@pytest.mark.parametrize("mode", ["otel-agent", "otel-collector"])
def test_otel_jaeger_exporter(jaeger, mode):
    where = port(jaeger, "jaeger_compact") if mode == "otel-agent" else f"http://{jaeger.addresses['jaeger_thrift_http']}/api/traces"
    sent = legacy_send(mode, where)
    trace = jaeger.wait_for_trace(sent["trace_id"], 2)
    spans = spans_by_id(trace)
    root, child = spans[sent["root"]], spans[sent["child"]]
    assert tags(root)["amount"] == 99 and tags(root)["span.kind"] == "server"
    assert tags(root)["otel.scope.name"] == "legacy.test" and tags(root)["otel.scope.version"] == "1.2.3"
    assert child["references"] == [{"refType": "CHILD_OF", "traceID": sent["trace_id"], "spanID": sent["root"]}]
    t = tags(child)
    assert t["otel.status_code"] == "ERROR" and t["otel.status_description"] == "card declined"
    # This exporter names the event in a `message` field, not `event`: the fields come back as sent.
    assert {f["key"]: f["value"] for f in child["logs"][0]["fields"]} == {"message": "retry", "attempt": 2}
    assert trace["processes"][root["processID"]]["serviceName"] == "legacy-otel"


# --- Thrift binary protocol, by hand (for UDP 6832 and hostile bodies) ---------------------------

def t_field(ftype, fid, payload):
    return struct.pack(">bh", ftype, fid) + payload


def t_string(s):
    b = s.encode() if isinstance(s, str) else s
    return struct.pack(">i", len(b)) + b


def t_i64(v):
    return struct.pack(">q", v)


def t_list(etype, items):
    return struct.pack(">bi", etype, len(items)) + b"".join(items)


STOP = b"\x00"


def t_tag(key, value):
    if isinstance(value, bool):
        body = t_field(8, 2, struct.pack(">i", 2)) + t_field(2, 5, b"\x01" if value else b"\x00")
    elif isinstance(value, int):
        body = t_field(8, 2, struct.pack(">i", 3)) + t_field(10, 6, t_i64(value))
    elif isinstance(value, float):
        body = t_field(8, 2, struct.pack(">i", 1)) + t_field(4, 4, struct.pack(">d", value))
    else:
        body = t_field(8, 2, struct.pack(">i", 0)) + t_field(11, 3, t_string(value))
    return t_field(11, 1, t_string(key)) + body + STOP


def t_span(trace_low, span_id, parent, name, start_us, duration_us, span_tags):
    return (
        t_field(10, 1, t_i64(trace_low)) + t_field(10, 2, t_i64(0)) + t_field(10, 3, t_i64(span_id))
        + t_field(10, 4, t_i64(parent)) + t_field(11, 5, t_string(name)) + t_field(8, 7, struct.pack(">i", 1))
        + t_field(10, 8, t_i64(start_us)) + t_field(10, 9, t_i64(duration_us))
        + t_field(15, 10, t_list(12, [t_tag(k, v) for k, v in span_tags.items()])) + STOP
    )


def t_batch(service, spans, process_tags=None):
    process = t_field(11, 1, t_string(service))
    if process_tags:
        process += t_field(15, 2, t_list(12, [t_tag(k, v) for k, v in process_tags.items()]))
    return t_field(12, 1, process + STOP) + t_field(15, 2, t_list(12, spans)) + STOP


def t_emit_batch(batch):
    # A strict binary message header: version 1, type ONEWAY (4), the method name, a sequence id.
    return struct.pack(">I", 0x80010004) + t_string("emitBatch") + struct.pack(">i", 1) + t_field(12, 1, batch) + STOP


def test_udp_thrift_binary(jaeger):
    trace_low = random.getrandbits(63)
    now = int(time.time() * 1e6)
    batch = t_batch(
        "binary-svc",
        [t_span(trace_low, 11, 0, "root", now, 500, {"k": "v", "n": 5}),
         t_span(trace_low, 12, 11, "child", now + 10, 100, {"ratio": 0.5, "span.kind": "client"})],
        {"hostname": "box-1"},
    )
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(t_emit_batch(batch), ("127.0.0.1", port(jaeger, "jaeger_binary")))
    trace = jaeger.wait_for_trace(format(trace_low, "016x"), 2)
    spans = spans_by_id(trace)
    root, child = spans[format(11, "016x")], spans[format(12, "016x")]
    assert tags(root)["k"] == "v" and tags(root)["n"] == 5
    assert child["references"][0]["spanID"] == format(11, "016x") and tags(child)["ratio"] == 0.5
    assert root["duration"] == 500 and root["startTime"] == now
    assert tags(trace["processes"][root["processID"]])["hostname"] == "box-1"


def test_http_thrift_errors(jaeger):
    url = f"http://{jaeger.addresses['jaeger_thrift_http']}/api/traces"
    thrift = {"Content-Type": "application/x-thrift"}
    r = requests.post(url, data=b"\x0c\x00\x01garbage", headers=thrift, timeout=10)
    assert r.status_code == 400 and "malformed" in r.text
    r = requests.post(url, data=t_batch("x", [])[:-3], headers=thrift, timeout=10)
    assert r.status_code == 400
    # A list that claims four billion spans in a 20-byte body: refused, not allocated.
    r = requests.post(url, data=t_field(15, 2, struct.pack(">bi", 12, 0x7FFFFFFF)), headers=thrift, timeout=10)
    assert r.status_code == 400 and "exceeds" in r.text
    r = requests.post(url, data=b"{}", headers={"Content-Type": "application/json"}, timeout=10)
    assert r.status_code == 415
    # A span with a negative start time is refused alone; the batch's other span is stored.
    trace_low = random.getrandbits(63)
    now = int(time.time() * 1e6)
    body = t_batch("http-svc", [t_span(trace_low, 1, 0, "ok", now, 5, {}), t_span(trace_low, 2, 1, "bad", -5, 5, {})])
    r = requests.post(url, data=body, headers=thrift, timeout=10)
    assert r.status_code == 202 and r.json()["rejected"] == 1 and "startTime" in r.json()["message"]
    trace = jaeger.wait_for_trace(format(trace_low, "016x"), 1)
    assert [s["operationName"] for s in trace["spans"]] == ["ok"]


def test_udp_drops_are_counted(jaeger):
    before_bad = metric(jaeger, "ariadne_receiver_packets_dropped_total", transport="udp_compact", reason="malformed")
    before_big = metric(jaeger, "ariadne_receiver_packets_dropped_total", transport="udp_binary", reason="too_large")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(b"\x82\x81\x01\x09emitBatch\x1c\xff\xff", ("127.0.0.1", port(jaeger, "jaeger_compact")))
        s.sendto(b"\x82\x21\x01\x0cemitZipkin", ("127.0.0.1", port(jaeger, "jaeger_compact")))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
        s.sendto(b"\x00" * 65_400, ("127.0.0.1", port(jaeger, "jaeger_binary")))
    deadline = time.time() + 5
    while time.time() < deadline:
        bad = metric(jaeger, "ariadne_receiver_packets_dropped_total", transport="udp_compact", reason="malformed")
        big = metric(jaeger, "ariadne_receiver_packets_dropped_total", transport="udp_binary", reason="too_large")
        if bad >= before_bad + 2 and big >= before_big + 1:
            break
        time.sleep(0.05)
    assert bad == before_bad + 2 and big == before_big + 1
    # The receiver still works after them.
    test_udp_thrift_binary(jaeger)


# --- api_v2 protobuf, by hand ---------------------------------------------------------------------

def pb_varint(v):
    out = b""
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def pb(field, payload):
    if isinstance(payload, int):
        return pb_varint(field << 3) + pb_varint(payload)
    return pb_varint(field << 3 | 2) + pb_varint(len(payload)) + payload


def pb_kv(key, value):
    if isinstance(value, int):
        return pb(1, key.encode()) + pb(2, 2) + pb(5, value)
    return pb(1, key.encode()) + pb(3, value.encode())


def pb_time(ns):
    return pb(1, ns // 1_000_000_000) + pb(2, ns % 1_000_000_000)


def post_spans(jaeger, body):
    channel = grpc.insecure_channel(jaeger.addresses["jaeger_grpc"])
    call = channel.unary_unary(
        "/jaeger.api_v2.CollectorService/PostSpans", request_serializer=None, response_deserializer=None
    )
    try:
        return call(body, timeout=10)
    finally:
        channel.close()


def test_grpc_post_spans(jaeger):
    trace_id = random.getrandbits(128).to_bytes(16, "big")
    root_id, child_id, other = (random.getrandbits(64).to_bytes(8, "big") for _ in range(3))
    now = time.time_ns()
    root = (
        pb(1, trace_id) + pb(2, root_id) + pb(3, b"grpc-root") + pb(5, 1) + pb(6, pb_time(now)) + pb(7, pb_time(2_000_000))
        + pb(8, pb_kv("span.kind", "server")) + pb(8, pb_kv("attempts", 3))
        + pb(9, pb(1, pb_time(now + 1000)) + pb(2, pb_kv("event", "started")))
    )
    child = (
        pb(1, trace_id) + pb(2, child_id) + pb(3, b"grpc-child")
        + pb(4, pb(1, trace_id) + pb(2, root_id))  # CHILD_OF (0) is the default ref_type
        + pb(4, pb(1, trace_id) + pb(2, other) + pb(3, 1))  # FOLLOWS_FROM
        + pb(6, pb_time(now + 5000)) + pb(7, pb_time(1_000_000)) + pb(8, pb_kv("otel.status_code", "ERROR"))
        # A span's own process wins over the batch's.
        + pb(10, pb(1, b"grpc-worker") + pb(2, pb_kv("pod", "w-1")))
    )
    batch = pb(1, root) + pb(1, child) + pb(2, pb(1, b"grpc-api") + pb(2, pb_kv("zone", "a")))
    assert post_spans(jaeger, pb(1, batch)) == b""
    trace = jaeger.wait_for_trace(trace_id.hex(), 2)
    spans = spans_by_id(trace)
    r, c = spans[root_id.hex()], spans[child_id.hex()]
    assert r["operationName"] == "grpc-root" and r["duration"] == 2000 and r["startTime"] == now // 1000
    assert tags(r)["attempts"] == 3 and r["logs"][0]["fields"] == [{"key": "event", "type": "string", "value": "started"}]
    assert {"refType": "CHILD_OF", "traceID": trace_id.hex(), "spanID": root_id.hex()} in c["references"]
    assert {"refType": "FOLLOWS_FROM", "traceID": trace_id.hex(), "spanID": other.hex()} in c["references"]
    assert tags(c)["otel.status_code"] == "ERROR"
    processes = trace["processes"]
    assert processes[r["processID"]]["serviceName"] == "grpc-api" and tags(processes[r["processID"]])["zone"] == "a"
    assert processes[c["processID"]]["serviceName"] == "grpc-worker" and tags(processes[c["processID"]])["pod"] == "w-1"


def test_grpc_malformed_is_invalid_argument(jaeger):
    for body in (b"\x0a\x05\x0a\x03\x0a\x01", pb(1, pb(1, pb(1, b"short"))), b"\xff"):
        with pytest.raises(grpc.RpcError) as e:
            post_spans(jaeger, body)
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert re.search(r"malformed", e.value.details())
