"""Wire compatibility with the `opentelemetry-proto` package: random requests built with the
official Python classes decode in Ariadne and re-encode to bytes (and OTLP/JSON) that the package
parses into an equal message."""

import base64
import json
import os
import random
import subprocess
import tempfile

from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from conftest import BINARY

WORDS = ["alpha", "β-beta", "", "日本語", "emoji 🚀", "quote\"back\\slash", "new\nline", "x" * 200]


def random_value(rng, depth=0):
    v = AnyValue()
    choice = rng.randrange(7 if depth < 3 else 5)
    if choice == 0:
        v.string_value = rng.choice(WORDS)
    elif choice == 1:
        v.bool_value = rng.random() < 0.5
    elif choice == 2:
        v.int_value = rng.randrange(-(2**63), 2**63)
    elif choice == 3:
        v.double_value = rng.uniform(-1e12, 1e12)
    elif choice == 4:
        v.bytes_value = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 20)))
    elif choice == 5:
        v.array_value.values.extend(random_value(rng, depth + 1) for _ in range(rng.randrange(0, 4)))
    else:
        v.kvlist_value.values.extend(random_kv(rng, depth + 1) for _ in range(rng.randrange(0, 4)))
    return v


def random_kv(rng, depth=0):
    return KeyValue(key=rng.choice(WORDS) + str(rng.randrange(100)), value=random_value(rng, depth))


def random_id(rng, n):
    b = bytes(rng.randrange(256) for _ in range(n))
    return b if any(b) else b"\x01" + b[1:]


def random_request(rng):
    req = ExportTraceServiceRequest()
    for _ in range(rng.randrange(1, 4)):
        rs = req.resource_spans.add()
        rs.resource.attributes.append(KeyValue(key="service.name", value=AnyValue(string_value=f"svc-{rng.randrange(5)}")))
        rs.resource.attributes.extend(random_kv(rng) for _ in range(rng.randrange(0, 4)))
        rs.resource.dropped_attributes_count = rng.choice([0, 0, 3])
        if rng.random() < 0.5:
            rs.schema_url = "https://opentelemetry.io/schemas/1.26.0"
        for _ in range(rng.randrange(1, 3)):
            ss = rs.scope_spans.add()
            ss.scope.name = rng.choice(["lib.a", "lib.b", "日本"])
            ss.scope.version = rng.choice(["", "1.0.0"])
            ss.scope.attributes.extend(random_kv(rng) for _ in range(rng.randrange(0, 2)))
            ss.scope.dropped_attributes_count = rng.choice([0, 1])
            if rng.random() < 0.3:
                ss.schema_url = "https://example.com/scope"
            for _ in range(rng.randrange(1, 8)):
                sp = ss.spans.add()
                sp.trace_id = random_id(rng, 16)
                sp.span_id = random_id(rng, 8)
                if rng.random() < 0.7:
                    sp.parent_span_id = random_id(rng, 8)
                sp.trace_state = rng.choice(["", "vendor=a,other=b"])
                sp.name = rng.choice(WORDS) or "op"
                sp.kind = rng.randrange(6)
                sp.start_time_unix_nano = rng.randrange(1, 2**63)
                sp.end_time_unix_nano = sp.start_time_unix_nano + rng.randrange(0, 10**10)
                sp.attributes.extend(random_kv(rng) for _ in range(rng.randrange(0, 12)))
                sp.dropped_attributes_count = rng.choice([0, 0, 7])
                for _ in range(rng.randrange(0, 3)):
                    ev = sp.events.add()
                    ev.time_unix_nano = sp.start_time_unix_nano + rng.randrange(0, 1000)
                    ev.name = rng.choice(WORDS)
                    ev.attributes.extend(random_kv(rng) for _ in range(rng.randrange(0, 3)))
                    ev.dropped_attributes_count = rng.choice([0, 2])
                sp.dropped_events_count = rng.choice([0, 4])
                for _ in range(rng.randrange(0, 2)):
                    ln = sp.links.add()
                    ln.trace_id = random_id(rng, 16)
                    ln.span_id = random_id(rng, 8)
                    ln.trace_state = rng.choice(["", "k=v"])
                    ln.attributes.extend(random_kv(rng) for _ in range(rng.randrange(0, 3)))
                    ln.dropped_attributes_count = rng.choice([0, 1])
                    ln.flags = rng.choice([0, 0x101, 0x301])
                sp.dropped_links_count = rng.choice([0, 5])
                if rng.random() < 0.5:
                    sp.status.code = rng.choice([Status.STATUS_CODE_OK, Status.STATUS_CODE_ERROR])
                    sp.status.message = rng.choice(WORDS)
                sp.flags = rng.choice([0, 1, 0x101, 0x301])
    return req


ID_KEYS = {"traceId", "spanId", "parentSpanId"}


def convert_ids(obj, to_hex):
    """Canonical protobuf JSON writes bytes as base64; OTLP/JSON writes ids as hex."""
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if k in ID_KEYS and isinstance(v, str):
                out[k] = base64.b64decode(v).hex() if to_hex else base64.b64encode(bytes.fromhex(v)).decode()
            else:
                out[k] = convert_ids(v, to_hex)
        return out
    if isinstance(obj, list):
        return [convert_ids(v, to_hex) for v in obj]
    return obj


def run_codec(paths, source, target):
    subprocess.run([BINARY, "codec", "--from", source, "--to", target, *paths], check=True, timeout=120)


def test_random_requests_round_trip_through_protobuf_and_json():
    rng = random.Random(20261121)
    requests_ = [random_request(rng) for _ in range(150)]
    with tempfile.TemporaryDirectory() as tmp:
        pb_paths, json_paths = [], []
        for n, req in enumerate(requests_):
            p = os.path.join(tmp, f"req{n}.pb")
            with open(p, "wb") as f:
                f.write(req.SerializeToString())
            pb_paths.append(p)
            j = os.path.join(tmp, f"req{n}.json")
            canonical = json_format.MessageToDict(req)
            with open(j, "w") as f:
                json.dump(convert_ids(canonical, to_hex=True), f)
            json_paths.append(j)

        # protobuf → Ariadne → protobuf
        run_codec(pb_paths, "protobuf", "protobuf")
        for req, p in zip(requests_, pb_paths):
            back = ExportTraceServiceRequest()
            with open(p + ".out", "rb") as f:
                back.ParseFromString(f.read())
            assert back == req, f"{p}: protobuf round trip differs"

        # protobuf → Ariadne → OTLP/JSON, parsed by the package after mapping hex ids to base64
        pb_copies = []
        for p in pb_paths:
            c = p + ".forjson"
            os.link(p, c)
            pb_copies.append(c)
        run_codec(pb_copies, "protobuf", "json")
        for req, c in zip(requests_, pb_copies):
            with open(c + ".out") as f:
                ours = json.load(f)
            back = json_format.ParseDict(convert_ids(ours, to_hex=False), ExportTraceServiceRequest())
            assert back == req, f"{c}: OTLP/JSON encoding differs"

        # OTLP/JSON → Ariadne → protobuf
        run_codec(json_paths, "json", "protobuf")
        for req, j in zip(requests_, json_paths):
            back = ExportTraceServiceRequest()
            with open(j + ".out", "rb") as f:
                back.ParseFromString(f.read())
            assert back == req, f"{j}: OTLP/JSON decoding differs"
