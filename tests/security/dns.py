"""Scripted DNS for the outbound-URL guard's tests: no test asks real DNS."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Mapping, Sequence

from tollhouse.security.outbound import Address


class ScriptedDns:
    """Each lookup of a name takes the next list of answers (the last one repeats); an
    empty list, or a name not listed, does not resolve. ``lookups`` counts them."""

    def __init__(self, answers: Mapping[str, Sequence[Sequence[str]]] | None = None) -> None:
        self._answers = {name: [list(a) for a in lists] for name, lists in (answers or {}).items()}
        self.lookups: list[str] = []

    async def resolve(self, host: str, port: int) -> list[Address]:
        self.lookups.append(host)
        lists = self._answers.get(host.lower())
        current = (lists.pop(0) if len(lists) > 1 else lists[0]) if lists else []
        if not current:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [ipaddress.ip_address(address) for address in current]
