"""OIDC RP-Initiated Logout 1.0 §2-§3: validating a logout request."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from tollhouse.errors import InvalidRequest
from tollhouse.models import Client, Session
from tollhouse.protocol.id_token import IdTokenHintVerifier
from tollhouse.protocol.results import Redirect, add_query
from tollhouse.storage.ports import ClientStore


@dataclass(frozen=True, slots=True)
class LogoutRequest:
    client: Client | None
    post_logout_redirect_uri: str | None
    state: str | None
    hint_subject: str | None
    """``sub`` of a valid id_token_hint (for ``client``)."""
    ui_locales: str | None = None
    hint_sid: str | None = None
    """``sid`` of a valid id_token_hint: the session the RP was told about."""


class LogoutEndpoint:
    def __init__(self, clients: ClientStore, hints: IdTokenHintVerifier) -> None:
        self._clients = clients
        self._hints = hints

    async def validate(self, params: Mapping[str, str]) -> LogoutRequest:
        """Raises ``InvalidRequest`` (shown as a page, never redirected)."""
        hint = params.get("id_token_hint")
        client_id = params.get("client_id")
        claims = self._hints.claims_of(hint) if hint else None
        if hint and claims is None:
            raise InvalidRequest("id_token_hint is not an ID Token issued by this server.")
        if claims is not None:
            aud = claims.get("aud")
            audiences = [str(a) for a in (aud if isinstance(aud, list) else [aud])]
            if client_id is None:
                client_id = audiences[0]
            elif client_id not in audiences:
                # §2: "the OP ... MUST verify that it matches the aud".
                raise InvalidRequest("client_id does not match the id_token_hint audience.")
        client = await self._clients.get_client(client_id) if client_id else None
        if client_id and client is None:
            raise InvalidRequest(f"The client {client_id} is not registered.")
        uri = params.get("post_logout_redirect_uri")
        if uri is not None:
            if client is None:
                raise InvalidRequest(
                    "post_logout_redirect_uri needs client_id or id_token_hint to be checked."
                )
            # §3: "The OP MUST ... verify that it exactly matches one of the ... values".
            if uri not in client.post_logout_redirect_uris:
                raise InvalidRequest("post_logout_redirect_uri is not registered for this client.")
        subject = str(claims["sub"]) if claims is not None else None
        sid = claims.get("sid") if claims is not None else None
        return LogoutRequest(
            client,
            uri,
            params.get("state"),
            subject,
            params.get("ui_locales"),
            sid if isinstance(sid, str) else None,
        )

    @staticmethod
    def destination(request: LogoutRequest) -> Redirect | None:
        """§3: after logout, the registered ``post_logout_redirect_uri`` with ``state``;
        None shows the signed-out page. A self-registered client's URI is anyone's, so
        ``/logout?client_id=…&post_logout_redirect_uri=…`` would be an open redirector:
        the browser sees a notice naming the host first (RFC 9700 §4.11.2)."""
        uri, client = request.post_logout_redirect_uri, request.client
        if uri is None or client is None:
            return None
        location = add_query(uri, {"state": request.state})
        return Redirect(location, third_party=client.self_registered)

    def ends_without_asking(self, request: LogoutRequest, session: Session) -> bool:
        """§2: the OP should confirm the logout with the user unless the request carries
        an ``id_token_hint`` of this very session; §4 lets the OP use the hint's ``sid``
        to tell. Only our own, verified ID Token for this user *and* this session's
        ``sid`` counts: an ID Token of another session of the same user (an old one,
        another browser's) proves nothing about this browser, so the user is asked."""
        client = request.client
        if request.hint_subject is None or client is None:
            return False
        if not session.sid or request.hint_sid != session.sid:
            return False
        return request.hint_subject == self._hints.subject_for(client, session.user_id)
