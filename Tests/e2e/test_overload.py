"""Overload: past its in-flight budget the server answers 429 with Retry-After (HTTP) and
UNAVAILABLE-style retryable errors, and nothing it acknowledged is lost."""

import concurrent.futures
import os

import requests
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from conftest import Server


def big_request(n):
    """One trace of 2,000 spans with sizeable attributes (~1 MB)."""
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    kv = rs.resource.attributes.add()
    kv.key, kv.value.string_value = "service.name", "overload"
    spans = rs.scope_spans.add()
    trace_id = os.urandom(16)
    for k in range(2000):
        sp = spans.spans.add()
        sp.trace_id = trace_id
        sp.span_id = (k + 1).to_bytes(8, "big")
        sp.name = f"op-{n}"
        sp.start_time_unix_nano, sp.end_time_unix_nano = 1_000 + k, 2_000 + k
        a = sp.attributes.add()
        a.key, a.value.string_value = "payload", "x" * 400
    return trace_id.hex(), req.SerializeToString()


def test_backpressure_and_nothing_acknowledged_is_lost():
    # A budget smaller than one request: a request is admitted only while no other is in flight.
    s = Server(extra_args=["--max-in-flight-bytes", "1000", "--store", "memory"])
    try:
        bodies = [big_request(n) for n in range(16)]
        acked, throttled = [], []

        def send(item):
            trace_id, body = item
            r = requests.post(
                f"http://{s.http}/v1/traces", data=body, headers={"Content-Type": "application/x-protobuf"}, timeout=30)
            return trace_id, r

        for _ in range(5):  # overlap is likely but not certain in one round
            with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
                for trace_id, r in pool.map(send, bodies):
                    assert r.status_code in (200, 429), r.text[:200]
                    if r.status_code == 200:
                        acked.append(trace_id)
                    else:
                        throttled.append(r)
            if throttled:
                break
        assert throttled, "no request was throttled although the budget allows one at a time"
        assert all(r.headers.get("Retry-After") for r in throttled)
        metrics = requests.get(s.url("/metrics"), timeout=10).text
        assert 'ariadne_receiver_requests_throttled_total{receiver="otlp",transport="http"}' in metrics
        for trace_id in set(acked):
            assert len(s.wait_for_trace(trace_id, 2000)["spans"]) == 2000
    finally:
        s.stop()
