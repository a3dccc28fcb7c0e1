"""Request ids: unique within a process, and a fresh prefix after a fork."""

from __future__ import annotations

import os

from tollhouse.web.request_context import REQUEST_IDS, RequestIds


def test_ids_are_unique_and_share_the_process_prefix() -> None:
    ids = RequestIds()
    seen = [ids.next() for _ in range(1000)]
    assert len(set(seen)) == 1000
    assert len({one.split(".")[0] for one in seen}) == 1


def test_a_reset_draws_a_new_prefix_and_restarts_the_counter() -> None:
    ids = RequestIds()
    first = ids.next()
    ids.reset()
    again = ids.next()
    assert first.split(".")[0] != again.split(".")[0]
    assert first.split(".")[1] == again.split(".")[1] == "1"


def test_a_forked_child_does_not_repeat_the_parents_ids() -> None:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its next id and leave at once
        os.write(write, REQUEST_IDS.next().encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child = os.read(read, 100).decode()
    os.close(read)
    assert child.split(".")[0] != REQUEST_IDS.next().split(".")[0]
