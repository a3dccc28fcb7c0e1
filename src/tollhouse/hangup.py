"""SIGHUP: what a running server reads again without a restart — its TLS certificate
(security/tls_reload.py) and its access log file (logs.py, for logrotate).

One process-wide handler calls every registered action, so each of them happens
whichever was set up first. With ``--workers N`` the supervisor replaces the workers
on SIGHUP (web/workers.py), and each new worker opens the files afresh.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType

log = logging.getLogger("tollhouse.hangup")

_actions: dict[str, Callable[[], object]] = {}


def _on_sighup(signum: int, frame: FrameType | None) -> None:
    # Python runs this in the main thread between bytecodes, as the event loop runs
    # there: no request is half-way through what an action replaces.
    for name, action in list(_actions.items()):
        try:
            action()
        except Exception:
            log.exception("SIGHUP action failed", extra={"action": name})


def on_sighup(name: str, action: Callable[[], object]) -> bool:
    """Run ``action`` on every SIGHUP; a second registration under ``name`` replaces the
    first. Only the main thread may set signal handlers: elsewhere (an embedding
    application) nothing is installed and False is returned."""
    if threading.current_thread() is not threading.main_thread():
        return False
    _actions[name] = action
    if signal.getsignal(signal.SIGHUP) is not _on_sighup:
        signal.signal(signal.SIGHUP, _on_sighup)
    return True
