"""TLS: a self-signed localhost pair, and a server context that speaks TLS 1.3 only."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import ssl
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from tollhouse.clock import FrozenClock
from tollhouse.errors import ConfigError
from tollhouse.security.tls import ensure_self_signed, server_context


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    cert, key, created = ensure_self_signed(tmp_path_factory.mktemp("data"))
    assert created
    return cert, key


def test_creates_cert_and_key_under_data_dir_tls(tmp_path: Path) -> None:
    cert, key, created = ensure_self_signed(tmp_path)
    assert created is True
    assert cert == tmp_path / "tls" / "localhost.crt"
    assert key == tmp_path / "tls" / "localhost.key"
    assert sorted(p.name for p in (tmp_path / "tls").iterdir()) == [
        "localhost.crt",
        "localhost.key",
    ]


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_key_file_is_private(pair: tuple[Path, Path]) -> None:
    assert stat.S_IMODE(pair[1].stat().st_mode) == 0o600


def test_existing_pair_is_kept(tmp_path: Path) -> None:
    cert, key, _ = ensure_self_signed(tmp_path)
    before = cert.read_bytes(), key.read_bytes()
    again = ensure_self_signed(tmp_path)
    assert again == (cert, key, False)
    assert (cert.read_bytes(), key.read_bytes()) == before


def test_missing_half_of_the_pair_is_regenerated(tmp_path: Path) -> None:
    cert, key, _ = ensure_self_signed(tmp_path)
    old_key = key.read_bytes()
    cert.unlink()
    assert ensure_self_signed(tmp_path)[2] is True
    assert key.read_bytes() != old_key


def test_certificate_is_p256_for_localhost_for_365_days(tmp_path: Path) -> None:
    clock = FrozenClock(1_800_000_000)
    cert_path, _, _ = ensure_self_signed(tmp_path, clock=clock)
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    public = cert.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    assert public.curve.name == "secp256r1"
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert san.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
    ]
    assert cert.not_valid_before_utc.timestamp() <= clock.now()
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert lifetime.days == 365
    basic = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert basic.ca is False


def test_server_context_requires_tls_1_3(pair: tuple[Path, Path]) -> None:
    assert server_context(*pair).minimum_version == ssl.TLSVersion.TLSv1_3


def test_server_context_reports_missing_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        server_context(tmp_path / "none.crt", tmp_path / "none.key")


def test_server_context_reports_mismatched_key(pair: tuple[Path, Path], tmp_path: Path) -> None:
    _, other_key, _ = ensure_self_signed(tmp_path)
    with pytest.raises(ConfigError, match="cannot load TLS certificate"):
        server_context(pair[0], other_key)


@contextlib.asynccontextmanager
async def _serve(context: ssl.SSLContext) -> AsyncIterator[int]:
    """A real asyncio TLS echo server on 127.0.0.1; yields its port."""

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            writer.write(await reader.readline())
            await writer.drain()
        finally:
            writer.close()

    srv = await asyncio.start_server(echo, "127.0.0.1", 0, ssl=context)
    async with srv:
        yield srv.sockets[0].getsockname()[1]


@pytest.fixture
async def server(pair: tuple[Path, Path]) -> AsyncIterator[int]:
    async with _serve(server_context(*pair)) as port:
        yield port


def _client(cert: Path, maximum: ssl.TLSVersion | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(cert))
    if maximum is not None:
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.maximum_version = maximum
    return context


async def _ping(port: int, client: ssl.SSLContext, server_hostname: str = "localhost") -> str:
    """Connect, echo one line, return the negotiated TLS version."""
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", port, ssl=client, server_hostname=server_hostname
    )
    try:
        version = str(writer.get_extra_info("ssl_object").version())
        writer.write(b"ping\n")
        assert await reader.readline() == b"ping\n"
        return version
    finally:
        writer.close()
        await writer.wait_closed()


@pytest.mark.parametrize("server_hostname", ["localhost", "127.0.0.1"])
async def test_tls_1_3_client_connects_and_verifies(
    server: int, pair: tuple[Path, Path], server_hostname: str
) -> None:
    assert await _ping(server, _client(pair[0]), server_hostname) == "TLSv1.3"


async def test_tls_1_2_client_is_refused(server: int, pair: tuple[Path, Path]) -> None:
    # asyncio's server aborts the connection when the handshake fails (no version
    # overlap), so the client sees a reset or, depending on timing, the alert.
    with pytest.raises((ssl.SSLError, ConnectionResetError)):
        await _ping(server, _client(pair[0], maximum=ssl.TLSVersion.TLSv1_2))


async def test_same_tls_1_2_client_connects_if_the_server_allowed_1_2(
    pair: tuple[Path, Path],
) -> None:
    """Control: the refusal above is due to the TLS 1.3 minimum, not the client setup."""
    context = server_context(*pair)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    async with _serve(context) as port:
        assert await _ping(port, _client(pair[0], maximum=ssl.TLSVersion.TLSv1_2)) == "TLSv1.2"
