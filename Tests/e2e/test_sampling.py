"""Remote sampling on the sampling port, read by a client written from the documented JSON
schema (jaeger-idl api_v2/sampling.proto as JSON): strategies from a Jaeger strategies file, and
adaptive probabilities that move toward their target while the client follows them."""

import json
import random
import subprocess
import time

import requests

from conftest import BINARY, Server


class SamplingClient:
    """What an SDK's remote sampler does with the answer: per-operation probabilities when the
    strategy has operationSampling, else the service-wide probabilistic or rate-limiting rule."""

    def __init__(self, server, service):
        self.url = f"http://{server.sampling}/sampling"
        self.service = service
        self.refresh()

    def refresh(self):
        r = requests.get(self.url, params={"service": self.service}, timeout=5)
        r.raise_for_status()
        doc = r.json()
        self.type = doc["strategyType"]
        self.rate = doc.get("probabilisticSampling", {}).get("samplingRate")
        self.max_per_second = doc.get("rateLimitingSampling", {}).get("maxTracesPerSecond")
        ops = doc.get("operationSampling")
        self.default = ops["defaultSamplingProbability"] if ops else self.rate
        self.lower_bound = ops["defaultLowerBoundTracesPerSecond"] if ops else None
        self.per_operation = {o["operation"]: o["probabilisticSampling"]["samplingRate"]
                              for o in (ops or {}).get("perOperationStrategies", [])}
        return doc

    def probability(self, operation):
        return self.per_operation.get(operation, self.default)


def test_strategies_file(tmp_path):
    (tmp_path / "strategies.json").write_text(json.dumps({
        "service_strategies": [
            {"service": "checkout", "type": "probabilistic", "param": 0.5,
             "operation_strategies": [{"operation": "GET /health", "type": "probabilistic", "param": 0.0}]},
            {"service": "batch", "type": "ratelimiting", "param": 5},
        ],
        "default_strategy": {"type": "probabilistic", "param": 0.1},
    }))
    (tmp_path / "ariadne.yaml").write_text("sampling:\n  strategies_file: strategies.json\n")
    s = Server(extra_args=["--config", str(tmp_path / "ariadne.yaml")])
    try:
        checkout = SamplingClient(s, "checkout")
        assert checkout.type == "PROBABILISTIC" and checkout.rate == 0.5
        assert checkout.probability("GET /health") == 0.0 and checkout.probability("POST /pay") == 0.5
        batch = SamplingClient(s, "batch")
        assert batch.type == "RATE_LIMITING" and batch.max_per_second == 5
        assert SamplingClient(s, "anything-else").rate == 0.1
        assert requests.get(f"http://{s.sampling}/", timeout=5).status_code == 400
        assert requests.get(f"http://{s.sampling}/?service=a&service=b", timeout=5).status_code == 400
    finally:
        s.stop()


def root_spans(service, operations):
    spans = [{
        "traceId": "%032x" % random.getrandbits(128), "spanId": "%016x" % random.getrandbits(64), "name": op,
        "kind": 2, "startTimeUnixNano": str(time.time_ns()), "endTimeUnixNano": str(time.time_ns() + 1000),
    } for op in operations]
    return {"resourceSpans": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
                               "scopeSpans": [{"spans": spans}]}]}


def test_adaptive_probabilities_move_toward_the_target(tmp_path):
    (tmp_path / "ariadne.yaml").write_text(
        "sampling:\n  adaptive: {target_traces_per_second: 10, interval: 1s, initial_probability: 1, buckets: 1}\n")
    s = Server(extra_args=["--config", str(tmp_path / "ariadne.yaml")])
    rates = {"GET /checkout": 200, "GET /cart": 50}  # traces a second the service really handles
    try:
        client = SamplingClient(s, "shop")
        assert client.probability("GET /checkout") == 1
        sent = {op: [] for op in rates}
        started = time.time()
        while time.time() - started < 8:
            tick = time.time()
            client.refresh()  # an SDK polls less often; the protocol is the same
            chosen = []
            for op, rate in rates.items():
                for _ in range(rate // 4):  # a quarter second of requests
                    if random.random() < client.probability(op):
                        chosen.append(op)
                        sent[op].append(tick)
            if chosen:
                r = requests.post(f"http://{s.http}/v1/traces", json=root_spans("shop", chosen), timeout=5)
                assert r.status_code == 200, r.text
            time.sleep(max(0, 0.25 - (time.time() - tick)))
        client.refresh()
        for op, rate in rates.items():
            p = client.probability(op)
            ideal = 10 / rate
            assert ideal / 2.5 <= p <= ideal * 2.5, f"{op}: probability {p}, ideal {ideal}"
            recent = sum(1 for t in sent[op] if t > time.time() - 3) / 3
            assert 10 / 3 <= recent <= 10 * 3, f"{op}: {recent:.1f} traces/s sent, target 10"
        print(f"\nadaptive: {client.per_operation}")
    finally:
        s.stop()


def test_loadgen_following_adaptive_strategies_converges_on_the_target(tmp_path):
    """`ariadne loadgen --remote-sampling` samples at the head as an SDK does; the adaptive
    probabilities it reads fall from 1 until each operation arrives at about its target."""
    target = 4
    (tmp_path / "ariadne.yaml").write_text(
        f"sampling:\n  adaptive: {{target_traces_per_second: {target}, interval: 1s, initial_probability: 1, buckets: 1}}\n")
    s = Server(extra_args=["--config", str(tmp_path / "ariadne.yaml")])
    try:
        out = subprocess.run(
            [BINARY, "loadgen", "--endpoint", s.grpc, "--rate", "4000", "--duration", "9", "--concurrency", "2",
             "--batch-spans", "200", "--remote-sampling", f"http://{s.sampling}/sampling"],
            capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        assert "sampled_out=" in out.stdout
        client = SamplingClient(s, "api-gateway")
        assert client.per_operation and all(p < 0.5 for p in client.per_operation.values()), client.per_operation
        # What arrived in the last three whole seconds, per operation: near the target.
        end = int(time.time()) - 1
        found = s.get_json(f"/api/search?service=api-gateway&start={end - 3}&end={end - 1}&limit=100000")["traces"]
        per_op = {}
        for t in found:
            per_op[t["rootTraceName"]] = per_op.get(t["rootTraceName"], 0) + 1 / 3
        assert per_op
        for op, rate in per_op.items():
            assert target / 3 <= rate <= target * 3, f"{op}: {rate:.1f} traces/s, target {target}; {per_op}"
        print(f"\nloadgen under adaptive sampling: {({k: round(v, 1) for k, v in per_op.items()})}")
    finally:
        s.stop()
