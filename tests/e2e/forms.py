"""Parse HTML forms the way a browser submits them (stdlib only)."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser


@dataclass
class Form:
    method: str
    action: str | None
    inputs: dict[str, str] = field(default_factory=dict)
    input_types: dict[str, str] = field(default_factory=dict)
    buttons: list[tuple[str | None, str | None, str | None]] = field(default_factory=list)
    """(type, name, value) of every button."""
    labels_for: set[str] = field(default_factory=set)
    input_ids: dict[str, str] = field(default_factory=dict)


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []
        self.labels: set[str] = set()
        self.meta: dict[str, str] = {}
        self._current: Form | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "form":
            self._current = Form((a.get("method") or "get").lower(), a.get("action"))
            self.forms.append(self._current)
        elif tag == "label" and a.get("for"):
            self.labels.add(a["for"] or "")
        elif tag == "meta" and a.get("name"):
            self.meta[a["name"] or ""] = a.get("content") or ""
        elif self._current is not None and tag == "input" and a.get("name"):
            name = a["name"] or ""
            self._current.inputs[name] = a.get("value") or ""
            self._current.input_types[name] = a.get("type") or "text"
            if a.get("id"):
                self._current.input_ids[name] = a["id"] or ""
        elif self._current is not None and tag == "button":
            self._current.buttons.append((a.get("type"), a.get("name"), a.get("value")))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._current = None


@dataclass
class Page:
    forms: list[Form]
    labels: set[str]
    meta: dict[str, str]


def parse(html: str) -> Page:
    parser = _FormParser()
    parser.feed(html)
    return Page(parser.forms, parser.labels, parser.meta)
