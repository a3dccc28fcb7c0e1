"""bench/RESULTS.md and README.md sections: each script owns the text between its own
begin/end markers and rewrites only that."""

from __future__ import annotations

from pathlib import Path

RESULTS = Path(__file__).resolve().parents[1] / "RESULTS.md"


def replace_between(text: str, begin: str, end: str, section: str) -> str:
    """``text`` with ``section`` (markers included) where the markers are, else appended."""
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        _, tail = rest.split(end, 1)
        return head + section + tail
    return text.rstrip("\n") + "\n\n" + section + "\n"


def write_section(begin: str, end: str, section: str, path: Path = RESULTS) -> None:
    """Put ``section`` between ``begin`` and ``end`` in ``path`` (RESULTS.md)."""
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    path.write_text(replace_between(text, begin, end, section))
