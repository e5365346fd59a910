"""The cluster on loopback: two collectors → NATS JetStream (three nodes, every message on all
three) → two ingesters → ClickHouse → a query node. Senders retry as SDKs do; nodes of every kind
are killed with SIGKILL and restarted while spans flow, and every span whose export was
acknowledged must be answered by the query node exactly once."""

import re
import threading
import time
import uuid

import requests

from conftest import NATS, Server, store_args

ROUNDS = 3
SPANS_PER_TRACE = 3


def otlp_trace(trace_id, now_ns):
    spans = []
    for k in range(SPANS_PER_TRACE):
        spans.append({
            "traceId": trace_id, "spanId": f"{k + 1:016x}", "parentSpanId": "" if k == 0 else f"{1:016x}",
            "name": "GET /checkout" if k == 0 else f"call {k}", "kind": 2 if k == 0 else 3,
            "startTimeUnixNano": str(now_ns + k * 1000), "endTimeUnixNano": str(now_ns + 2_000_000),
            "attributes": [{"key": "request.id", "value": {"stringValue": uuid.uuid4().hex}}],
        })
    return {"resourceSpans": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "cluster-e2e"}}]},
                               "scopeSpans": [{"scope": {}, "spans": spans}]}]}


class Sender(threading.Thread):
    """Sends one trace at a time to the collectors in turn; a refused or failed export is sent
    again (to the next collector) until acknowledged, as an SDK's retrying exporter does."""

    def __init__(self, collectors):
        super().__init__(daemon=True)
        self.collectors = collectors
        self.acknowledged = []
        self.retries = 0
        self.stopping = False

    def run(self):
        n = 0
        while not self.stopping:
            n += 1
            trace_id = f"{0xC0FFEE:016x}{n:016x}"
            body = otlp_trace(trace_id, int(time.time() * 1e9))
            attempt = 0
            while True:
                collector = self.collectors[(n + attempt) % len(self.collectors)]
                try:
                    r = requests.post(f"http://{collector.http}/v1/traces", json=body, timeout=10)
                    if r.status_code == 200:
                        break
                    assert r.status_code in (429, 503), f"{r.status_code} {r.text}"
                except requests.RequestException:
                    pass
                attempt += 1
                self.retries += 1
                time.sleep(0.1)
            self.acknowledged.append(trace_id)
            time.sleep(0.02)


def lag(ingesters):
    total = 0
    for i in ingesters:
        text = requests.get(f"http://{i.query}/metrics", timeout=10).text
        total += sum(int(v) for v in re.findall(r'^ariadne_buffer_consumer_lag\{[^}]*\} (\d+)', text, re.M))
    return total


def test_killing_an_ingester_a_nats_node_and_a_collector_in_turn_loses_no_acknowledged_span():
    nats = NATS(3)
    database = f"e2e_cluster_{uuid.uuid4().hex[:8]}"
    buffer = ["--buffer", nats.urls, "--buffer-partitions", "8"]
    collector_args = ["--role", "collector"] + buffer
    ingester_args = [["--role", "ingester", "--ingester-id", f"ingester-{k}"] + buffer + store_args("clickhouse", database) for k in range(2)]
    collectors = [Server(collector_args) for _ in range(2)]
    ingesters = [Server(a) for a in ingester_args]
    query = Server(["--role", "query"] + store_args("clickhouse", database))
    sender = Sender(collectors)
    try:
        for node in collectors + ingesters:
            deadline = time.time() + 30
            while requests.get(f"http://{node.query}/health?ready", timeout=10).status_code != 200:
                assert time.time() < deadline, f"not ready: {requests.get(f'http://{node.query}/health?ready').text}"
                time.sleep(0.2)
        sender.start()
        for r in range(ROUNDS):
            time.sleep(2)
            k = r % 2
            ingesters[k].kill()
            time.sleep(3)
            ingesters[k] = Server(ingester_args[k], data_dir=ingesters[k].data_dir)
            time.sleep(2)
            nats.kill(r % 3)
            time.sleep(3)
            nats.start(r % 3)
            nats.wait_ready(r % 3)
            time.sleep(2)
            collectors[k].kill()
            time.sleep(2)
            collectors[k] = Server(collector_args)
            print(f"round {r + 1}: {len(sender.acknowledged)} traces acknowledged so far, {sender.retries} retried sends")
        time.sleep(2)
        sender.stopping = True
        sender.join(timeout=120)
        acknowledged = list(sender.acknowledged)
        assert len(acknowledged) > 100

        # Every acknowledged trace, whole, once: redeliveries (the killed ingester's messages come
        # back after the consumer's ack wait) must not show as copies.
        missing = set(acknowledged)
        deadline = time.time() + 120
        while missing and time.time() < deadline:
            for trace_id in list(missing):
                r = requests.get(query.url(f"/api/traces/{trace_id}"), timeout=30)
                if r.status_code != 200:
                    continue
                spans = r.json()["data"][0]["spans"]
                ids = [s["spanID"] for s in spans]
                assert len(ids) == len(set(ids)), f"{trace_id}: a span shows twice: {sorted(ids)}"
                if len(ids) == SPANS_PER_TRACE:
                    missing.discard(trace_id)
            if missing:
                time.sleep(2)
        print(f"{len(acknowledged)} traces ({len(acknowledged) * SPANS_PER_TRACE} spans) acknowledged, "
              f"{sender.retries} sends retried, {len(missing)} missing after the drain")
        assert not missing, f"{len(missing)} acknowledged traces not answered, e.g. {sorted(missing)[:5]}"

        deadline = time.time() + 60
        while lag(ingesters) != 0:
            assert time.time() < deadline, f"consumer lag did not drain: {lag(ingesters)}"
            time.sleep(1)
        redelivered = sum(
            int(v) for i in ingesters
            for v in re.findall(r'^ariadne_buffer_redeliveries_total (\d+)', requests.get(f"http://{i.query}/metrics").text, re.M))
        print(f"lag drained to 0; {redelivered} redeliveries counted by the running ingesters")
    finally:
        sender.stopping = True
        for node in collectors + ingesters + [query]:
            if node.process.poll() is None:
                node.stop()
        nats.stop()


def test_collector_refuses_with_503_while_the_buffer_is_away_and_is_not_ready():
    nats = NATS(1)
    collector = Server(["--role", "collector", "--buffer", nats.urls])
    try:
        body = otlp_trace(f"{0xDEAD:016x}{1:016x}", int(time.time() * 1e9))
        assert requests.post(f"http://{collector.http}/v1/traces", json=body, timeout=10).status_code == 200
        assert requests.get(f"http://{collector.query}/health?ready", timeout=10).status_code == 200
        # A collector answers only health and metrics on its query port.
        assert requests.get(f"http://{collector.query}/api/services", timeout=10).status_code == 404
        nats.kill(0)
        time.sleep(0.5)
        r = requests.post(f"http://{collector.http}/v1/traces", json=body, timeout=10)
        assert r.status_code == 503 and r.headers.get("Retry-After"), f"{r.status_code} {r.text}"
        h = requests.get(f"http://{collector.query}/health?ready", timeout=10)
        assert h.status_code == 503 and "unreachable" in h.json()["reason"]
        assert requests.get(f"http://{collector.query}/health", timeout=10).status_code == 200
        nats.start(0)
        nats.wait_ready(0)
        deadline = time.time() + 20
        while requests.post(f"http://{collector.http}/v1/traces", json=body, timeout=10).status_code != 200:
            assert time.time() < deadline, "the collector did not take spans again once NATS was back"
            time.sleep(0.3)
    finally:
        collector.stop()
        nats.stop()


def post(collector, body):
    return requests.post(f"http://{collector.http}/v1/traces", json=body, timeout=10)


def span(trace_id, n, parent, start, ms, error=False, name="op"):
    s = {"traceId": trace_id, "spanId": f"{n:016x}", "name": name, "kind": 2, "startTimeUnixNano": str(start),
         "endTimeUnixNano": str(start + ms * 1_000_000)}
    if parent:
        s["parentSpanId"] = f"{parent:016x}"
    if error:
        s["status"] = {"code": 2}
    return s


def resource_spans(service, spans):
    return {"resourceSpans": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
                               "scopeSpans": [{"scope": {}, "spans": spans}]}]}


def wait_ready(*nodes, timeout=30):
    for node in nodes:
        deadline = time.time() + timeout
        while requests.get(f"http://{node.query}/health?ready", timeout=10).status_code != 200:
            assert time.time() < deadline, requests.get(f"http://{node.query}/health?ready", timeout=10).text
            time.sleep(0.2)


def spans_of(query, trace_id):
    r = requests.get(query.url(f"/api/traces/{trace_id}"), timeout=30)
    return [] if r.status_code == 404 else r.json()["data"][0]["spans"]


def test_tail_sampling_in_the_cluster_keeps_error_and_slow_traces_whole_across_collectors(tmp_path):
    """Each trace's root goes to one collector and its child to the other: the spans still meet
    in one ingester (partitioned by trace id), whose decision keeps the trace whole or drops it."""
    config = tmp_path / "tail.yaml"
    config.write_text("""
processors:
  tail_sampling:
    decision_wait: 1s
    policies:
      - {name: errors, type: status_code, status_codes: [ERROR]}
      - {name: slow, type: latency, threshold_ms: 300}
""")
    nats = NATS(1)
    database = f"e2e_tail_{uuid.uuid4().hex[:8]}"
    buffer = ["--config", str(config), "--buffer", nats.urls, "--buffer-partitions", "8"]
    collectors = [Server(["--role", "collector"] + buffer) for _ in range(2)]
    ingesters = [Server(["--role", "ingester", "--ingester-id", f"tail-{k}"] + buffer + store_args("clickhouse", database)) for k in range(2)]
    query = Server(["--role", "query"] + store_args("clickhouse", database))
    try:
        wait_ready(*collectors, *ingesters)
        now = int(time.time() * 1e9)
        kinds = {}
        for n in range(60):
            trace_id = f"{0x7A11:016x}{n + 1:016x}"
            kind = ["error", "slow", "plain"][n % 3]
            kinds[trace_id] = kind
            root = span(trace_id, 1, None, now, 500 if kind == "slow" else 5, name="GET /")
            child = span(trace_id, 2, 1, now + 1000, 2, error=kind == "error", name="SELECT")
            assert post(collectors[0], resource_spans("front", [root])).status_code == 200
            assert post(collectors[1], resource_spans("db", [child])).status_code == 200
        deadline = time.time() + 60
        while True:
            got = {t: len(spans_of(query, t)) for t in kinds}
            kept = {t for t, n in got.items() if n}
            if kept >= {t for t, k in kinds.items() if k != "plain"} or time.time() > deadline:
                break
            time.sleep(1)
        time.sleep(3)  # anything wrongly kept has arrived too
        got = {t: len(spans_of(query, t)) for t in kinds}
        for t, kind in kinds.items():
            assert got[t] == (0 if kind == "plain" else 2), f"{kind} trace {t}: {got[t]} spans"
        print(f"kept {sum(1 for n in got.values() if n)} of {len(kinds)} traces, every one whole")
    finally:
        for node in collectors + ingesters + [query]:
            node.stop()
        nats.stop()


def rss_kib(server):
    with open(f"/proc/{server.process.pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def test_a_full_buffer_refuses_collectors_until_ingesters_drain_it():
    nats = NATS(1)
    database = f"e2e_full_{uuid.uuid4().hex[:8]}"
    buffer = ["--buffer", nats.urls, "--buffer-partitions", "4", "--buffer-max-bytes", "400000"]
    collector = Server(["--role", "collector"] + buffer)
    ingester = None
    query = Server(["--role", "query"] + store_args("clickhouse", database))
    try:
        wait_ready(collector)
        acknowledged, refused, n = [], None, 0
        # No ingester: the stream fills up, then the collector refuses.
        while refused is None and n < 2000:
            ids = [f"{0xF0F0:016x}{n * 20 + k + 1:016x}" for k in range(20)]
            n += 1
            r = post(collector, {"resourceSpans": [otlp_trace(t, int(time.time() * 1e9))["resourceSpans"][0] for t in ids]})
            if r.status_code == 200:
                acknowledged += ids
            else:
                refused = r
        assert refused is not None, "the collector never refused"
        assert refused.status_code == 503 and refused.headers.get("Retry-After"), f"{refused.status_code} {refused.text}"
        assert "full" in refused.text
        assert rss_kib(collector) < 300_000, f"collector RSS {rss_kib(collector)} KiB"
        print(f"{len(acknowledged)} traces taken, then 503: {refused.text[:120]}")

        ingester = Server(["--role", "ingester", "--ingester-id", "drain"] + buffer + store_args("clickhouse", database))
        deadline = time.time() + 90
        missing = set(acknowledged)
        while missing and time.time() < deadline:
            missing = {t for t in missing if len(spans_of(query, t)) != SPANS_PER_TRACE}
            if missing:
                time.sleep(1)
        assert not missing, f"{len(missing)} acknowledged traces not stored after the drain"
        deadline = time.time() + 30
        while lag([ingester]) != 0:
            assert time.time() < deadline, "lag did not drain"
            time.sleep(1)
        # Consumed messages make room: the collector takes spans again.
        deadline = time.time() + 30
        body = otlp_trace(f"{0xF0F1:016x}{1:016x}", int(time.time() * 1e9))
        while post(collector, body).status_code != 200:
            assert time.time() < deadline, "the collector still refuses after the drain"
            time.sleep(1)
    finally:
        for node in [collector, ingester, query]:
            if node:
                node.stop()
        nats.stop()


def small_cluster(name, extra=()):
    """One NATS server, a collector, an ingester and a query node over a database of their own."""
    nats = NATS(1)
    database = f"e2e_{name}_{uuid.uuid4().hex[:8]}"
    buffer = ["--buffer", nats.urls, "--buffer-partitions", "4"]
    collector = Server(["--role", "collector"] + buffer + list(extra))
    ingester = Server(["--role", "ingester", "--ingester-id", name] + buffer + store_args("clickhouse", database) + list(extra))
    query = Server(["--role", "query"] + store_args("clickhouse", database) + list(extra))
    return nats, collector, ingester, query


def test_tenants_stay_apart_through_the_buffer(tmp_path):
    """The collector names each message's tenant; the ingester stores it in that tenant's
    database; the query node shows each tenant only its own traces."""
    (tmp_path / "ariadne.yaml").write_text("tenancy:\n  header_trusted: true\n")
    nats, collector, ingester, query = small_cluster("tenants", ["--config", str(tmp_path / "ariadne.yaml")])
    try:
        wait_ready(collector, ingester)
        now = int(time.time() * 1e9)
        ids = {"team-a": f"{0x7A:016x}{1:016x}", "team-b": f"{0x7B:016x}{1:016x}"}
        for tenant, t in ids.items():
            r = requests.post(f"http://{collector.http}/v1/traces", json=otlp_trace(t, now), timeout=10,
                              headers={"X-Scope-OrgID": tenant})
            assert r.status_code == 200, r.text

        def status(tenant, t):
            return requests.get(query.url(f"/api/traces/{t}"), headers={"X-Scope-OrgID": tenant}, timeout=30).status_code

        deadline = time.time() + 30
        while status("team-a", ids["team-a"]) != 200 or status("team-b", ids["team-b"]) != 200:
            assert time.time() < deadline, "the tenants' traces did not arrive"
            time.sleep(0.5)
        assert status("team-a", ids["team-b"]) == 404 and status("team-b", ids["team-a"]) == 404
        assert status("default", ids["team-a"]) == 404 and requests.get(query.url(f"/api/traces/{ids['team-b']}"), timeout=30).status_code == 404
    finally:
        for node in [collector, ingester, query]:
            node.stop()
        nats.stop()


def test_replay_publishes_the_buffer_again_and_the_store_shows_each_span_once():
    import subprocess
    from conftest import BINARY
    nats, collector, ingester, query = small_cluster("replay")
    try:
        wait_ready(collector, ingester)
        ids = [f"{0x4E:016x}{k + 1:016x}" for k in range(30)]
        for t in ids:
            assert post(collector, otlp_trace(t, int(time.time() * 1e9))).status_code == 200
        deadline = time.time() + 30
        while any(len(spans_of(query, t)) != SPANS_PER_TRACE for t in ids):
            assert time.time() < deadline
            time.sleep(0.5)
        # The store loses some traces; the buffer still has them.
        lost = ids[:10]
        r = requests.post(query.url("/api/admin/delete"), json={"traceIDs": lost}, timeout=60)
        assert r.status_code == 200 and r.json()["deleted"] == 10, r.text
        assert all(not spans_of(query, t) for t in lost)
        out = subprocess.run([BINARY, "replay", "--buffer", nats.urls, "--since", "10m"], capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        assert "replay: 30 messages" in out.stdout, out.stdout
        deadline = time.time() + 30
        while any(len(spans_of(query, t)) != SPANS_PER_TRACE for t in lost):
            assert time.time() < deadline, "replayed traces did not come back"
            time.sleep(0.5)
        time.sleep(2)
        for t in ids:
            got = [s["spanID"] for s in spans_of(query, t)]
            assert len(got) == SPANS_PER_TRACE == len(set(got)), f"{t}: {got}"
        print(out.stdout.strip())
    finally:
        for node in [collector, ingester, query]:
            node.stop()
        nats.stop()


def free_base():
    """The first of 100 consecutive free loopback ports."""
    import random
    import socket
    for _ in range(50):
        base = random.randrange(20000, 60000, 100)
        try:
            for p in range(base, base + 90):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", p))
            return base
        except OSError:
            continue
    raise RuntimeError("no 100 free ports in a row")


def test_cluster_script_starts_every_role_and_each_query_node_answers(tmp_path):
    """scripts/cluster.sh, as the README's Scale out section uses it."""
    import os
    import subprocess
    from conftest import BINARY, ROOT
    base = free_base()
    env = {**os.environ, "CLUSTER_DIR": str(tmp_path / "cluster"), "CLUSTER_PORT": str(base), "ARIADNE_BIN": BINARY}
    script = os.path.join(ROOT, "scripts", "cluster.sh")

    def run(*args):
        out = subprocess.run(["bash", script, *args], env=env, capture_output=True, text=True, timeout=180)
        assert out.returncode == 0, f"cluster.sh {' '.join(args)}: {out.stdout}\n{out.stderr}"
        return out.stdout

    try:
        up = run("up")
        assert f"127.0.0.1:{base + 40}" in up and f"http://127.0.0.1:{base + 80}" in up
        for collector in (base + 40, base + 41):
            # Right after `up`, under a loaded machine, JetStream may still refuse a publish
            # (the stream's replicas settling) and the collector says so with UNAVAILABLE, as a
            # sender's SDK would then retry; within 30 s every span must be taken.
            deadline = time.time() + 30
            while True:
                out = subprocess.run([BINARY, "loadgen", "--endpoint", f"127.0.0.1:{collector}", "--spans", "2000", "--seed",
                                      str(collector)], capture_output=True, text=True, timeout=120)
                if "refused=0" in out.stdout or time.time() > deadline:
                    break
                time.sleep(2)
            assert "refused=0" in out.stdout, out.stdout + out.stderr
        run("kill", "ingester", "1")
        assert "ingester   1  stopped" in run("status")
        run("start", "ingester", "1")

        def answers(port):
            r = requests.get(f"http://127.0.0.1:{port}/api/search?limit=100000", timeout=30)
            return sorted(t["traceID"] for t in r.json()["traces"])

        deadline = time.time() + 60
        while True:
            a, b = answers(base + 80), answers(base + 81)
            if a == b and len(a) > 100 and "running" in run("status").split("ingester   1")[1].split("\n")[0]:
                break
            assert time.time() < deadline, f"query nodes disagree or are empty: {len(a)} vs {len(b)}"
            time.sleep(1)
        print(f"both query nodes answer {len(a)} traces")
    finally:
        subprocess.run(["bash", script, "down"], env=env, capture_output=True, timeout=120)


def test_alerts_are_evaluated_by_one_ingester_and_each_transition_is_notified_once(tmp_path):
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer
    received = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            received.append((body["alerts"][0]["labels"]["alertname"], body["status"]))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    hook = HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    config = tmp_path / "alerts.yaml"
    config.write_text(f"""
analytics:
  interval: 1s
  evaluation_interval: 500ms
  webhooks: [http://127.0.0.1:{hook.server_port}/alerts]
  alerts:
    - {{name: checkout-failing, type: error_rate, service: checkout, threshold: 0.2, window: 3s, min_calls: 5}}
""")
    nats = NATS(1)
    database = f"e2e_alerts_{uuid.uuid4().hex[:8]}"
    buffer = ["--config", str(config), "--buffer", nats.urls, "--buffer-partitions", "4"]
    collector = Server(["--role", "collector"] + buffer)
    ingesters = [Server(["--role", "ingester", "--ingester-id", f"alerts-{k}"] + buffer + store_args("clickhouse", database)) for k in range(2)]
    try:
        wait_ready(collector, *ingesters)

        def traffic(seconds, errors):
            stop, n = time.time() + seconds, 0
            while time.time() < stop:
                now = time.time_ns()
                spans = []
                for k in range(10):
                    n += 1
                    spans.append(span(f"{0xA1E7:016x}{int(now // 1000) + k:016x}", 1, None, now, 5, error=errors and n % 2 == 0,
                                      name="POST /checkout"))
                assert post(collector, resource_spans("checkout", spans)).status_code == 200
                time.sleep(0.2)

        traffic(3, errors=False)
        traffic(6, errors=True)
        traffic(10, errors=False)
        deadline = time.time() + 15
        while time.time() < deadline and len(received) < 2:
            time.sleep(0.2)
        time.sleep(3)  # a second evaluator would have notified by now
        assert received == [("checkout-failing", "firing"), ("checkout-failing", "resolved")], received
        leaders = [i for i in ingesters if "this ingester leads" in i.output()]
        assert len(leaders) == 1, [i.output()[-500:] for i in ingesters]
    finally:
        for node in [collector] + ingesters:
            node.stop()
        nats.stop()
        hook.shutdown()


def test_a_request_larger_than_a_nats_message_is_split_and_stored_whole():
    """One trace of 3,000 spans with 600-byte attributes is one partition's part of ~2 MB, over
    NATS's 1 MiB message limit: the collector publishes it in pieces, acknowledged together."""
    nats, collector, ingester, query = small_cluster("large")
    try:
        wait_ready(collector, ingester)
        trace_id = f"{0x1A26E:016x}{1:016x}"
        now = int(time.time() * 1e9)
        spans = [span(trace_id, k + 1, None if k == 0 else 1, now + k, 1) for k in range(3000)]
        for s in spans:
            s["attributes"] = [{"key": "payload", "value": {"stringValue": uuid.uuid4().hex * 19}}]
        r = post(collector, resource_spans("large", spans))
        assert r.status_code == 200, r.text
        deadline = time.time() + 60
        while len(spans_of(query, trace_id)) != 3000:
            assert time.time() < deadline, f"{len(spans_of(query, trace_id))} of 3000 spans stored"
            time.sleep(1)
        published = int(re.search(r'^ariadne_buffer_messages_published_total\{duplicate="false"\} (\d+)',
                                  requests.get(f"http://{collector.query}/metrics").text, re.M).group(1))
        assert published >= 3, published
    finally:
        for node in [collector, ingester, query]:
            node.stop()
        nats.stop()
