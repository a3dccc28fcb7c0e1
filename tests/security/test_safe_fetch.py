"""The safe fetch client against real sockets on 127.0.0.1: the connection goes to the
address the guard checked (one lookup per request), TLS is verified against the name
in the URL, redirects are not followed, time and size are bounded."""

from __future__ import annotations

import asyncio
import datetime
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.security.dns import ScriptedDns
from tollhouse.security.outbound import AllowList, OutboundGuard, OutboundRefused
from tollhouse.security.safe_fetch import FetchFailed, FetchLimits, SafeFetcher

NAME = "rp.partner.test"


class Party:
    """An HTTP server on 127.0.0.1 that records each request and answers as told."""

    def __init__(self, status: int = 200, body: bytes = b"", delay: float = 0.0) -> None:
        self.requests: list[tuple[str, str, bytes]] = []
        self.sni: list[str | None] = []
        party = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                party.requests.append((self.command, self.headers["host"], self.rfile.read(length)))
                time.sleep(delay)
                self.send_response(status)
                if status in (301, 302, 307):
                    self.send_header("Location", "http://127.0.0.1:9/elsewhere")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]

    def serve_tls(self, cert: Path, key: Path) -> None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        context.sni_callback = lambda sock, name, ctx: self.sni.append(name)  # type: ignore[assignment,func-returns-value]
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)

    def start(self) -> Party:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def parties() -> Iterator[list[Party]]:
    started: list[Party] = []
    yield started
    for party in started:
        party.close()


def party(parties: list[Party], **kwargs: object) -> Party:
    parties.append(Party(**kwargs).start())  # type: ignore[arg-type]
    return parties[-1]


def fetcher(dns: ScriptedDns, allow: str = "127.0.0.1", **limits: float) -> SafeFetcher:
    guard = OutboundGuard(AllowList.parse(allow), resolver=dns)
    return SafeFetcher(guard, FetchLimits(**limits))  # type: ignore[arg-type]


def test_the_connection_goes_to_the_checked_address_with_the_name_as_host(
    parties: list[Party],
) -> None:
    rp = party(parties)
    # A second lookup would answer 127.0.0.2, which the allow list does not admit.
    dns = ScriptedDns({NAME: [["127.0.0.1"], ["127.0.0.2"]]})
    answer = asyncio.run(
        fetcher(dns).post_form(f"http://{NAME}:{rp.port}/bc", {"logout_token": "t"})
    )
    assert answer.status == 200
    assert rp.requests == [("POST", f"{NAME}:{rp.port}", b"logout_token=t")]
    assert dns.lookups == [NAME]


def test_a_name_resolving_to_an_internal_address_is_not_contacted() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    listener.settimeout(0.3)
    try:
        dns = ScriptedDns({NAME: [["127.0.0.1"]]})
        port = listener.getsockname()[1]
        with pytest.raises(OutboundRefused, match="loopback"):
            asyncio.run(fetcher(dns, allow="").post_form(f"http://{NAME}:{port}/", {"a": "b"}))
        with pytest.raises(OutboundRefused, match="loopback"):
            asyncio.run(fetcher(dns, allow="").get(f"http://[::ffff:127.0.0.1]:{port}/"))
        with pytest.raises(TimeoutError):
            listener.accept()
    finally:
        listener.close()


def test_an_operator_chosen_target_is_fetched(parties: list[Party]) -> None:
    rp = party(parties)
    guard = OutboundGuard(resolver=ScriptedDns())
    answer = asyncio.run(SafeFetcher(guard).get(f"http://127.0.0.1:{rp.port}/", trusted=True))
    assert answer.status == 200 and len(rp.requests) == 1


def test_redirects_are_returned_not_followed(parties: list[Party]) -> None:
    rp = party(parties, status=302)
    answer = asyncio.run(fetcher(ScriptedDns()).get(f"http://127.0.0.1:{rp.port}/"))
    assert answer.status == 302
    assert answer.headers["location"] == "http://127.0.0.1:9/elsewhere"


def test_time_and_size_are_bounded(parties: list[Party]) -> None:
    big = party(parties, body=b"x" * 2048)
    slow = party(parties, delay=3.0)
    small = fetcher(ScriptedDns(), max_response_bytes=1024)
    with pytest.raises(FetchFailed, match="larger than 1024 bytes"):
        asyncio.run(small.get(f"http://127.0.0.1:{big.port}/"))
    started = time.monotonic()
    with pytest.raises(FetchFailed):
        asyncio.run(fetcher(ScriptedDns(), total_timeout=0.5).get(f"http://127.0.0.1:{slow.port}/"))
    assert time.monotonic() - started < 2.0


def test_failures_are_fetch_failures(parties: list[Party]) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    with pytest.raises(FetchFailed):
        asyncio.run(fetcher(ScriptedDns()).get(f"http://127.0.0.1:{port}/"))
    with pytest.raises(FetchFailed):
        asyncio.run(fetcher(ScriptedDns()).get(f"http://{NAME}/"))  # does not resolve


def write_certificate(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, NAME)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(NAME)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "rp.pem", directory / "rp.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_tls_is_verified_against_the_name_not_the_address(
    parties: list[Party], tmp_path: Path
) -> None:
    cert, key = write_certificate(tmp_path)
    rp = Party()
    rp.serve_tls(cert, key)
    parties.append(rp.start())
    guard = OutboundGuard(
        AllowList.parse("127.0.0.1"), resolver=ScriptedDns({NAME: [["127.0.0.1"]]})
    )
    trusted = ssl.create_default_context(cafile=str(cert))
    client = SafeFetcher(guard, ssl_context=trusted)
    answer = asyncio.run(client.get(f"https://{NAME}:{rp.port}/"))
    assert answer.status == 200 and rp.sni == [NAME]
    with pytest.raises(FetchFailed):  # the certificate does not name 127.0.0.1
        asyncio.run(client.get(f"https://127.0.0.1:{rp.port}/"))
