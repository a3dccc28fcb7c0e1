"""Host names and addresses: what counts as this machine (loopback).

Shared by the IdP (plain-HTTP development mode, redirect URIs, doctor) and the
resource library (an ``http`` issuer is accepted only on loopback).
"""

from __future__ import annotations

import ipaddress


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``."""
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
