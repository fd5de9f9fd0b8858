"""TLS certificates for the local Kafka cluster: a private CA and one server certificate.

Written with ``cryptography`` (the Python Cryptographic Authority's library, the one pip,
requests and the Kubernetes client build on). The files are what both sides read
without conversion: Kafka's PEM key store wants the key as unencrypted PKCS#8 ("BEGIN
PRIVATE KEY") followed by its certificate, librdkafka a CA file (``ssl.ca.location``).

The CA's private key is used once, to sign the server certificate, and never written:
nobody can issue a second certificate this CA vouches for. ``ensure_certificates`` keeps
what exists as long as it still covers the requested host names and has a month left.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALID_DAYS = 825        # the longest validity clients still accept for a server certificate
RENEW_BEFORE_DAYS = 30


@dataclass(frozen=True)
class TlsFiles:
    """Where the certificates live: ``ca`` for clients, ``server_pem`` (key + chain) for the brokers."""

    directory: Path

    @property
    def ca(self) -> Path:
        return self.directory / "ca.crt"

    @property
    def server_pem(self) -> Path:
        """PKCS#8 private key, then the server certificate, then the CA: Kafka's ``ssl.keystore.type=PEM`` file."""
        return self.directory / "server.pem"

    @property
    def server_certificate(self) -> Path:
        return self.directory / "server.crt"

    def exist(self) -> bool:
        return self.ca.is_file() and self.server_pem.is_file() and self.server_certificate.is_file()


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "TradeStream"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _alt_names(hosts: Sequence[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


def covered_hosts(certificate: x509.Certificate) -> set[str]:
    """The DNS names and IP addresses a certificate is valid for."""
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    return {*san.get_values_for_type(x509.DNSName), *(str(ip) for ip in san.get_values_for_type(x509.IPAddress))}


def issue_certificates(directory: Path, hosts: Sequence[str], *, days: int = VALID_DAYS,
                       now: dt.datetime | None = None) -> TlsFiles:
    """A new CA and a server certificate for ``hosts`` (names or IP addresses) in ``directory``."""
    if not hosts:
        raise ValueError("a server certificate needs at least one host name or IP address")
    now = now or dt.datetime.now(dt.UTC)
    start = now - dt.timedelta(minutes=5)  # tolerate a little clock skew between processes
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("TradeStream local Kafka CA")
    ca = (x509.CertificateBuilder()
          .subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(start).not_valid_after(now + dt.timedelta(days=days))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                       crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    server_key = ec.generate_private_key(ec.SECP256R1())
    server = (x509.CertificateBuilder()
              .subject_name(_name(hosts[0])).issuer_name(ca_name)
              .public_key(server_key.public_key()).serial_number(x509.random_serial_number())
              .not_valid_before(start).not_valid_after(now + dt.timedelta(days=days))
              .add_extension(x509.SubjectAlternativeName(_alt_names(hosts)), critical=False)
              .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
              .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                           data_encipherment=False, key_agreement=True, key_cert_sign=False,
                                           crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
              .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                             critical=False)
              .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
              .sign(ca_key, hashes.SHA256()))
    files = TlsFiles(directory)
    directory.mkdir(parents=True, exist_ok=True)
    pem = serialization.Encoding.PEM
    key_pem = server_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    _write(files.server_pem, key_pem + server.public_bytes(pem) + ca.public_bytes(pem), private=True)
    _write(files.server_certificate, server.public_bytes(pem))
    _write(files.ca, ca.public_bytes(pem))
    return files


def ensure_certificates(directory: Path, hosts: Sequence[str], *, now: dt.datetime | None = None) -> TlsFiles:
    """The certificates in ``directory``, issued anew when missing, expiring within a month, or not
    covering every one of ``hosts``."""
    files = TlsFiles(directory)
    now = now or dt.datetime.now(dt.UTC)
    if files.exist():
        certificate = x509.load_pem_x509_certificate(files.server_certificate.read_bytes())
        fresh = certificate.not_valid_after_utc - now > dt.timedelta(days=RENEW_BEFORE_DAYS)
        if fresh and set(hosts) <= covered_hosts(certificate):
            return files
    return issue_certificates(directory, hosts, now=now)


def _write(path: Path, data: bytes, *, private: bool = False) -> None:
    """Write ``data`` atomically; a private file is readable by its owner only from the start."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    tmp.replace(path)
