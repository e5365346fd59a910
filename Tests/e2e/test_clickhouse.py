"""Ariadne over ClickHouse as a cluster runs it: nodes that write and query nodes that only
answer, sharing one database; user input that tries to escape into SQL; and two shards behind
Distributed tables. Every ClickHouse here is a real clickhouse-server on loopback."""

import json
import os
import shutil
import tempfile
import time
import urllib.parse
import uuid

import requests

from conftest import ClickHouse, Server, clickhouse, free_port, store_args

NOW_NS = int(time.time() * 1e9) - 600 * 10**9


def attrs(d):
    return [{"key": k, "value": {"stringValue": v}} for k, v in d.items()]


def trace(trace_id, service, name="GET /", span_attrs=None, start=NOW_NS, children=0):
    """OTLP/JSON for one trace: a root span in `service`, then `children` client spans."""
    spans = [{
        "traceId": trace_id, "spanId": f"{1:016x}", "name": name, "kind": 2,
        "startTimeUnixNano": str(start), "endTimeUnixNano": str(start + 5_000_000),
        "attributes": attrs(span_attrs or {}),
    }]
    for k in range(children):
        spans.append({
            "traceId": trace_id, "spanId": f"{k + 2:016x}", "parentSpanId": f"{1:016x}", "name": f"call {k}",
            "kind": 3, "startTimeUnixNano": str(start + 1000), "endTimeUnixNano": str(start + 2_000_000),
            "attributes": attrs({"peer.service": "inventory"}),
        })
    return {"resource": {"attributes": attrs({"service.name": service})}, "scopeSpans": [{"scope": {}, "spans": spans}]}


def send(server, resource_spans):
    r = requests.post(f"http://{server.http}/v1/traces", json={"resourceSpans": resource_spans}, timeout=30)
    assert r.status_code == 200, r.text


def tid(n, high=0xC1C1):
    return f"{high:016x}{n:016x}"


def found(server, path):
    r = requests.get(server.url(path), timeout=30)
    assert r.status_code == 200, f"{path}: {r.status_code} {r.text[:300]}"
    return {t["traceID"] for t in r.json()["data"]}


def test_query_nodes_answer_alike_over_the_shared_store_and_survive_each_other():
    database = f"e2e_shared_{uuid.uuid4().hex[:8]}"
    writer = Server(store_args("clickhouse", database))
    query_args = ["--role", "query"] + store_args("clickhouse", database)
    q1, q2 = Server(query_args), Server(query_args)
    try:
        for q in (q1, q2):
            # A query node receives nothing: every receiver and the sampling port are off.
            for name in ("otlp_grpc", "otlp_http", "zipkin", "sampling"):
                assert q.addresses[name] == "off", q.addresses
            assert q.addresses["role"] == "query"
        send(writer, [trace(tid(k), "checkout", children=2) for k in range(1, 21)])
        q1.wait_for_trace(tid(20), 3)
        paths = [
            "/api/services", "/api/services/checkout/operations", f"/api/traces/{tid(7)}",
            "/api/traces?service=checkout&limit=50&lookback=1h", f"/api/v3/traces/{tid(3)}",
            "/api/traces?service=checkout&operation=call%201&limit=50&lookback=1h",
        ]
        for path in paths:
            a, b = q1.get_json(path), q2.get_json(path)
            assert a == b, f"{path}: query nodes differ"
        assert len(q1.get_json("/api/traces?service=checkout&limit=50&lookback=1h")["data"]) == 20
        assert "checkout" in q1.get_json("/api/services")["data"]

        # One query node gone: the other answers, and sees what is written after.
        q1.kill()
        send(writer, [trace(tid(21), "checkout")])
        q2.wait_for_trace(tid(21), 1)
        r = requests.post(q2.url("/api/admin/delete"), json={"traceIDs": [tid(5)]}, timeout=60)
        assert r.status_code == 200, r.text
        assert r.json() == {"deleted": 1, "traceIDs": [tid(5)]}
        assert requests.get(q2.url(f"/api/traces/{tid(5)}"), timeout=10).status_code == 404
        assert requests.get(writer.url(f"/api/traces/{tid(5)}"), timeout=10).status_code == 404
    finally:
        for s in (writer, q1, q2):
            if s.process.poll() is None:
                s.stop()


def test_query_role_needs_a_shared_store():
    import subprocess
    from conftest import BINARY
    out = subprocess.run([BINARY, "serve", "--role", "query"], capture_output=True, text=True, timeout=30)
    assert out.returncode != 0
    assert "--store clickhouse" in out.stderr


HOSTILE = [
    "it's", "back\\slash", "'; DROP TABLE spans; --", "\\'; DROP DATABASE x; --", "nul\u0000byte",
    "new\nline", "€ multi-byte ✓ 日本", "quote\"d", "%27%3B", "' OR 1=1 --", "🧵 emoji", "x" * 300,
]


def filter_string(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t") + '"'


def test_hostile_strings_reach_clickhouse_only_as_literals():
    database = f"e2e_hostile_{uuid.uuid4().hex[:8]}"
    s = Server(store_args("clickhouse", database))
    ch = clickhouse()
    try:
        batch = []
        for k, h in enumerate(HOSTILE, start=1):
            batch.append(trace(tid(k, 0xBAD), h, name=h, span_attrs={h: h, "plain.key": h}))
        send(s, batch)
        s.wait_for_trace(tid(len(HOSTILE), 0xBAD), 1)
        tables = ch.query(f"SELECT name FROM system.tables WHERE database = '{database}' ORDER BY name")
        rows = ch.query(f"SELECT count() FROM {database}.spans")
        services = s.get_json("/api/services")["data"]
        for k, h in enumerate(HOSTILE, start=1):
            want = {tid(k, 0xBAD)}
            e = urllib.parse.quote(h, safe="")
            assert h in services
            assert s.get_json(f"/api/services/{e}/operations")["data"] == [h]
            assert found(s, f"/api/traces?service={e}&lookback=1h") == want, h
            assert found(s, f"/api/traces?service={e}&operation={e}&lookback=1h") == want, h
            tags = urllib.parse.quote(json.dumps({h: h}), safe="")
            assert found(s, f"/api/traces?service={e}&tags={tags}&lookback=1h") == want, h
            tags = urllib.parse.quote(json.dumps({"plain.key": h}), safe="")
            assert found(s, f"/api/traces?tags={tags}&lookback=1h&limit=100") == want, h
            for q in (f"span.{filter_string(h)} = {filter_string(h)}", f"name = {filter_string(h)}",
                      f"service = {filter_string(h)} && span.\"plain.key\" != nil"):
                got = found(s, f"/api/traces?q={urllib.parse.quote(q, safe='')}&lookback=1h&limit=100")
                assert got == want, (q, got)
            v3 = s.get_json(f"/api/v3/traces?query.service_name={e}&query.start_time_min=2020-01-01T00:00:00Z"
                            f"&query.start_time_max=2100-01-01T00:00:00Z&query.attributes.plain.key={e}")
            got = {sp["traceId"] for r in v3["result"]["resourceSpans"] for ss in r["scopeSpans"] for sp in ss["spans"]}
            assert got == want, (h, got)
        # Regular expressions are ours, never ClickHouse's: hostile patterns match as patterns.
        q = 'span."plain.key" =~ ".*DROP TABLE.*"'
        assert found(s, f"/api/traces?q={urllib.parse.quote(q, safe='')}&lookback=1h&limit=100") == {tid(3, 0xBAD)}
        q = 'span."plain.key" =~ "\\\\\\\\.*"'  # a literal backslash first: "\\'; DROP DATABASE ..."
        assert found(s, f"/api/traces?q={urllib.parse.quote(q, safe='')}&lookback=1h&limit=100") == {tid(4, 0xBAD)}
        # The schema and the rows are as they were.
        assert ch.query(f"SELECT name FROM system.tables WHERE database = '{database}' ORDER BY name") == tables
        assert ch.query(f"SELECT count() FROM {database}.spans") == rows
        assert "spans" in tables and "traces" in tables
    finally:
        s.stop()


def test_two_shards_hold_the_spans_and_every_query_answers_over_both():
    ports = [(free_port(), free_port()) for _ in range(2)]
    cluster = tempfile.NamedTemporaryFile("w", suffix=".xml", delete=False)
    replicas = "".join(
        f"<shard><replica><host>127.0.0.1</host><port>{tcp}</port></replica></shard>" for _, tcp in ports)
    cluster.write(f"<remote_servers><ariadne_two>{replicas}</ariadne_two></remote_servers>")
    cluster.close()
    shards = [ClickHouse(cluster_xml=cluster.name, ports=p) for p in ports]
    urls = ",".join(c.url for c in shards)
    s = Server(store_args("clickhouse", "sharded", urls) + ["--clickhouse-cluster", "ariadne_two"])
    try:
        n = 200
        send(s, [trace(tid(k, 0x5AD), "frontend", children=1) for k in range(1, n + 1)])
        s.wait_for_trace(tid(n, 0x5AD), 2)
        per_shard = [int(c.query("SELECT count() FROM sharded.traces_local")) for c in shards]
        assert sum(per_shard) == 2 * n and min(per_shard) > n / 4, per_shard
        assert found(s, "/api/traces?service=frontend&lookback=1h&limit=1000") == {tid(k, 0x5AD) for k in range(1, n + 1)}
        for k in (1, 77, 200):
            assert len(s.get_json(f"/api/traces/{tid(k, 0x5AD)}")["data"][0]["spans"]) == 2
        deps = s.get_json(f"/api/dependencies?endTs={int(time.time() * 1000)}&lookback=3600000")["data"]
        assert {"parent": "frontend", "child": "inventory", "callCount": n} in [
            {k: d[k] for k in ("parent", "child", "callCount")} for d in deps], deps
        r = requests.post(s.url("/api/admin/delete"), json={"traceIDs": [tid(9, 0x5AD)]}, timeout=60)
        assert r.json() == {"deleted": 1, "traceIDs": [tid(9, 0x5AD)]}
        assert sum(int(c.query("SELECT count() FROM sharded.traces_local")) for c in shards) == 2 * n - 2
    finally:
        s.stop()
        for c in shards:
            c.stop()
        os.unlink(cluster.name)


def red_calls(server, service):
    red = server.get_json(f"/api/analysis/red?service={service}&lookback=1h")
    return {o["operation"]: o["calls"] for o in red["operations"]}


def test_red_rollups_are_shared_so_a_query_node_shows_what_the_writer_counted(tmp_path):
    config = tmp_path / "ariadne.yaml"
    config.write_text("analytics:\n  interval: 1s\n  evaluation_interval: 200ms\n")
    database = f"e2e_red_{uuid.uuid4().hex[:8]}"
    writer = Server(["--config", str(config)] + store_args("clickhouse", database))
    query = Server(["--config", str(config), "--role", "query"] + store_args("clickhouse", database))
    try:
        send(writer, [trace(tid(k, 0x4ED), "billing", name="POST /pay", children=1) for k in range(1, 41)])
        want = {"POST /pay": 40, "call 0": 40}
        deadline = time.time() + 40
        while time.time() < deadline and red_calls(query, "billing") != want:
            time.sleep(0.5)
        assert red_calls(query, "billing") == want
        assert red_calls(writer, "billing") == want
        # A query node started later reads the rollups from ClickHouse at start.
        query.stop()
        query = Server(["--config", str(config), "--role", "query"] + store_args("clickhouse", database))
        assert red_calls(query, "billing") == want
    finally:
        writer.stop()
        query.stop()


def test_a_clickhouse_outage_is_answered_503_and_nothing_acknowledged_is_lost():
    """ClickHouse stops under a running node: writes are refused as retryable (the sender keeps
    its spans), queries fail cleanly, and when ClickHouse is back everything acknowledged is there."""
    ports = (free_port(), free_port())
    ch = ClickHouse(ports=ports)
    database = f"e2e_outage_{uuid.uuid4().hex[:8]}"
    s = Server(store_args("clickhouse", database, ch.url))
    try:
        send(s, [trace(tid(1, 0x0D7), "orders")])
        s.wait_for_trace(tid(1, 0x0D7), 1)
        data_dir = ch.dir
        # Stop the server but keep its data directory: it comes back with the same files.
        ch.process.terminate()
        ch.process.wait(timeout=30)
        r = requests.post(f"http://{s.http}/v1/traces", json={"resourceSpans": [trace(tid(2, 0x0D7), "orders")]}, timeout=60)
        assert r.status_code == 503, r.text
        assert "Retry-After" in r.headers
        assert requests.get(s.url(f"/api/traces/{tid(1, 0x0D7)}"), timeout=60).status_code >= 500
        assert s.process.poll() is None, "ariadne exited when ClickHouse went away"
        back = ClickHouse(ports=ports, directory=data_dir)
        try:
            deadline = time.time() + 30
            while True:
                r = requests.post(f"http://{s.http}/v1/traces", json={"resourceSpans": [trace(tid(2, 0x0D7), "orders")]}, timeout=60)
                if r.status_code == 200 or time.time() > deadline:
                    break
                time.sleep(0.5)
            assert r.status_code == 200, r.text
            for k in (1, 2):
                s.wait_for_trace(tid(k, 0x0D7), 1)
        finally:
            back.stop()
    finally:
        s.stop()
        shutil.rmtree(ch.dir, ignore_errors=True)


def test_a_window_ending_past_clickhouses_last_date_still_finds_traces():
    """Tempo's `end` in seconds may lie far ahead (9999999999 is 2286): ClickHouse's Date wraps
    there, and the window must still hold today's traces, as on the engine."""
    engine, ch = Server(), Server(store_args("clickhouse"))
    try:
        now = int(time.time() * 1e9)
        for s in (engine, ch):
            send(s, [trace(tid(1, 0xFA12), "far-end", start=now)])
            s.wait_for_trace(tid(1, 0xFA12), 1)
            got = s.get_json("/api/search?service=far-end&start=0&end=9999999999&limit=10")["traces"]
            assert [t["traceID"] for t in got] == [tid(1, 0xFA12)], (s.addresses["store"], got)
    finally:
        engine.stop()
        ch.stop()
