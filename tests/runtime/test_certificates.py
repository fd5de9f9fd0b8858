"""The local Kafka's certificates, checked by Python's own TLS stack (OpenSSL through ``ssl``), not by
the library that wrote them: a handshake with hostname verification against the generated CA."""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import threading
from pathlib import Path

import pytest

from tradestream.runtime.certificates import covered_hosts, ensure_certificates, issue_certificates


def handshake(files, server_name: str, ca: Path) -> str:
    """A TLS handshake between a server using ``files.server_pem`` and a client trusting ``ca``."""
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(files.server_pem)  # key and chain in one PEM file, as Kafka reads it
    client_ctx = ssl.create_default_context(cafile=str(ca))
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    errors: list[BaseException] = []

    def serve() -> None:
        conn, _ = listener.accept()
        try:
            with server_ctx.wrap_socket(conn, server_side=True) as tls:
                tls.recv(1)
        except (ssl.SSLError, OSError) as exc:
            errors.append(exc)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        with socket.create_connection(("127.0.0.1", port)) as raw, \
                client_ctx.wrap_socket(raw, server_hostname=server_name) as tls:
            version = tls.version()
            tls.send(b"x")
    finally:
        thread.join(5)
        listener.close()
    return version


def test_a_client_trusting_the_ca_verifies_the_server_for_its_ip_and_name(tmp_path):
    files = issue_certificates(tmp_path, ["127.0.0.1", "localhost"])
    assert handshake(files, "127.0.0.1", files.ca).startswith("TLS")
    assert handshake(files, "localhost", files.ca).startswith("TLS")


def test_a_name_the_certificate_does_not_cover_is_refused(tmp_path):
    files = issue_certificates(tmp_path, ["127.0.0.1"])
    with pytest.raises(ssl.SSLCertVerificationError, match="(?i)hostname|IP address mismatch"):
        handshake(files, "kafka.example.com", files.ca)


def test_another_ca_is_not_trusted(tmp_path):
    files = issue_certificates(tmp_path / "a", ["127.0.0.1"])
    other = issue_certificates(tmp_path / "b", ["127.0.0.1"])
    with pytest.raises(ssl.SSLCertVerificationError, match="certificate verify failed"):
        handshake(files, "127.0.0.1", other.ca)


def test_the_server_key_is_unencrypted_pkcs8_readable_by_its_owner_only(tmp_path):
    files = issue_certificates(tmp_path, ["127.0.0.1"])
    text = files.server_pem.read_text()
    assert text.startswith("-----BEGIN PRIVATE KEY-----")  # Kafka's PEM key store reads PKCS#8 only
    assert text.count("-----BEGIN CERTIFICATE-----") == 2  # the server's, then the CA's
    assert files.server_pem.stat().st_mode & 0o777 == 0o600
    assert "PRIVATE KEY" not in files.ca.read_text()  # the CA's key is never written


def test_certificates_are_kept_until_they_expire_soon_or_miss_a_host(tmp_path):
    first = ensure_certificates(tmp_path, ["127.0.0.1"]).ca.read_bytes()
    assert ensure_certificates(tmp_path, ["127.0.0.1"]).ca.read_bytes() == first
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=800)  # within a month of the end of validity
    assert ensure_certificates(tmp_path, ["127.0.0.1"], now=later).ca.read_bytes() != first
    files = ensure_certificates(tmp_path, ["127.0.0.1", "kafka.local"])
    from cryptography import x509

    assert covered_hosts(x509.load_pem_x509_certificate(files.server_certificate.read_bytes())) == \
        {"127.0.0.1", "kafka.local"}
