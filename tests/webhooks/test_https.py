"""https receivers: the connection goes to the checked address, while TLS (SNI and the
certificate check) is about the URL's hostname."""

from __future__ import annotations

import datetime
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from webhooks import transport
from webhooks.services import delivery_attempt

from .conftest import emit_one

pytestmark = pytest.mark.django_db


def _certificate(subject: str, issuer_key, issuer_name, key, *, ca: bool, names=()):
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(issuer_name or x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(names)), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory):
    """A private CA and a certificate for ``localhost`` only (no IP address in it)."""
    folder = tmp_path_factory.mktemp("tls")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _certificate("MRRX test CA", ca_key, None, ca_key, ca=True)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _certificate(
        "localhost", ca_key, ca.subject, key, ca=False, names=[x509.DNSName("localhost")]
    )
    pem = serialization.Encoding.PEM
    (folder / "ca.pem").write_bytes(ca.public_bytes(pem))
    (folder / "cert.pem").write_bytes(cert.public_bytes(pem))
    (folder / "key.pem").write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return folder


@pytest.fixture
def https_receiver(tls_files):
    seen = {"requests": [], "sni": []}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            seen["requests"].append(dict(self.headers))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tls_files / "cert.pem", tls_files / "key.pem")
    context.sni_callback = lambda sock, name, ctx: seen["sni"].append(name)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    seen["port"] = server.server_address[1]
    yield seen
    server.shutdown()
    server.server_close()


@pytest.fixture
def trust_test_ca(monkeypatch, tls_files):
    # The trust store is the edge here: the pooled client is rebuilt trusting the test CA.
    real = transport.httpx.create_ssl_context

    def create_ssl_context(**kwargs):
        context = real(**kwargs)
        context.load_verify_locations(cafile=str(tls_files / "ca.pem"))
        return context

    monkeypatch.setattr(transport.httpx, "create_ssl_context", create_ssl_context)
    monkeypatch.setattr(transport, "_client", None)
    yield
    monkeypatch.setattr(transport, "_client", None)


def test_an_https_endpoint_gets_the_hostname_in_sni_and_its_certificate_checked(
    https_receiver, trust_test_ca, tenant, make_endpoint
):
    make_endpoint(tenant, livemode=True, url=f"https://localhost:{https_receiver['port']}/hook")

    attempt = delivery_attempt(delivery_id=emit_one(tenant, livemode=True).pk)

    assert attempt.succeeded, attempt.error
    assert https_receiver["sni"] == ["localhost"]
    [headers] = https_receiver["requests"]
    assert headers["Host"] == f"localhost:{https_receiver['port']}"


def test_a_certificate_for_another_name_is_refused(
    https_receiver, trust_test_ca, tenant, make_endpoint
):
    # The same server by its address: the certificate names localhost, not 127.0.0.1.
    make_endpoint(tenant, livemode=True, url=f"https://127.0.0.1:{https_receiver['port']}/hook")

    attempt = delivery_attempt(delivery_id=emit_one(tenant, livemode=True).pk)

    assert not attempt.succeeded
    assert "CERTIFICATE_VERIFY_FAILED" in attempt.error
    assert https_receiver["requests"] == []


def test_an_unknown_certificate_authority_is_refused(https_receiver, tenant, make_endpoint):
    make_endpoint(tenant, livemode=True, url=f"https://localhost:{https_receiver['port']}/hook")

    attempt = delivery_attempt(delivery_id=emit_one(tenant, livemode=True).pk)

    assert "CERTIFICATE_VERIFY_FAILED" in attempt.error
    assert https_receiver["requests"] == []
