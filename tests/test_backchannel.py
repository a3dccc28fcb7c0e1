"""The back-channel logout queue: sending never waits for a client, failures are retried
a bounded number of times, each token's outcome is one event (issue 21, item 2)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from tests.security.dns import ScriptedDns
from tollhouse.backchannel import Attempt, HttpLogoutSender, LogoutQueue
from tollhouse.protocol.events import BackchannelLogout, RecordedEvents
from tollhouse.protocol.logout import LogoutNotification
from tollhouse.security.outbound import OutboundGuard
from tollhouse.security.safe_fetch import SafeFetcher

NOTE = LogoutNotification("web", "https://rp.partner.test/bc", "logout-token")


class Scripted:
    """Answers each attempt with the next of ``answers`` (the last repeats); an attempt
    may be held until ``gate`` is set."""

    def __init__(self, *answers: Attempt, gate: asyncio.Event | None = None) -> None:
        self.answers = list(answers)
        self.attempts: list[LogoutNotification] = []
        self.gate = gate

    async def attempt(self, notification: LogoutNotification) -> Attempt:
        self.attempts.append(notification)
        if self.gate is not None:
            await self.gate.wait()
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


def outcomes(events: RecordedEvents) -> list[tuple[str, int, str | None]]:
    return [
        (e.result, e.attempts, e.detail) for e in events.events if isinstance(e, BackchannelLogout)
    ]


def run_queue(
    sender: Scripted, notes: Sequence[LogoutNotification] = (NOTE,), **options: object
) -> tuple[RecordedEvents, list[float]]:
    events, slept = RecordedEvents(), []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    async def main() -> None:
        queue = LogoutQueue(sender, events, sleep=sleep, **options)  # type: ignore[arg-type]
        await queue.send(notes)
        await queue.close()

    asyncio.run(main())
    return events, slept


def test_failures_are_retried_with_backoff_until_delivered() -> None:
    sender = Scripted(
        Attempt("failed", "503", retry=True),
        Attempt("failed", "ConnectError", retry=True),
        Attempt("delivered", "200"),
    )
    events, slept = run_queue(sender)
    assert outcomes(events) == [("delivered", 3, "200")]
    assert slept == [1.0, 3.0] and len(sender.attempts) == 3


def test_attempts_are_bounded() -> None:
    sender = Scripted(Attempt("failed", "500", retry=True))
    events, slept = run_queue(sender)
    assert outcomes(events) == [("failed", 3, "500")]
    assert len(sender.attempts) == 3 and len(slept) == 2


@pytest.mark.parametrize(
    "answer", [Attempt("failed", "400"), Attempt("refused", "rp resolves to 127.0.0.1")]
)
def test_a_refusal_or_a_client_error_is_not_retried(answer: Attempt) -> None:
    sender = Scripted(answer)
    events, slept = run_queue(sender)
    assert outcomes(events) == [(answer.result, 1, answer.detail)]
    assert slept == []


def test_send_returns_before_any_delivery_and_a_full_queue_drops() -> None:
    async def main() -> tuple[RecordedEvents, Scripted]:
        gate = asyncio.Event()
        sender = Scripted(Attempt("delivered", "204"), gate=gate)
        events = RecordedEvents()
        queue = LogoutQueue(sender, events, capacity=2, workers=1)
        await asyncio.wait_for(queue.send([NOTE] * 4), 0.5)  # no delivery has started
        assert outcomes(events) == [("dropped", 0, "queue full")] * 2
        gate.set()
        await queue.close()
        return events, sender

    events, sender = asyncio.run(main())
    assert outcomes(events)[2:] == [("delivered", 1, "204")] * 2
    assert len(sender.attempts) == 2


def test_closing_reports_what_could_not_be_sent() -> None:
    async def main() -> RecordedEvents:
        sender = Scripted(Attempt("delivered", "200"), gate=asyncio.Event())  # never opens
        events = RecordedEvents()
        queue = LogoutQueue(sender, events, workers=1)
        await queue.send([NOTE, NOTE])
        await asyncio.sleep(0)
        await queue.close(drain_seconds=0.05)
        return events

    assert [r for r, _, _ in outcomes(asyncio.run(main()))] == ["dropped", "dropped"]


def test_the_http_sender_refuses_internal_targets_of_self_registered_clients() -> None:
    dns = ScriptedDns({"rp.partner.test": [["10.0.0.8"]]})
    sender = HttpLogoutSender(SafeFetcher(OutboundGuard(resolver=dns)))
    attempt = asyncio.run(sender.attempt(NOTE))
    assert attempt == Attempt("refused", "rp.partner.test resolves to 10.0.0.8, a private address")
