"""Spans from the real OpenTelemetry Python SDK, over OTLP/gRPC and OTLP/HTTP protobuf, read back
through the Jaeger v1 and api/v3 query endpoints."""

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GRPCExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HTTPExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanKind, Status, StatusCode


def make_exporter(server, transport, compression=None):
    if transport == "grpc":
        return GRPCExporter(endpoint=f"http://{server.grpc}", insecure=True, compression=compression)
    return HTTPExporter(endpoint=f"http://{server.http}/v1/traces", compression=compression)


def emit_trace(server, transport, compression=None):
    """Emits a three-span trace with every SDK attribute type, an event, a link and an error.

    Returns the spans as the SDK recorded them, keyed by name."""
    service = f"py-{transport}"
    provider = TracerProvider(
        resource=Resource.create({"service.name": service, "deployment.environment": "e2e", "host.cores": 2})
    )
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    provider.add_span_processor(SimpleSpanProcessor(make_exporter(server, transport, compression)))
    tracer = provider.get_tracer("e2e.tests", "1.2.3")

    with tracer.start_as_current_span("linked-job") as other:
        other_context = other.get_span_context()
    with tracer.start_as_current_span(
        "GET /checkout",
        kind=SpanKind.SERVER,
        attributes={
            "http.route": "/checkout",
            "retry": True,
            "http.response.status_code": 200,
            "ratio": 0.25,
            "tags": ["a", "b"],
            "ids": [1, 2, 3],
            "flags": [True, False],
            "weights": [1.5, 2.5],
        },
    ) as parent:
        parent.add_event("cache miss", {"cache.key": "cart:42", "attempt": 2})
        with tracer.start_as_current_span(
            "SELECT carts", kind=SpanKind.CLIENT, links=[Link(other_context, {"link.reason": "batch"})]
        ) as child:
            child.set_attribute("db.system", "postgresql")
            child.set_status(Status(StatusCode.ERROR, "connection reset"))
    provider.shutdown()
    return {s.name: s for s in memory.get_finished_spans()}, service


def jaeger_tags(span):
    return {t["key"]: (t["type"], t["value"]) for t in span["tags"]}


def v3_spans(result):
    out = {}
    for rs in result["resourceSpans"]:
        for ss in rs["scopeSpans"]:
            for sp in ss["spans"]:
                out[sp["name"]] = (sp, rs["resource"], ss["scope"])
    return out


def v3_attr(attrs, key):
    for kv in attrs:
        if kv["key"] == key:
            return kv["value"]
    raise KeyError(key)


@pytest.mark.parametrize("transport,compression", [("grpc", None), ("http", None), ("grpc", "gzip"), ("http", "gzip")])
def test_sdk_spans_round_trip(server, transport, compression):
    from opentelemetry.exporter.otlp.proto.grpc.exporter import Compression as GC
    from opentelemetry.exporter.otlp.proto.http import Compression as HC

    comp = None
    if compression:
        comp = GC.Gzip if transport == "grpc" else HC.Gzip
    recorded, service = emit_trace(server, transport, comp)
    parent, child = recorded["GET /checkout"], recorded["SELECT carts"]
    trace_id = format(parent.context.trace_id, "032x")
    assert format(child.context.trace_id, "032x") == trace_id

    trace = server.wait_for_trace(trace_id, 2)
    spans = {s["operationName"]: s for s in trace["spans"]}
    assert set(spans) == {"GET /checkout", "SELECT carts"}
    jp, jc = spans["GET /checkout"], spans["SELECT carts"]

    # Structure: the child points at the parent; the link is a FOLLOWS_FROM reference.
    assert jp["spanID"] == format(parent.context.span_id, "016x")
    assert jp["references"] == []
    refs = {r["refType"]: r for r in jc["references"]}
    assert refs["CHILD_OF"]["spanID"] == jp["spanID"]
    linked = recorded["linked-job"]
    assert refs["FOLLOWS_FROM"]["spanID"] == format(linked.context.span_id, "016x")

    # Timing, in microseconds.
    assert jp["startTime"] == parent.start_time // 1000
    assert jp["duration"] == (parent.end_time - parent.start_time) // 1000

    # Attributes of every SDK type, typed as Jaeger types them.
    tags = jaeger_tags(jp)
    assert tags["http.route"] == ("string", "/checkout")
    assert tags["retry"] == ("bool", True)
    assert tags["http.response.status_code"] == ("int64", 200)
    assert tags["ratio"] == ("float64", 0.25)
    assert tags["tags"] == ("string", '["a","b"]')
    assert tags["ids"] == ("string", "[1,2,3]")
    assert tags["span.kind"] == ("string", "server")
    assert tags["otel.scope.name"] == ("string", "e2e.tests")
    assert tags["otel.scope.version"] == ("string", "1.2.3")

    # Event as a log.
    assert len(jp["logs"]) == 1
    log = jp["logs"][0]
    fields = {f["key"]: f["value"] for f in log["fields"]}
    assert fields == {"event": "cache miss", "cache.key": "cart:42", "attempt": 2}
    assert log["timestamp"] == parent.events[0].timestamp // 1000

    # Status.
    ctags = jaeger_tags(jc)
    assert ctags["error"] == ("bool", True)
    assert ctags["otel.status_code"] == ("string", "ERROR")
    assert ctags["otel.status_description"] == ("string", "connection reset")
    assert ctags["span.kind"] == ("string", "client")

    # Resource as the process.
    process = trace["processes"][jp["processID"]]
    assert process["serviceName"] == service
    ptags = {t["key"]: t["value"] for t in process["tags"]}
    assert ptags["deployment.environment"] == "e2e"
    assert ptags["host.cores"] == 2
    assert ptags["telemetry.sdk.language"] == "python"

    # api/v3: OTLP JSON with nanosecond timestamps, exact.
    v3 = server.get_json(f"/api/v3/traces/{trace_id}")["result"]
    vs = v3_spans(v3)
    sp, resource, scope = vs["GET /checkout"]
    assert sp["traceId"] == trace_id
    assert sp["startTimeUnixNano"] == str(parent.start_time)
    assert sp["endTimeUnixNano"] == str(parent.end_time)
    assert sp["kind"] == 2
    assert v3_attr(sp["attributes"], "http.response.status_code") == {"intValue": "200"}
    assert v3_attr(sp["attributes"], "ratio") == {"doubleValue": 0.25}
    assert v3_attr(sp["attributes"], "flags") == {"arrayValue": {"values": [{"boolValue": True}, {"boolValue": False}]}}
    assert v3_attr(resource["attributes"], "service.name") == {"stringValue": service}
    assert scope == {"name": "e2e.tests", "version": "1.2.3"}
    cs = vs["SELECT carts"][0]
    assert cs["parentSpanId"] == sp["spanId"]
    assert cs["status"] == {"message": "connection reset", "code": 2}
    assert cs["links"][0]["spanId"] == format(linked.context.span_id, "016x")
    assert v3_attr(cs["links"][0]["attributes"], "link.reason") == {"stringValue": "batch"}
    assert sp["events"][0]["name"] == "cache miss"
    assert sp["events"][0]["timeUnixNano"] == str(parent.events[0].timestamp)
    assert "events" not in cs


def test_services_and_operations_list_sdk_spans(server):
    emit_trace(server, "grpc")
    services = server.get_json("/api/services")["data"]
    assert "py-grpc" in services
    ops = server.get_json("/api/operations?service=py-grpc&spanKind=client")["data"]
    assert {"name": "SELECT carts", "spanKind": "client"} in ops
    found = server.get_json("/api/traces?service=py-grpc&tag=db.system:postgresql&lookback=1h")["data"]
    assert found and all(any(s["operationName"] == "SELECT carts" for s in t["spans"]) for t in found)
