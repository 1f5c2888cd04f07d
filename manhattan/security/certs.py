"""A development CA and certificates for a local cluster: ``manhattan certs init``.

Not a PKI: one self-signed CA (10 years), node certificates (for serving and for
dialling peers) and one client certificate, all for loopback / the given hosts.
Keys are EC P-256 and written 0600.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_NAME = "manhattan-dev-ca"
VALID_DAYS = 3650


@dataclass(frozen=True)
class CertPair:
    """A certificate file and its key file."""

    cert: Path
    key: Path


def _write(path: Path, data: bytes, secret: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if secret else 0o644)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "manhattan"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _san(hosts: Sequence[str]) -> x509.SubjectAlternativeName:
    names: list[x509.GeneralName] = []
    for host in dict.fromkeys(hosts):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return x509.SubjectAlternativeName(names)


def create_ca(directory: Path) -> CertPair:
    """A self-signed CA in ``directory`` (ca.pem, ca.key)."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder()
            .subject_name(_name(CA_NAME)).issuer_name(_name(CA_NAME))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .sign(key, hashes.SHA256()))
    pair = CertPair(directory / "ca.pem", directory / "ca.key")
    _write(pair.cert, cert.public_bytes(serialization.Encoding.PEM), secret=False)
    _write(pair.key, _key_pem(key), secret=True)
    return pair


def issue(ca: CertPair, directory: Path, name: str, hosts: Sequence[str]) -> CertPair:
    """A certificate signed by ``ca`` for ``name`` (usable to serve and to dial) in
    ``directory`` (<name>.pem, <name>.key); ``hosts`` go into subjectAltName."""
    ca_cert = x509.load_pem_x509_certificate(ca.cert.read_bytes())
    ca_key = serialization.load_pem_private_key(ca.key.read_bytes(), password=None)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder()
               .subject_name(_name(name)).issuer_name(ca_cert.subject)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                                     ExtendedKeyUsageOID.CLIENT_AUTH]),
                              critical=False))
    if hosts:
        builder = builder.add_extension(_san(hosts), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    pair = CertPair(directory / f"{name}.pem", directory / f"{name}.key")
    _write(pair.cert, cert.public_bytes(serialization.Encoding.PEM), secret=False)
    _write(pair.key, _key_pem(key), secret=True)
    return pair


def init_dev_certs(directory: Path, *, nodes: int, hosts: Sequence[str] = ("127.0.0.1",)
                   ) -> dict[str, CertPair]:
    """A CA (kept if present), node1..nodeN and a client certificate in ``directory``.

    Returns {"ca": ..., "node1": ..., ..., "client": ...}."""
    directory = Path(directory)
    ca = CertPair(directory / "ca.pem", directory / "ca.key")
    if not (ca.cert.exists() and ca.key.exists()):
        ca = create_ca(directory)
    all_hosts = [*hosts, "localhost", "127.0.0.1"]
    pairs = {"ca": ca}
    for i in range(1, nodes + 1):
        pair = CertPair(directory / f"node{i}.pem", directory / f"node{i}.key")
        pairs[f"node{i}"] = pair if pair.cert.exists() and pair.key.exists() else issue(
            ca, directory, f"node{i}", all_hosts)
    client = CertPair(directory / "client.pem", directory / "client.key")
    pairs["client"] = client if client.cert.exists() and client.key.exists() else issue(
        ca, directory, "client", [])
    return pairs
