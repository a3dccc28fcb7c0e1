"""``tollhouse`` with scripted DNS answers, for the outbound-URL guard's tests.

Run as ``python tests/e2e/fake_dns.py serve …``: the guard's resolver is replaced
before the command starts, everything else (the checks, the connection the server
opens) is the product's own. ``TOLLHOUSE_TEST_RESOLVER`` is a JSON object
``{"name": [[address, …], …]}``: each lookup of a name takes the next list of answers
(the last one repeats), so a name can answer one thing at registration and another
when a logout token is sent (DNS rebinding). An empty list, or a name not listed,
does not resolve: the tests never ask real DNS.
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket

from tollhouse.cli.main import main
from tollhouse.security import outbound

ENV = "TOLLHOUSE_TEST_RESOLVER"


class ScriptedResolver:
    def __init__(self, answers: dict[str, list[list[str]]]) -> None:
        self._answers = {name.lower(): list(lists) for name, lists in answers.items()}

    async def resolve(self, host: str, port: int) -> list[outbound.Address]:
        lists = self._answers.get(host.lower())
        if not lists:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        current = lists.pop(0) if len(lists) > 1 else lists[0]
        if not current:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [ipaddress.ip_address(address) for address in current]


if __name__ == "__main__":
    outbound.use_resolver(ScriptedResolver(json.loads(os.environ.get(ENV, "{}"))))
    main()
