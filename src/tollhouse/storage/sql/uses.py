"""The SQL adapter's single-use records: client assertion ``jti``s (RFC 7523 §3) and
pushed authorization requests (RFC 9126).

The database does the work: of two instances recording one ``jti`` at once, the
primary key lets one insert win; of two taking one pushed request, one
``DELETE … RETURNING`` gets the row. No check-then-set.
"""

from __future__ import annotations

from sqlalchemy import delete

from tollhouse.errors import Conflict
from tollhouse.models import PushedRequest
from tollhouse.storage.sql.rows import dump_object, load_object
from tollhouse.storage.sql.runner import SqlRunner
from tollhouse.storage.sql.schema import pushed_requests, used_once


class SqlOneTimeUses(SqlRunner):
    """Implements :class:`~tollhouse.storage.ports.OneTimeUses` and
    :class:`~tollhouse.storage.ports.PushedRequestStore`."""

    async def use_once(self, key: str, expires_at: int, now: int) -> bool:
        try:
            await self._insert(used_once, {"use_key": key, "expires_at": expires_at}, "used")
        except Conflict:
            return False
        return True

    async def add_pushed_request(self, pushed: PushedRequest) -> None:
        await self._insert(
            pushed_requests,
            {
                "request_hash": pushed.request_hash,
                "client_id": pushed.client_id,
                "params": dump_object(pushed.params),
                "expires_at": pushed.expires_at,
            },
            "pushed request already exists",
        )

    async def take_pushed_request(self, request_hash: str, now: int) -> PushedRequest | None:
        row = await self._write_one(
            delete(pushed_requests)
            .where(pushed_requests.c.request_hash == request_hash)
            .returning(*pushed_requests.c)
        )
        if row is None or row["expires_at"] <= now:
            return None
        return PushedRequest(
            request_hash=row["request_hash"],
            client_id=row["client_id"],
            params=load_object(row["params"]),
            expires_at=row["expires_at"],
        )
