"""Typed request objects and the parameter rules shared by every endpoint."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from tollhouse.errors import InvalidRequest, InvalidTarget

MAX_PARAMETER_LENGTH = 4096


def single_valued(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """RFC 6749 §3.1/§3.2: "Request and response parameters MUST NOT be included more
    than once." Parameters sent without a value are treated as omitted."""
    params: dict[str, str] = {}
    for name, value in pairs:
        if name in params:
            if name == "resource":
                # RFC 8707 §2 allows several; one token has one audience here.
                raise InvalidTarget("Only one resource per request is supported.")
            raise InvalidRequest(f"The parameter {name} is included more than once.")
        if len(value) > MAX_PARAMETER_LENGTH:
            raise InvalidRequest(f"The parameter {name} is too long.")
        if "\x00" in value:
            raise InvalidRequest(f"The parameter {name} contains a NUL character.")
        params[name] = value
    return {name: value for name, value in params.items() if value != ""}


def require(params: Mapping[str, str], name: str) -> str:
    value = params.get(name)
    if value is None:
        raise InvalidRequest(f"The {name} parameter is required.")
    return value


@dataclass(frozen=True, slots=True)
class ClientCredentials:
    """What the client presented at a client-authenticated endpoint (RFC 6749 §2.3)."""

    client_id: str | None
    client_secret: str | None
    method: str
    """``client_secret_basic``, ``client_secret_post``, ``private_key_jwt`` or ``none``."""
    assertion: str | None = None
    """RFC 7523 §2.2 ``client_assertion`` (``private_key_jwt``)."""
    certificate: str | None = None
    """The PEM of the TLS client certificate, if one came with the request (RFC 8705 §2)."""


@dataclass(frozen=True, slots=True)
class AuthorizationRequest:
    """A validated /authorize request (RFC 6749 §4.1.1, RFC 7636 §4.3, RFC 8707 §2)."""

    client_id: str
    redirect_uri: str
    """The redirect target; always one of the client's registered URIs."""
    redirect_uri_sent: bool
    """Whether the request carried redirect_uri (then /token must repeat it, §4.1.3)."""
    scopes: tuple[str, ...]
    audience: str
    state: str | None
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    prompt: tuple[str, ...] = ()
    max_age: int | None = None
    login_hint: str | None = None
    ui_locales: str | None = None
    id_token_hint_sub: str | None = None
    """The subject named by a valid id_token_hint (for that client)."""
    device: str | None = None
    """RFC 8628: the fingerprint of the device code this request approves (from the
    ``/device`` page); None for an ``/authorize`` request."""
    dpop_jkt: str | None = None
    """RFC 9449 §10: the thumbprint of the key the code exchange must prove."""
    acr_values: tuple[str, ...] = ()
    mfa: bool = False
    """A second factor is needed: the server's policy, the client's or acr_values."""
    phr: bool = False
    """A passkey is needed (``acr`` ``phr``): the client's setting or acr_values."""

    def to_dict(self) -> dict[str, object]:
        return {
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "redirect_uri_sent": self.redirect_uri_sent,
            "scopes": list(self.scopes),
            "audience": self.audience,
            "state": self.state,
            "nonce": self.nonce,
            "code_challenge": self.code_challenge,
            "code_challenge_method": self.code_challenge_method,
            "prompt": list(self.prompt),
            "max_age": self.max_age,
            "login_hint": self.login_hint,
            "ui_locales": self.ui_locales,
            "id_token_hint_sub": self.id_token_hint_sub,
            "device": self.device,
            "dpop_jkt": self.dpop_jkt,
            "acr_values": list(self.acr_values),
            "mfa": self.mfa,
            "phr": self.phr,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> AuthorizationRequest:
        def opt_str(key: str) -> str | None:
            value = data.get(key)
            return value if isinstance(value, str) else None

        max_age = data.get("max_age")
        return cls(
            client_id=str(data["client_id"]),
            redirect_uri=str(data["redirect_uri"]),
            redirect_uri_sent=bool(data.get("redirect_uri_sent", True)),
            scopes=tuple(str(s) for s in _as_list(data.get("scopes"))),
            audience=str(data["audience"]),
            state=opt_str("state"),
            nonce=opt_str("nonce"),
            code_challenge=opt_str("code_challenge"),
            code_challenge_method=opt_str("code_challenge_method"),
            prompt=tuple(str(p) for p in _as_list(data.get("prompt"))),
            max_age=max_age if isinstance(max_age, int) else None,
            login_hint=opt_str("login_hint"),
            ui_locales=opt_str("ui_locales"),
            id_token_hint_sub=opt_str("id_token_hint_sub"),
            device=opt_str("device"),
            dpop_jkt=opt_str("dpop_jkt"),
            acr_values=tuple(str(v) for v in _as_list(data.get("acr_values"))),
            mfa=data.get("mfa") is True,
            phr=data.get("phr") is True,
        )


def _as_list(value: object) -> list[object]:
    return list(value) if isinstance(value, list | tuple) else []


@dataclass(frozen=True, slots=True)
class DpopRequest:
    """What a request carried for RFC 9449: every ``DPoP`` header value, the method,
    and the URL the proof must name (built from the issuer's public URL)."""

    headers: tuple[str, ...]
    method: str
    url: str


@dataclass(frozen=True, slots=True)
class TokenRequest:
    """A /token request: the body parameters and the presented client credentials."""

    params: Mapping[str, str]
    credentials: ClientCredentials
    dpop: DpopRequest | None = None
    certificate: str | None = None
    """RFC 8705 §3.1 ``x5t#S256`` of the client's TLS certificate, when one was presented."""

    @property
    def grant_type(self) -> str:
        return require(self.params, "grant_type")
