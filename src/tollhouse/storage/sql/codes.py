"""The SQL adapter's code and consent stores (RFC 6749 §4.1).

A code is consumed in one ``UPDATE … WHERE used_at IS NULL RETURNING``, which also
records what this redemption issues; the access token's record and, when it issues
refresh tokens, the new family and its first token are written atomically with it
(``WinnerWrites``): a reuse that finds the code used finds everything to revoke, with
nothing left to wait for, and the exchange writes once (on PostgreSQL one statement).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, exists, select
from sqlalchemy.exc import IntegrityError

from tollhouse.errors import Conflict
from tollhouse.models import AuthorizationCode, Consent
from tollhouse.storage.ports import IssuedByCode
from tollhouse.storage.sql import rows
from tollhouse.storage.sql.prepared import Prepared
from tollhouse.storage.sql.runner import SqlRunner
from tollhouse.storage.sql.schema import (
    access_tokens,
    authorization_codes,
    consents,
    refresh_tokens,
    token_families,
)
from tollhouse.storage.sql.statements import WinnerWrites, consume_once, inserting
from tollhouse.storage.sql.tokens import (
    INSERT_ACCESS_TOKENS,
    INSERT_FAMILY,
    INSERT_REFRESH_TOKEN,
    REFRESH_TOKEN_CONFLICT,
)

codes = authorization_codes

# The statements of every code exchange, built once (values come as bind parameters).
GET_CODE = Prepared(select(codes).where(codes.c.code_hash == bindparam("code_hash")))
_CONSUME = consume_once(codes, codes.c.code_hash).values(
    issued_jti=bindparam("jti"),
    issued_exp=bindparam("exp"),
    family_id=bindparam("family"),
)
CONSUME_CODE = Prepared(_CONSUME)
"""Spend the code and record the access token it issues (``jti``, ``exp``) and the id
of its refresh token ``family`` (None: none)."""


def _consume_with(*, family: bool, access: bool) -> WinnerWrites:
    """:data:`CONSUME_CODE` and, only if it won, (with ``family``) the new family and
    its first token and (with ``access``) the access token's record."""
    consumed = _CONSUME.cte("consumed")
    won = exists(select(consumed.c.code_hash))
    steps: list[tuple[Prepared, str]] = []
    writes = []
    if family:
        steps += [(INSERT_FAMILY, "family_"), (INSERT_REFRESH_TOKEN, "token_")]
        writes += [
            inserting(token_families, "family_", when=won),
            inserting(refresh_tokens, "token_", when=won),
        ]
    if access:
        steps.append((INSERT_ACCESS_TOKENS, "access_"))
        writes.append(inserting(access_tokens, "access_", when=won))
    return WinnerWrites(
        consume=CONSUME_CODE,
        then=tuple(steps),
        combined=Prepared(select(consumed).add_cte(*writes)),
    )


CONSUME_CODE_WITH = {
    (family, access): _consume_with(family=family, access=access)
    for family, access in ((True, False), (False, True), (True, True))
}
""":data:`CONSUME_CODE` and the writes only its winner makes, by (whether a family and
its first token are stored, whether the access token's record is)."""


class SqlCodes(SqlRunner):
    """Implements ``CodeStore`` and ``ConsentStore`` of :mod:`tollhouse.storage.ports`."""

    async def add_code(self, code: AuthorizationCode) -> None:
        await self._insert(
            codes,
            rows.code_row(code),
            "authorization code exists, or its client or user does not",
        )

    async def consume_code(
        self, code_hash: str, now: int, issued: IssuedByCode | None = None
    ) -> AuthorizationCode | None:
        # One consuming statement, so two processes redeeming the same code cannot
        # both win; the winner's record is written with it.
        consume: dict[str, Any] = {"hash": code_hash, "now": now}
        consume |= {"jti": None, "exp": None, "family": None}
        if issued is not None:
            consume |= {"jti": issued.jti, "exp": issued.exp}
        if issued is None or (issued.family is None and issued.access_token is None):
            row = await self._alone(CONSUME_CODE, consume, write=True)
            return None if row is None else rows.to_code(row)
        steps: tuple[dict[str, Any], ...] = ()
        if issued.family is not None and issued.first_token is not None:
            consume["family"] = issued.family.family_id
            steps += (rows.family_row(issued.family), rows.refresh_token_row(issued.first_token))
        if issued.access_token is not None:
            steps += (rows.access_token_row(issued.access_token),)
        writes = CONSUME_CODE_WITH[(issued.family is not None, issued.access_token is not None)]
        try:
            row = await self._backend.winner_writes(writes, consume, steps)
        except IntegrityError as exc:
            raise Conflict(REFRESH_TOKEN_CONFLICT) from exc
        return None if row is None else rows.to_code(row)

    async def get_code(self, code_hash: str) -> AuthorizationCode | None:
        row = await self._alone(GET_CODE, {"code_hash": code_hash}, write=False)
        return None if row is None else rows.to_code(row)

    async def get_consent(self, user_id: str, client_id: str) -> Consent | None:
        row = await self._one(
            select(consents).where(consents.c.user_id == user_id, consents.c.client_id == client_id)
        )
        return None if row is None else rows.to_consent(row)

    async def save_consent(self, consent: Consent) -> None:
        values = rows.consent_row(consent)
        statement = self._upsert(consents, values).on_conflict_do_update(
            index_elements=[consents.c.user_id, consents.c.client_id],
            set_={"scopes": values["scopes"], "granted_at": values["granted_at"]},
        )
        try:
            await self._count(statement)
        except IntegrityError as exc:
            raise Conflict("consent names a user or client that does not exist") from exc
