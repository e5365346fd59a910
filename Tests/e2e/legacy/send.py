"""Sends spans with a real legacy Jaeger client; run by the Jaeger receiver tests under .venv-legacy.

    send.py jaeger-client AGENT_PORT          jaeger-client (Python 4.8), UDP Thrift compact
    send.py otel-agent AGENT_PORT             OTel Jaeger Thrift exporter, UDP Thrift compact
    send.py otel-collector URL                OTel Jaeger Thrift exporter, HTTP Thrift binary

Prints one JSON line: what was sent, for the test to find it again through the query API.
"""

import json
import sys
import time
import warnings

warnings.simplefilter("ignore")


def jaeger_client(port):
    import jaeger_client
    import opentracing

    config = jaeger_client.Config(
        config={
            "sampler": {"type": "const", "param": 1},
            "local_agent": {"reporting_host": "127.0.0.1", "reporting_port": port},
            "tags": {"region": "eu-west-1", "build": 42},
        },
        service_name="legacy-shop",
        validate=True,
    )
    tracer = config.initialize_tracer()
    with tracer.start_span("GET /checkout") as root:
        root.set_tag("span.kind", "server")
        root.set_tag("http.status_code", 200)
        root.set_tag("user.id", "u-1234")
        root.set_tag("cart.value", 12.5)
        root.set_tag("cache.hit", False)
        root.log_kv({"event": "cart loaded", "items": 3})
        with tracer.start_span("SELECT orders", child_of=root) as db:
            db.set_tag("span.kind", "client")
            db.set_tag("db.statement", "SELECT * FROM orders WHERE id = ?")
            db.set_tag("error", True)
            db.log_kv({"event": "error", "message": "deadlock detected"})
        time.sleep(0.002)
    with tracer.start_span("send receipt", references=[opentracing.follows_from(root.context)]) as later:
        later.set_tag("span.kind", "producer")
    time.sleep(0.5)
    tracer.close()
    time.sleep(1)
    return {
        # As Jaeger's API shows ids: 16 hex digits for a 64-bit id, 32 for a 128-bit one (a bare
        # "x" lost the leading zero of one id in 16 and failed the comparison).
        "trace_id": format(root.trace_id, "016x" if root.trace_id < 1 << 64 else "032x"),
        "root": format(root.span_id, "016x"),
        "db": format(db.span_id, "016x"),
        "later": format(later.span_id, "016x"),
    }


def otel(**exporter_args):
    from opentelemetry.exporter.jaeger.thrift import JaegerExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.trace import SpanKind, Status, StatusCode

    provider = TracerProvider(resource=Resource.create({"service.name": "legacy-otel", "host.name": "pod-7"}))
    provider.add_span_processor(SimpleSpanProcessor(JaegerExporter(**exporter_args)))
    tracer = provider.get_tracer("legacy.test", "1.2.3")
    with tracer.start_as_current_span("POST /pay", kind=SpanKind.SERVER) as root:
        root.set_attribute("amount", 99)
        with tracer.start_as_current_span("charge", kind=SpanKind.CLIENT) as child:
            child.add_event("retry", {"attempt": 2})
            child.set_status(Status(StatusCode.ERROR, "card declined"))
    provider.shutdown()
    return {
        "trace_id": format(root.get_span_context().trace_id, "032x"),
        "root": format(root.get_span_context().span_id, "016x"),
        "child": format(child.get_span_context().span_id, "016x"),
    }


if __name__ == "__main__":
    mode, where = sys.argv[1], sys.argv[2]
    if mode == "jaeger-client":
        sent = jaeger_client(int(where))
    elif mode == "otel-agent":
        sent = otel(agent_host_name="127.0.0.1", agent_port=int(where))
    elif mode == "otel-collector":
        sent = otel(collector_endpoint=where)
    else:
        sys.exit(f"unknown mode {mode}")
    print(json.dumps(sent))
