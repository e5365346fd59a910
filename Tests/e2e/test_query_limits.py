"""No query can stall the server: pathological regular expressions over stored values that make a
backtracking matcher take minutes, sent from several clients at once, while ingest and /health
are timed. Every answer must come within a second."""

import json
import threading
import time

import requests

from conftest import Server


def spans_request(n, value, start_ns):
    spans = []
    for i in range(n):
        spans.append({
            "traceId": f"{0xD05:016x}{i + 1:016x}", "spanId": f"{i + 1:016x}", "name": "redos", "kind": 2,
            "startTimeUnixNano": str(start_ns + i), "endTimeUnixNano": str(start_ns + i + 1000),
            "attributes": [{"key": "redos", "value": {"stringValue": value}}],
        })
    return {"resourceSpans": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "redos"}}]},
                               "scopeSpans": [{"spans": spans}]}]}


def test_pathological_patterns_do_not_stall_ingest_or_health():
    s = Server(["--query-timeout", "5s"])
    try:
        now = int(time.time() * 1e9)
        # 16 a's: 100+ s per value for a backtracking (a+)+b (measured on Swift's Regex).
        r = requests.post(f"http://{s.http}/v1/traces", data=json.dumps(spans_request(120, "a" * 16, now - 10**9)),
                          headers={"Content-Type": "application/json"}, timeout=10)
        assert r.status_code == 200
        patterns = ['(a+)+b', '(a|a)+b', '(a|aa)+b', '(.*a){12}b', '((a+)+)+b']
        answers, lock, stop = [], threading.Lock(), threading.Event()

        def query():
            while not stop.is_set():
                for p in patterns:
                    t = time.time()
                    r = requests.get(s.url("/api/traces"), params={"q": f'span.redos =~ "{p}"', "lookback": "1h"}, timeout=30)
                    with lock:
                        answers.append((p, r.status_code, time.time() - t, len(r.json().get("data") or [])))

        threads = [threading.Thread(target=query) for _ in range(4)]
        for t in threads:
            t.start()
        health, ingest = [], []
        deadline = time.time() + 5
        k = 0
        while time.time() < deadline:
            t = time.time()
            assert requests.get(s.url("/health"), timeout=5).status_code == 200
            health.append(time.time() - t)
            t = time.time()
            r = requests.post(f"http://{s.http}/v1/traces", data=json.dumps(spans_request(5, "b" * k, now)),
                              headers={"Content-Type": "application/json"}, timeout=5)
            assert r.status_code == 200
            ingest.append(time.time() - t)
            k += 1
        stop.set()
        for t in threads:
            t.join(timeout=30)
        assert answers, "no query answered"
        # The patterns match nothing (no value ends in b); every query answered, none slowly.
        assert all(status == 200 and found == 0 for _, status, _, found in answers), answers[:5]
        slowest_query = max(d for _, _, d, _ in answers)
        print(f"\n{len(answers)} pathological queries, slowest {slowest_query * 1000:.0f} ms; "
              f"/health slowest {max(health) * 1000:.0f} ms over {len(health)}; ingest slowest {max(ingest) * 1000:.0f} ms over {len(ingest)}")
        assert max(health) < 1.0
        assert max(ingest) < 1.0
        # Queries wait for a turn (4 at once): bounded well inside the deadline.
        assert slowest_query < 5.0
        # A pattern that still matches does: the search is a real search.
        r = s.get_json("/api/traces?" + "q=" + requests.utils.quote('span.redos =~ "(a+)+"') + "&lookback=1h&limit=1000")
        assert len(r["data"]) == 120
    finally:
        s.stop()
