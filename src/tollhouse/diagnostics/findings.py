"""One diagnostic finding: its level, what was found, and how to fix it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import TypedDict


class Level(StrEnum):
    OK = "ok"
    WARNING = "warning"
    ERROR = "error"


class FindingDict(TypedDict):
    check: str
    level: str
    what: str
    fix: str | None


@dataclass(frozen=True, slots=True)
class Finding:
    check: str
    """The area: ``config``, ``database``, ``keys``, ``master_key``, ``tls``,
    ``redirect_uris``, ``scopes``, ``fapi2_profile``, ``clock`` or ``server``."""
    level: Level
    what: str
    """One line saying what was found. Never a secret."""
    fix: str | None = None
    """One line saying what to do; None for ``ok`` findings."""

    def to_dict(self) -> FindingDict:
        return {"check": self.check, "level": str(self.level), "what": self.what, "fix": self.fix}

    def line(self) -> str:
        """``warning [config] what — fix``: the one-line form (start-up warnings)."""
        text = f"{self.level} [{self.check}] {self.what}"
        return f"{text} — {self.fix}" if self.fix else text


def ok(check: str, what: str) -> Finding:
    return Finding(check, Level.OK, what)


def warning(check: str, what: str, fix: str) -> Finding:
    return Finding(check, Level.WARNING, what, fix)


def error(check: str, what: str, fix: str) -> Finding:
    return Finding(check, Level.ERROR, what, fix)


def exit_code(findings: Iterable[Finding]) -> int:
    """1 if any finding is an error, else 0 (warnings do not fail)."""
    return 1 if any(f.level is Level.ERROR for f in findings) else 0


def counts(findings: Iterable[Finding]) -> dict[str, int]:
    found = {level.value: 0 for level in Level}
    for finding in findings:
        found[finding.level.value] += 1
    return found
