"""Starts the demo shop beside Ariadne and drives it: `make demo` runs this.

Everything listens on 127.0.0.1: a NATS server, `ariadne serve`, the Swift services (frontend,
customers, routes, dispatch-worker) and the Python pricing service under
`opentelemetry-instrument`. A load driver then asks the frontend for dispatches, now and then for
the slow customer (392) and the failing one (731). Ctrl-C stops every process it started.

    python demo/demo.py [--requests N] [--ariadne-bin PATH] [--query-port 16686] [--free-ports]
"""

import argparse
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SLOW_CUSTOMER, FAILING_CUSTOMER = 392, 731


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, process, name, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{name} did not listen on {port} within {timeout} s")


class Demo:
    """The processes of one demo, started in dependency order and stopped by PID in reverse."""

    def __init__(self, ariadne_bin, demo_bin, ports, data_dir, log_dir):
        self.ariadne_bin, self.demo_bin, self.ports = ariadne_bin, demo_bin, ports
        self.data_dir, self.log_dir = data_dir, log_dir
        self.processes = []

    def start(self, name, args, port=None, env=None):
        log = open(os.path.join(self.log_dir, f"{name}.log"), "w")
        p = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}, cwd=HERE)
        self.processes.append((name, p, log))
        if port:
            wait_for_port(port, p, name)
        return p

    def otel_env(self, service):
        return {
            "OTEL_SERVICE_NAME": service,
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{self.ports['otlp_http']}",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_TRACES_EXPORTER": "otlp", "OTEL_METRICS_EXPORTER": "none", "OTEL_LOGS_EXPORTER": "none",
            "OTEL_BSP_SCHEDULE_DELAY": "500",
        }

    def up(self):
        p = self.ports
        self.start("nats", ["nats-server", "-a", "127.0.0.1", "-p", str(p["nats"])], p["nats"])
        self.start("ariadne", [
            self.ariadne_bin, "serve", "--data-dir", self.data_dir, "--query-port", str(p["query"]),
            "--otlp-grpc-port", str(p["otlp_grpc"]), "--otlp-http-port", str(p["otlp_http"]),
            "--zipkin-port", str(p["zipkin"]), "--sampling-port", str(p["sampling"]),
        ], p["query"])
        nats = f"nats://127.0.0.1:{p['nats']}"
        urls = {
            "CUSTOMERS_URL": f"http://127.0.0.1:{p['customers']}", "ROUTES_URL": f"http://127.0.0.1:{p['routes']}",
            "PRICING_URL": f"http://127.0.0.1:{p['pricing']}", "NATS_URL": nats,
        }
        venv = os.path.join(HERE, ".venv", "bin")
        self.start("pricing", [os.path.join(venv, "opentelemetry-instrument"), os.path.join(venv, "python"), "pricing/app.py"],
                   p["pricing"], {**self.otel_env("pricing"), "PORT": str(p["pricing"])})
        for role in ("customers", "routes"):
            self.start(role, [self.demo_bin, role], p[role], {**self.otel_env(role), "PORT": str(p[role])})
        self.start("dispatch-worker", [self.demo_bin, "dispatch-worker"], None, {**self.otel_env("dispatch-worker"), **urls})
        self.start("frontend", [self.demo_bin, "frontend"], p["frontend"],
                   {**self.otel_env("frontend"), **urls, "PORT": str(p["frontend"])})
        # The worker subscribes once connected: give it a moment before the first message.
        time.sleep(1)

    def request(self, customer):
        """One dispatch through the frontend; the HTTP status (an error path answers 502)."""
        url = f"http://127.0.0.1:{self.ports['frontend']}/dispatch?customer={customer}"
        try:
            with urllib.request.urlopen(url, timeout=15) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code

    def down(self):
        for name, p, log in reversed(self.processes):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
            log.close()
        self.processes = []


def ports(free, query_port):
    names = ["nats", "query", "otlp_grpc", "otlp_http", "zipkin", "sampling", "frontend", "customers", "routes", "pricing"]
    if free:
        return {n: free_port() for n in names}
    fixed = dict(zip(names, [4222, query_port, 4317, 4318, 9411, 5778, 8080, 8081, 8082, 8083]))
    return fixed


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=0, help="dispatches to send, then stop (0: until Ctrl-C)")
    parser.add_argument("--ariadne-bin", default=os.path.join(ROOT, ".build", "release", "ariadne"))
    parser.add_argument("--demo-bin", default=os.path.join(HERE, ".build", "debug", "DemoShop"))
    parser.add_argument("--query-port", type=int, default=16686)
    parser.add_argument("--free-ports", action="store_true", help="pick free ports instead of the usual ones")
    args = parser.parse_args()
    # The services run in demo/: paths given relative to where the command ran are made absolute.
    args.ariadne_bin, args.demo_bin = os.path.abspath(args.ariadne_bin), os.path.abspath(args.demo_bin)
    data_dir = tempfile.mkdtemp(prefix="ariadne-demo-")
    demo = Demo(args.ariadne_bin, args.demo_bin, ports(args.free_ports, args.query_port), data_dir, data_dir)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    try:
        demo.up()
        ui = f"http://127.0.0.1:{demo.ports['query']}"
        print(f"demo: up. Ariadne's UI: {ui}  (logs and data in {data_dir})")
        print(f"demo: the frontend: http://127.0.0.1:{demo.ports['frontend']}/dispatch?customer=123")
        print(f"demo: look for the slow path  — {ui}/#/search?service=frontend&minDuration=300ms (customer {SLOW_CUSTOMER}: SELECT customers)")
        print(f"demo: and the failing path    — {ui}/#/search?service=routes&tags=error%3Dtrue (customer {FAILING_CUSTOMER}: compute route)")
        print("demo: the service map shows the NATS hop frontend → dispatch-worker; Ctrl-C stops everything", flush=True)
        sent = 0
        customers = [123, 45, 567, 808, 2049, 36]
        while not stop and (args.requests == 0 or sent < args.requests):
            customer = random.choice(customers) if sent % 10 not in (4, 9) else (SLOW_CUSTOMER if sent % 10 == 4 else FAILING_CUSTOMER)
            status = demo.request(customer)
            sent += 1
            if sent % 20 == 0:
                print(f"demo: {sent} dispatches sent (last: customer {customer} → {status})", flush=True)
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        print("demo: stopping", flush=True)
        demo.down()
        shutil.rmtree(data_dir, ignore_errors=True) if args.requests else None


if __name__ == "__main__":
    sys.exit(main())
