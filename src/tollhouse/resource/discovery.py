"""The issuer's metadata (RFC 8414 / OpenID Connect Discovery 1.0) as a resource server needs it.

Every URL taken from the metadata must be https, or http on a loopback host: the same
rule as for the issuer itself, so a development IdP on 127.0.0.1 works and nothing else
travels in the clear.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

import httpx

from tollhouse.errors import ConfigError
from tollhouse.hosts import is_loopback

MAX_DOCUMENT_BYTES: Final = 256 * 1024
DEFAULT_TIMEOUT: Final = 5.0
_WELL_KNOWN: Final = ("openid-configuration", "oauth-authorization-server")


class FetchError(Exception):
    """The issuer could not be reached or answered something unusable."""


def check_url(url: str, what: str) -> str:
    """``url`` if it is https, or http on loopback; else :class:`ConfigError`."""
    parts = urlsplit(url)
    if not parts.hostname or parts.scheme not in ("https", "http"):
        raise ConfigError(f"{what} must be an absolute https URL, got {url!r}")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ConfigError(f"{what} must use https (http is accepted only on loopback): {url}")
    if parts.query or parts.fragment:
        raise ConfigError(f"{what} must not have a query or fragment: {url}")
    return url


def new_http_client(timeout: float = DEFAULT_TIMEOUT) -> httpx.Client:
    """The client used when none is given: short timeouts, no redirects, no env proxies."""
    return httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False)


class LazyHttpClient:
    """The client the caller gave, or one made on first use (:func:`new_http_client`)
    that :meth:`close` closes; a given client is the caller's to close."""

    def __init__(self, given: httpx.Client | None = None) -> None:
        self._client = given
        self._own = given is None

    def get(self) -> httpx.Client:
        if self._client is None:
            self._client = new_http_client()
        return self._client

    def close(self) -> None:
        if self._own and self._client is not None:
            self._client.close()
            self._client = None


def get_json(http: httpx.Client, url: str, **kwargs: Any) -> Any:
    """GET ``url`` and parse its JSON body (at most :data:`MAX_DOCUMENT_BYTES`)."""
    try:
        with http.stream("GET", url, headers={"Accept": "application/json"}, **kwargs) as resp:
            body = read_limited(resp)
    except httpx.HTTPError as exc:
        raise FetchError(f"GET {url} failed: {type(exc).__name__}: {exc}") from None
    if resp.status_code != 200:
        raise FetchError(f"GET {url} answered HTTP {resp.status_code}")
    try:
        return json.loads(body)
    except ValueError:
        raise FetchError(f"GET {url} did not return JSON") from None


def read_limited(response: httpx.Response, limit: int = MAX_DOCUMENT_BYTES) -> bytes:
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > limit:
            raise FetchError(f"{response.request.url} sent more than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


@dataclass(frozen=True, slots=True)
class IssuerMetadata:
    issuer: str
    jwks_uri: str
    signing_algs: frozenset[str] | None
    """``access_token_signing_alg_values_supported`` (else the ID token list), if given."""
    document: dict[str, Any]

    def endpoint(self, name: str) -> str | None:
        """A checked endpoint URL from the metadata, or None if it is not advertised."""
        value = self.document.get(name)
        if value is None:
            return None
        if not isinstance(value, str):
            raise FetchError(f"metadata {name} is not a string")
        try:
            return check_url(value, name)
        except ConfigError as exc:
            raise FetchError(str(exc)) from None


def metadata_urls(issuer: str) -> list[str]:
    """OIDC Discovery §4 (appended) first, then RFC 8414 §3.1 (inserted before the path)."""
    parts = urlsplit(issuer)
    origin = f"{parts.scheme}://{parts.netloc}"
    path = parts.path.rstrip("/")
    return [
        f"{issuer.rstrip('/')}/.well-known/{_WELL_KNOWN[0]}",
        f"{origin}/.well-known/{_WELL_KNOWN[1]}{path}",
    ]


def fetch_metadata(http: httpx.Client, issuer: str) -> IssuerMetadata:
    """Discovery for ``issuer``; raises :class:`FetchError` if it is missing or inconsistent."""
    errors: list[str] = []
    document: Any = None
    for url in metadata_urls(issuer):
        try:
            document = get_json(http, url)
            break
        except FetchError as exc:
            errors.append(str(exc))
    else:
        raise FetchError("; ".join(errors))
    if not isinstance(document, dict):
        raise FetchError("the discovery document is not a JSON object")
    # RFC 8414 §3.3: the issuer in the metadata "MUST be identical" to the one used.
    if document.get("issuer") != issuer:
        raise FetchError(f"discovery names issuer {document.get('issuer')!r}, expected {issuer!r}")
    jwks_uri = document.get("jwks_uri")
    if not isinstance(jwks_uri, str):
        raise FetchError("the discovery document has no jwks_uri")
    try:
        check_url(jwks_uri, "jwks_uri")
    except ConfigError as exc:
        raise FetchError(str(exc)) from None
    algs: frozenset[str] | None = None
    for name in (
        "access_token_signing_alg_values_supported",
        "id_token_signing_alg_values_supported",
    ):
        listed = document.get(name)
        if isinstance(listed, list):
            algs = frozenset(a for a in listed if isinstance(a, str))
            break
    return IssuerMetadata(issuer, jwks_uri, algs, document)
