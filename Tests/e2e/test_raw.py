"""Raw OTLP/JSON (the attribute types the SDK cannot send: bytes, key-value lists, nested arrays)
and Zipkin v2 JSON, read back through the query API."""

import gzip
import json
import time

import requests

NOW = time.time_ns()


def otlp_json_request(trace_id):
    return {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [
                        {"key": "service.name", "value": {"stringValue": "raw-json"}},
                        {"key": "build", "value": {"kvlistValue": {"values": [{"key": "sha", "value": {"stringValue": "abc"}}]}}},
                    ]
                },
                "scopeSpans": [
                    {
                        "scope": {"name": "handmade", "version": "0.1"},
                        "spans": [
                            {
                                "traceId": trace_id.upper(),
                                "spanId": "00F067AA0BA902B7",
                                "parentSpanId": "",
                                "name": "root",
                                "kind": 2,
                                "startTimeUnixNano": str(NOW),
                                "endTimeUnixNano": NOW + 5_000_000,
                                "attributes": [
                                    {"key": "raw", "value": {"bytesValue": "AAH/"}},
                                    {"key": "nested", "value": {"arrayValue": {"values": [
                                        {"intValue": "1"},
                                        {"arrayValue": {"values": [{"stringValue": "x"}]}},
                                        {"kvlistValue": {"values": [{"key": "k", "value": {"doubleValue": 2.5}}]}},
                                    ]}}},
                                    {"key": "big", "value": {"intValue": "9007199254740993"}},
                                ],
                                "events": [{"timeUnixNano": str(NOW + 1000), "name": "ping", "attributes": []}],
                                "status": {"code": 1},
                                "flags": 257,
                                "unknownField": {"ignored": True},
                            },
                            {
                                "traceId": trace_id,
                                "spanId": "00f067aa0ba902b8",
                                "parentSpanId": "00f067aa0ba902b7",
                                "name": "child",
                                "kind": 3,
                                "startTimeUnixNano": str(NOW + 1_000_000),
                                "endTimeUnixNano": str(NOW + 2_000_000),
                            },
                            {
                                # Invalid: end before start. Refused alone through partial success.
                                "traceId": trace_id,
                                "spanId": "00f067aa0ba902b9",
                                "name": "backwards",
                                "startTimeUnixNano": str(NOW + 10),
                                "endTimeUnixNano": str(NOW),
                            },
                        ],
                    }
                ],
            }
        ]
    }


def test_raw_otlp_json_with_every_value_type(server):
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    body = json.dumps(otlp_json_request(trace_id)).encode()
    r = requests.post(
        f"http://{server.http}/v1/traces", data=gzip.compress(body),
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"}, timeout=10,
    )
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == "application/json"
    partial = r.json()["partialSuccess"]
    assert partial["rejectedSpans"] == "1"
    assert "end time precedes start time" in partial["errorMessage"]

    trace = server.wait_for_trace(trace_id, 2)
    spans = {s["operationName"]: s for s in trace["spans"]}
    assert set(spans) == {"root", "child"}
    tags = {t["key"]: t for t in spans["root"]["tags"]}
    assert tags["raw"]["type"] == "binary" and tags["raw"]["value"] == "AAH/"
    assert json.loads(tags["nested"]["value"]) == [1, ["x"], {"k": 2.5}]
    assert tags["big"]["value"] == 9007199254740993
    assert tags["otel.status_code"]["value"] == "OK"
    assert spans["child"]["references"][0]["spanID"] == "00f067aa0ba902b7"

    v3 = server.get_json(f"/api/v3/traces/{trace_id}")["result"]
    rs = v3["resourceSpans"][0]
    assert {"key": "build", "value": {"kvlistValue": {"values": [{"key": "sha", "value": {"stringValue": "abc"}}]}}} in rs["resource"]["attributes"]
    root = next(s for s in rs["scopeSpans"][0]["spans"] if s["name"] == "root")
    assert root["flags"] == 257
    assert {"key": "raw", "value": {"bytesValue": "AAH/"}} in root["attributes"]
    assert root["events"] == [{"timeUnixNano": str(NOW + 1000), "name": "ping", "attributes": []}]


def test_zipkin_v2_json(server):
    trace_id = "5af7183fb1d4cf5f6b221d5bc9e6496c"
    ts = NOW // 1000
    spans = [
        {"traceId": trace_id, "id": "1000000000000001", "name": "get /home", "kind": "SERVER", "timestamp": ts,
         "duration": 2500, "localEndpoint": {"serviceName": "zipkin-front", "ipv4": "10.0.0.1"},
         "tags": {"http.method": "GET"}, "annotations": [{"timestamp": ts + 100, "value": "wire.send"}]},
        {"traceId": trace_id, "id": "1000000000000002", "parentId": "1000000000000001", "name": "select",
         "kind": "CLIENT", "timestamp": ts + 200, "duration": 800, "localEndpoint": {"serviceName": "zipkin-back"},
         "remoteEndpoint": {"serviceName": "mysql", "port": 3306}, "tags": {"error": "timeout"}},
    ]
    r = requests.post(f"http://{server.zipkin}/api/v2/spans", json=spans, timeout=10)
    assert r.status_code == 202, r.text
    trace = server.wait_for_trace(trace_id, 2)
    by_name = {s["operationName"]: s for s in trace["spans"]}
    front, back = by_name["get /home"], by_name["select"]
    assert front["startTime"] == ts and front["duration"] == 2500
    assert back["references"] == [{"refType": "CHILD_OF", "traceID": trace_id, "spanID": "1000000000000001"}]
    assert trace["processes"][front["processID"]]["serviceName"] == "zipkin-front"
    assert trace["processes"][back["processID"]]["serviceName"] == "zipkin-back"
    btags = {t["key"]: t["value"] for t in back["tags"]}
    assert btags["error"] is True and btags["otel.status_description"] == "timeout"
    assert btags["peer.service"] == "mysql"
    assert front["logs"][0]["fields"][0]["value"] == "wire.send"
    deps = server.get_json(f"/api/dependencies?endTs={NOW // 1_000_000 + 60_000}&lookback=3600000")["data"]
    assert {"parent": "zipkin-front", "child": "zipkin-back", "callCount": 1} in deps
