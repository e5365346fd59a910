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
