"""TLS and mTLS on the listeners, with certificates made by OpenSSL's CLI: the OpenTelemetry SDK
exports over gRPC and HTTP with a CA file and a bearer header, plaintext to a TLS port fails, a
certificate replaced on disk is served after reload_interval, and with a client CA a client
without a certificate, or with one from another CA, is refused."""

import ssl
import subprocess
import time

import grpc
import pytest
import requests
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GRPCExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HTTPExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from conftest import Server

KEY = "tls-ingest-0123456789abcdef"


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_ca(d, name):
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "2",
            "-subj", f"/CN={name}", cwd=d)


def make_cert(d, name, ca, cn, server=True):
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}-key.pem", "-out", f"{name}.csr", "-subj", f"/CN={cn}", cwd=d)
    (d / f"{name}.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n" if server else "extendedKeyUsage=clientAuth\n")
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key", "-CAcreateserial", "-out", f"{name}.pem",
            "-days", "2", "-extfile", f"{name}.ext", cwd=d)


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    d = tmp_path_factory.mktemp("certs")
    make_ca(d, "ca")
    make_ca(d, "other-ca")
    make_cert(d, "server", "ca", "ariadne-one")
    make_cert(d, "server2", "ca", "ariadne-two")
    make_cert(d, "client", "ca", "good-client", server=False)
    make_cert(d, "stranger", "other-ca", "stranger", server=False)
    (d / "key").write_text(KEY)
    return d


def start(certs, tmp_path, client_ca=False):
    for f in ("server.pem", "server-key.pem"):
        (tmp_path / f).write_bytes((certs / f).read_bytes())
    (tmp_path / "ariadne.yaml").write_text(
        "tls:\n"
        f"  cert_file: {tmp_path / 'server.pem'}\n"
        f"  key_file: {tmp_path / 'server-key.pem'}\n"
        + (f"  client_ca_file: {certs / 'ca.pem'}\n" if client_ca else "")
        + "  reload_interval: 1s\n"
        "auth:\n"
        "  api_keys:\n"
        f"    - {{name: all, key_file: {certs / 'key'}, tenant: t, role: admin}}\n"
    )
    return Server(extra_args=["--config", str(tmp_path / "ariadne.yaml")])


def served_cn(address):
    host, port = address.rsplit(":", 1)
    pem = ssl.get_server_certificate((host, int(port)))
    out = subprocess.run(["openssl", "x509", "-noout", "-subject"], input=pem, capture_output=True, text=True, check=True)
    return out.stdout.strip().split("CN", 1)[1].strip(" =")


def test_sdk_over_tls_with_a_bearer_header_plaintext_refused_and_certificates_reloaded(certs, tmp_path):
    s = start(certs, tmp_path)
    try:
        ca = str(certs / "ca.pem")
        auth = {"authorization": f"Bearer {KEY}"}
        provider = TracerProvider(resource=Resource.create({"service.name": "tls-svc"}))
        provider.add_span_processor(SimpleSpanProcessor(GRPCExporter(
            endpoint=s.grpc, credentials=grpc.ssl_channel_credentials(open(ca, "rb").read()), headers=auth)))
        provider.add_span_processor(SimpleSpanProcessor(HTTPExporter(
            endpoint=f"https://{s.http}/v1/traces", certificate_file=ca, headers=auth)))
        with provider.get_tracer("t").start_as_current_span("over-tls") as span:
            trace_id = format(span.get_span_context().trace_id, "032x")
        provider.shutdown()
        r = requests.get(f"https://{s.query}/api/traces/{trace_id}", verify=ca, headers={"Authorization": f"Bearer {KEY}"}, timeout=10)
        # One span, sent over both: exact duplicates are stored once.
        assert r.status_code == 200 and len(r.json()["data"][0]["spans"]) == 1
        # Plaintext to a TLS port gets no HTTP answer.
        with pytest.raises(requests.exceptions.ConnectionError):
            requests.get(f"http://{s.query}/health", timeout=5)
        assert requests.get(f"https://{s.query}/health", verify=ca, timeout=5).status_code == 200

        # A renewed certificate is served without a restart.
        assert served_cn(s.query) == "ariadne-one"
        (tmp_path / "server.pem").write_bytes((certs / "server2.pem").read_bytes())
        (tmp_path / "server-key.pem").write_bytes((certs / "server2-key.pem").read_bytes())
        deadline = time.time() + 10
        while time.time() < deadline and served_cn(s.query) != "ariadne-two":
            time.sleep(0.2)
        assert served_cn(s.query) == "ariadne-two" and served_cn(s.grpc) == "ariadne-two"
    finally:
        s.stop()


def test_mtls_refuses_clients_without_a_certificate_of_the_ca(certs, tmp_path):
    s = start(certs, tmp_path, client_ca=True)
    try:
        ca = str(certs / "ca.pem")
        url = f"https://{s.query}/health"
        with pytest.raises(requests.exceptions.ConnectionError):
            requests.get(url, verify=ca, timeout=5)
        with pytest.raises(requests.exceptions.ConnectionError):
            requests.get(url, verify=ca, cert=(str(certs / "stranger.pem"), str(certs / "stranger-key.pem")), timeout=5)
        good = (str(certs / "client.pem"), str(certs / "client-key.pem"))
        assert requests.get(url, verify=ca, cert=good, timeout=5).status_code == 200
        # gRPC too: a channel without a client certificate cannot export.
        channel = grpc.secure_channel(s.grpc, grpc.ssl_channel_credentials(open(ca, "rb").read()))
        call = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export")
        with pytest.raises(grpc.RpcError) as e:
            call(b"", timeout=5, metadata=[("authorization", f"Bearer {KEY}")])
        assert e.value.code() == grpc.StatusCode.UNAVAILABLE
        channel.close()
        channel = grpc.secure_channel(s.grpc, grpc.ssl_channel_credentials(
            open(ca, "rb").read(), open(good[1], "rb").read(), open(good[0], "rb").read()))
        call = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export")
        assert call(b"", timeout=5, metadata=[("authorization", f"Bearer {KEY}")]) is not None
        channel.close()
    finally:
        s.stop()


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_agent_reaches_a_secured_gateway_with_tls_and_a_bearer_token(certs, tmp_path, protocol):
    gateway = start(certs, tmp_path)
    agent = None
    try:
        agent_config = tmp_path / "agent.yaml"
        endpoint = gateway.grpc if protocol == "grpc" else f"https://{gateway.http}/v1/traces"
        agent_config.write_text(
            "exporters:\n"
            f"  {'otlp' if protocol == 'grpc' else 'otlphttp'}/gateway:\n"
            f"    endpoint: {endpoint}\n"
            f"    tls: {{ca_file: {certs / 'ca.pem'}}}\n"
            f"    bearer_token_file: {certs / 'key'}\n"
            "    headers: {x-agent: edge-1}\n"
            "service: {pipelines: {traces: {exporters: [otlp" + ("" if protocol == "grpc" else "http") + "/gateway]}}}\n"
        )
        agent = Server(extra_args=["--config", str(agent_config)])
        provider = TracerProvider(resource=Resource.create({"service.name": f"edge-{protocol}"}))
        provider.add_span_processor(SimpleSpanProcessor(HTTPExporter(endpoint=f"http://{agent.http}/v1/traces")))
        with provider.get_tracer("t").start_as_current_span("through-the-agent") as span:
            trace_id = format(span.get_span_context().trace_id, "032x")
        provider.shutdown()
        ca = str(certs / "ca.pem")
        deadline = time.time() + 15
        status = None
        while time.time() < deadline:
            r = requests.get(f"https://{gateway.query}/api/traces/{trace_id}", verify=ca,
                             headers={"Authorization": f"Bearer {KEY}"}, timeout=10)
            status = r.status_code
            if status == 200:
                break
            time.sleep(0.2)
        assert status == 200, agent.output()[-2000:]
    finally:
        if agent:
            agent.stop()
        gateway.stop()
