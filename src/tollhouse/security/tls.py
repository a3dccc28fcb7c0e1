"""RFC 8446 TLS 1.3-only server context, and a self-signed certificate for localhost.

The certificate (RFC 5280 profile: ECDSA P-256, SAN ``DNS:localhost``, ``IP:127.0.0.1``,
``IP:::1``, 365 days) is for development: clients must trust it explicitly
(``curl --cacert <data-dir>/tls/localhost.crt``). Production deployments pass their own
certificate and key.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import os
import secrets
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tollhouse.clock import Clock, SystemClock
from tollhouse.errors import ConfigError

VALIDITY_DAYS = 365
_BACKDATE = datetime.timedelta(minutes=5)
"""Tolerate clients whose clock runs a little behind ours."""


def ensure_self_signed(data_dir: Path, *, clock: Clock | None = None) -> tuple[Path, Path, bool]:
    """``(cert, key, created)`` for ``<data_dir>/tls/localhost.{crt,key}``, made if missing.

    When either file is missing both are made anew; the key file has mode 0600.
    """
    tls_dir = data_dir / "tls"
    cert_path, key_path = tls_dir / "localhost.crt", tls_dir / "localhost.key"
    if cert_path.is_file() and key_path.is_file():
        return cert_path, key_path, False
    try:
        tls_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        now = (clock or SystemClock()).now()
        key = ec.generate_private_key(ec.SECP256R1())
        key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        cert_pem = _certificate(key, now).public_bytes(serialization.Encoding.PEM)
        _write_atomic(key_path, key_pem, 0o600)
        _write_atomic(cert_path, cert_pem, 0o644)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigError(
            f"cannot create a self-signed certificate in {tls_dir}: {reason}"
        ) from None
    return cert_path, key_path, True


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    """A server-side context that speaks TLS 1.3 only (RFC 9325 §3.1.1 prefers 1.3)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    try:
        context.load_cert_chain(certfile=cert, keyfile=key)
    except FileNotFoundError as exc:
        raise ConfigError(f"TLS file not found: {exc.filename}") from None
    except (ssl.SSLError, OSError) as exc:
        reason = getattr(exc, "reason", None) or exc.strerror or type(exc).__name__
        raise ConfigError(f"cannot load TLS certificate {cert} with key {key}: {reason}") from None
    return context


def ask_client_certificates(context: ssl.SSLContext, ca_bundle: Path) -> None:
    """RFC 8705: ask each client for a certificate, optionally (a browser without one
    is not prompted and proceeds), and refuse the handshake if one is presented that
    ``ca_bundle`` does not vouch for."""
    try:
        context.load_verify_locations(cafile=ca_bundle)
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError(f"cannot load the client CA bundle {ca_bundle}: {exc}") from None
    context.verify_mode = ssl.CERT_OPTIONAL


def _certificate(key: ec.EllipticCurvePrivateKey, now: int) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    issued = datetime.datetime.fromtimestamp(now, tz=datetime.UTC) - _BACKDATE
    public = key.public_key()
    san = x509.SubjectAlternativeName(
        [
            x509.DNSName("localhost"),
            x509.IPAddress(ipaddress.IPv4Address("127.0.0.1")),
            x509.IPAddress(ipaddress.IPv6Address("::1")),
        ]
    )
    usage = x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(int.from_bytes(secrets.token_bytes(16), "big") >> 1)
        .not_valid_before(issued)
        .not_valid_after(issued + datetime.timedelta(days=VALIDITY_DAYS))
        .add_extension(san, critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )


def _write_atomic(path: Path, data: bytes, mode: int) -> None:
    """Write ``data`` to a fresh private temporary file, then rename it over ``path``."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
