"""Fixtures that start the real `ariadne` binary on free loopback ports."""

import atexit
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid

import pytest
import requests

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BINARY = os.environ.get("ARIADNE_BIN", os.path.join(ROOT, ".build", "debug", "ariadne"))
START_LINE = re.compile(r"ariadne serve started ((?:\w+=\S+ ?)+)")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ClickHouse:
    """A real clickhouse-server on loopback (scripts/clickhouse-server.sh), its data in a temporary
    directory; `databases` are made fresh per Ariadne server so that suites do not see each other."""

    def __init__(self, cluster_xml=None, ports=None, directory=None):
        self.dir = directory or tempfile.mkdtemp(prefix="ariadne-clickhouse-")
        self.http_port, self.tcp_port = ports or (free_port(), free_port())
        self.url = f"http://127.0.0.1:{self.http_port}"
        args = ["bash", os.path.join(ROOT, "scripts", "clickhouse-server.sh"), self.dir, str(self.http_port), str(self.tcp_port)]
        if cluster_xml:
            args.append(cluster_xml)
        self.log = open(os.path.join(self.dir, "stdout.log"), "w")
        self.process = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"clickhouse-server exited: see {self.dir}/server.err.log")
            try:
                if requests.get(self.url + "/ping", timeout=1).content.startswith(b"Ok"):
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("clickhouse-server did not answer within 60 s")

    def query(self, sql):
        r = requests.post(self.url, data=sql.encode(), timeout=30)
        assert r.status_code == 200, f"{sql}: {r.text}"
        return r.content.decode()

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


_clickhouse = None


def clickhouse():
    """The ClickHouse the end-to-end suites share, started on first use."""
    global _clickhouse
    if _clickhouse is None:
        _clickhouse = ClickHouse()
        atexit.register(_clickhouse.stop)
    return _clickhouse


# The stores every suite that exercises the query API runs against.
STORES = ["engine", "clickhouse"]


def store_args(store, database=None, urls=None):
    """Flags for `ariadne serve` to use `store`; for ClickHouse a database of its own unless
    `database` names one that other nodes share."""
    if store != "clickhouse":
        return []
    return ["--store", "clickhouse", "--clickhouse-url", urls or clickhouse().url,
            "--clickhouse-database", database or f"e2e_{uuid.uuid4().hex[:12]}", "--clickhouse-batch-interval", "20ms"]


class Server:
    """A running `ariadne serve` and the addresses from its start line."""

    def __init__(self, extra_args=(), data_dir=None):
        self.owns_data_dir = data_dir is None
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="ariadne-e2e-")
        os.makedirs(self.data_dir, exist_ok=True)
        args = [BINARY, "serve", "--data-dir", self.data_dir]
        for flag in ("--otlp-grpc-port", "--otlp-http-port", "--zipkin-port", "--query-port", "--sampling-port"):
            args += [flag, "0"]
        args += list(extra_args)
        self.log_path = os.path.join(self.data_dir, "server.log")
        self.log = open(self.log_path, "a+")
        # A restarted server appends to the same log: look for its start line after this point.
        self.start_offset = os.path.getsize(self.log_path)
        self.process = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        match = None
        while time.time() < deadline and match is None:
            if self.process.poll() is not None:
                raise RuntimeError(f"ariadne exited early:\n{self.output()}")
            match = START_LINE.search(self.output()[self.start_offset:])
            time.sleep(0.05)
        if match is None:
            self.stop()
            raise RuntimeError(f"no start line within 30 s:\n{self.output()}")
        # Every listener's address (or `off`), by the names the start line gives them.
        self.addresses = dict(pair.split("=", 1) for pair in match.group(1).split())
        self.grpc, self.http, self.zipkin, self.query, self.sampling = (
            self.addresses[k] for k in ("otlp_grpc", "otlp_http", "zipkin", "query", "sampling")
        )

    def output(self):
        with open(self.log_path) as f:
            return f.read()

    def url(self, path):
        return f"http://{self.query}{path}"

    def get_json(self, path, expect=200):
        r = requests.get(self.url(path), timeout=10)
        assert r.status_code == expect, f"GET {path}: {r.status_code} {r.text[:500]}"
        return r.json()

    def wait_for_trace(self, trace_id, spans, timeout=5.0):
        """Polls /api/traces/{id} until the trace has `spans` spans; returns the Jaeger trace."""
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            r = requests.get(self.url(f"/api/traces/{trace_id}"), timeout=10)
            if r.status_code == 200:
                last = r.json()["data"][0]
                if len(last["spans"]) >= spans:
                    return last
            time.sleep(0.05)
        raise AssertionError(f"trace {trace_id} did not reach {spans} spans: {last}")

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                raise AssertionError("ariadne did not stop within 15 s of SIGTERM")
        self.log.close()
        if self.owns_data_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def kill(self):
        """SIGKILL: no chance to flush or clean up, as in a crash."""
        self.process.kill()
        self.process.wait(timeout=15)
        self.log.close()


@pytest.fixture(scope="module", params=STORES)
def server(request):
    s = Server(store_args(request.param))
    yield s
    s.stop()


class NATS:
    """Real nats-server processes with JetStream on loopback: one, or a cluster of `nodes` joined
    by routes (each with its own store directory), each killable and restartable by index."""

    def __init__(self, nodes=1):
        self.dir = tempfile.mkdtemp(prefix="ariadne-nats-")
        self.ports = [free_port() for _ in range(nodes)]
        self.cluster_ports = [free_port() for _ in range(nodes)] if nodes > 1 else []
        self.processes = [None] * nodes
        for i in range(nodes):
            self.start(i)
        for i in range(nodes):
            self.wait_ready(i)

    @property
    def urls(self):
        return ",".join(f"nats://127.0.0.1:{p}" for p in self.ports)

    def start(self, i):
        args = ["nats-server", "-js", "-a", "127.0.0.1", "-p", str(self.ports[i]), "-sd", os.path.join(self.dir, f"n{i}"),
                "-n", f"n{i}"]
        if self.cluster_ports:
            routes = ",".join(f"nats://127.0.0.1:{p}" for j, p in enumerate(self.cluster_ports) if j != i)
            args += ["--cluster_name", "ariadne", "--cluster", f"nats://127.0.0.1:{self.cluster_ports[i]}", "--routes", routes]
        log = open(os.path.join(self.dir, f"n{i}.log"), "a")
        self.processes[i] = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)

    def wait_ready(self, i, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.ports[i]), timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"nats-server {i} did not listen within {timeout} s")

    def kill(self, i):
        self.processes[i].kill()
        self.processes[i].wait(timeout=10)

    def stop(self):
        for p in self.processes:
            if p and p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
        shutil.rmtree(self.dir, ignore_errors=True)
