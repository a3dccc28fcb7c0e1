"""Group commit of access-token records: many concurrent grants, one transaction.

Every issued access token is recorded (so it can be found and revoked until it
expires). One ``INSERT`` + ``COMMIT`` per grant is the largest cost of a
``client_credentials`` grant. :class:`GroupCommitRecords` keeps the guarantee — a grant
answers only after its record is committed — while writing the records of all grants
that arrive during one commit together in the next one:

* the first record is written at once (no added latency at low load);
* records arriving while a write is in flight wait for it, then go together (at most
  ``max_batch`` per transaction);
* if a batch fails, every grant in it fails (none of them answers with a token whose
  record was not stored).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from tollhouse.models import AccessTokenRecord
from tollhouse.storage.ports import AccessTokenStore

DEFAULT_MAX_BATCH = 256


class GroupCommitRecords:
    """An :class:`AccessTokenStore` that batches ``record_access_token`` calls."""

    def __init__(self, inner: AccessTokenStore, *, max_batch: int = DEFAULT_MAX_BATCH) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._inner = inner
        self._max = max_batch
        self._pending: list[tuple[AccessTokenRecord, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def record_access_token(self, record: AccessTokenRecord) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((record, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_all(), name="tollhouse-group-commit")
        # Each grant waits on its own future: a cancelled request cancels only that one,
        # and the writer skips futures already done.
        await future

    async def record_access_tokens(self, records: Sequence[AccessTokenRecord]) -> None:
        await self._inner.record_access_tokens(records)

    async def _write_all(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[: self._max], self._pending[self._max :]
            try:
                await self._inner.record_access_tokens([record for record, _ in batch])
            except BaseException as exc:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                if not isinstance(exc, Exception):  # cancelled: fail the waiting ones too
                    for _, future in self._pending:
                        if not future.done():
                            future.set_exception(exc)
                    self._pending = []
                    raise
            else:
                for _, future in batch:
                    if not future.done():
                        future.set_result(None)

    async def get_access_token(self, jti: str) -> AccessTokenRecord | None:
        return await self._inner.get_access_token(jti)

    async def access_tokens_of(
        self,
        now: int,
        *,
        family_id: str | None = None,
        client_id: str | None = None,
        subject: str | None = None,
    ) -> list[AccessTokenRecord]:
        return await self._inner.access_tokens_of(
            now, family_id=family_id, client_id=client_id, subject=subject
        )
