"""Overload against the memory limiter: more than the limit allows is sent as fast as the
loadgen can; the server answers with backpressure, its peak RSS stays under the hard limit,
and every span it acknowledged is stored."""

import subprocess
import time

import requests

from conftest import BINARY, Server

# The spike allowance covers what arrives between checks and the block cut that relieves the
# head (about the head's size again).
LIMIT_MIB = 448
SPIKE_MIB = 248


def rss_peak_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def stored_spans(server):
    for line in requests.get(server.url("/metrics"), timeout=5).text.splitlines():
        if line.startswith("ariadne_storage_spans "):
            return int(line.split()[1])
    raise AssertionError("no ariadne_storage_spans")


def test_memory_limiter_pushes_back_and_loses_nothing(tmp_path):
    config = tmp_path / "limits.yaml"
    config.write_text(f"processors:\n  memory_limiter: {{limit_mib: {LIMIT_MIB}, spike_limit_mib: {SPIKE_MIB}}}\n")
    # A head that would hold ~1 GB if nothing stopped it: the limiter has to.
    data = str(tmp_path / "data")
    s = Server(extra_args=["--config", str(config), "--head-max-spans", "500000"], data_dir=data)
    try:
        out = subprocess.run(
            [BINARY, "loadgen", "--endpoint", s.grpc, "--spans", "400000", "--concurrency", "8", "--seed", "5"],
            capture_output=True, text=True, timeout=300)
        summary = out.stdout.strip().splitlines()[-1]
        fields = dict(kv.split("=") for kv in summary.split()[2:])
        acknowledged, refused = int(fields["acknowledged"]), int(fields["refused"])
        metrics = requests.get(s.url("/metrics"), timeout=5).text
        peak = rss_peak_mib(s.process.pid)
        print(f"\nmemory limit: {acknowledged} acknowledged, {refused} refused, peak RSS {peak:.0f} MiB "
              f"(soft {LIMIT_MIB - SPIKE_MIB}, hard {LIMIT_MIB})")
        assert refused > 0, "the limit was never reached: send more"
        refused_by_server = sum(int(line.split()[-1]) for line in metrics.splitlines()
                                if line.startswith("ariadne_receiver_spans_refused_total{"))
        assert refused_by_server == refused
        assert acknowledged > 0
        assert peak < LIMIT_MIB, f"peak RSS {peak:.0f} MiB over the hard limit"
        deadline = time.time() + 10
        while time.time() < deadline and stored_spans(s) < acknowledged:
            time.sleep(0.2)
        assert stored_spans(s) == acknowledged
    finally:
        s.stop()
    # And after a restart (WAL replay), still every acknowledged span.
    again = Server(data_dir=data)
    try:
        assert stored_spans(again) == acknowledged
    finally:
        again.stop()
