"""The demo end to end: one dispatch through the Swift and Python services and the NATS hop, found
as one trace in Ariadne with every service's spans and the queue hop linked to its producer.

Run by `make demo-test` (the demo's first build is too slow for the main CI run)."""

import os
import shutil
import tempfile
import time

import pytest
import requests

import demo

ROOT = demo.ROOT


@pytest.fixture(scope="module")
def shop():
    data_dir = tempfile.mkdtemp(prefix="ariadne-demo-test-")
    d = demo.Demo(
        os.environ.get("ARIADNE_BIN", os.path.join(ROOT, ".build", "debug", "ariadne")),
        os.path.join(demo.HERE, ".build", "debug", "DemoShop"), demo.ports(True, 0), data_dir, data_dir)
    try:
        d.up()
        yield d
    finally:
        d.down()
        for name in os.listdir(data_dir):
            if name.endswith(".log"):
                print(f"--- {name}\n" + open(os.path.join(data_dir, name)).read()[-2000:])
        shutil.rmtree(data_dir, ignore_errors=True)


def query(shop, path):
    r = requests.get(f"http://127.0.0.1:{shop.ports['query']}{path}", timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def find_trace(shop, customer, services, timeout=20):
    """The one trace of the dispatch for `customer` once spans of all `services` arrived."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        found = query(shop, f"/api/traces?service=frontend&tags=%7B%22customer.id%22%3A%22{customer}%22%7D&limit=5")["data"]
        if found:
            last = found[0]
            seen = {last["processes"][s["processID"]]["serviceName"] for s in last["spans"]}
            if services <= seen:
                return last
        time.sleep(0.25)
    raise AssertionError(f"no trace for customer {customer} with {services}: {last}")


def test_one_dispatch_is_one_trace_across_swift_python_and_nats(shop):
    assert shop.request(123) == 200
    trace = find_trace(shop, 123, {"frontend", "customers", "routes", "pricing", "dispatch-worker"})
    spans = {s["spanID"]: s for s in trace["spans"]}
    service = {s["spanID"]: trace["processes"][s["processID"]]["serviceName"] for s in trace["spans"]}
    tags = lambda s: {t["key"]: t["value"] for t in s["tags"]}  # noqa: E731
    parent = lambda s: next((r["spanID"] for r in s["references"] if r["refType"] == "CHILD_OF"), None)  # noqa: E731

    roots = [s for s in trace["spans"] if not s["references"]]
    assert len(roots) == 1 and service[roots[0]["spanID"]] == "frontend"

    # Python: Flask's server span continues the trace from the Swift client span's traceparent.
    flask = [s for s in trace["spans"] if service[s["spanID"]] == "pricing" and tags(s).get("span.kind") == "server"]
    assert flask, "no server span from the Python service"
    caller = spans[parent(flask[0])]
    assert service[caller["spanID"]] == "frontend" and tags(caller)["span.kind"] == "client"
    assert any(tags(s).get("db.system") == "sqlite" or tags(s).get("db.system.name") == "sqlite"
               for s in trace["spans"] if service[s["spanID"]] == "pricing")

    # The queue hop: the worker's consumer span is a child of the frontend's producer span.
    consumer = next(s for s in trace["spans"] if s["operationName"] == "dispatch.requests process")
    producer = spans[parent(consumer)]
    assert service[consumer["spanID"]] == "dispatch-worker" and tags(consumer)["span.kind"] == "consumer"
    assert producer["operationName"] == "dispatch.requests publish" and tags(producer)["span.kind"] == "producer"
    assert tags(consumer)["messaging.system"] == "nats"

    # Three route lookups in parallel, each a client span with a server span under it.
    route_servers = [s for s in trace["spans"] if service[s["spanID"]] == "routes" and tags(s).get("span.kind") == "server"]
    assert len(route_servers) == 3

    # The service graph has the queue edge.
    deps = query(shop, "/api/dependencies?endTs=%d&lookback=600000" % (time.time() * 1000))["data"]
    edges = {(d["parent"], d["child"]) for d in deps}
    assert {("frontend", "customers"), ("frontend", "pricing"), ("frontend", "routes"), ("frontend", "dispatch-worker")} <= edges


def test_slow_and_failing_paths_are_findable(shop):
    assert shop.request(demo.SLOW_CUSTOMER) == 200
    assert shop.request(demo.FAILING_CUSTOMER) == 502
    slow = find_trace(shop, demo.SLOW_CUSTOMER, {"customers"})
    sql = next(s for s in slow["spans"] if s["operationName"] == "SELECT customers")
    assert sql["duration"] >= 400_000
    failing = query(shop, "/api/traces?service=routes&tags=%7B%22error%22%3A%22true%22%7D&limit=20")["data"]
    assert any(any(s["operationName"] == "compute route" for s in t["spans"]) for t in failing)
