"""The outbound-URL guard (issue 21, item 2): which hosts and addresses the server
refuses to send requests to, and what an operator's allow list admits."""

from __future__ import annotations

import asyncio
import ipaddress

import pytest

from tests.security.dns import ScriptedDns
from tollhouse.security.outbound import (
    AllowList,
    OutboundGuard,
    OutboundRefused,
    address_refusal,
    host_refusal,
)

INTERNAL_ADDRESSES: dict[str, str | None] = {
    "127.0.0.1": "loopback",
    "127.255.0.9": "loopback",
    "::1": "loopback",
    "10.0.0.1": "private",
    "172.16.0.1": "private",
    "192.168.0.1": "private",
    "fd12:3456::1": "private",
    "169.254.169.254": "link-local",
    "fe80::1": "link-local",
    "0.0.0.0": "unspecified",
    "::": "unspecified",
    "224.0.0.251": "multicast",
    "ff02::1": "multicast",
    "100.64.0.1": "shared (carrier-grade NAT)",
    "192.0.0.8": None,
    "240.0.0.1": None,
    "fec0::1": None,
    "::ffff:127.0.0.1": "loopback",
    "::ffff:169.254.169.254": "link-local",
    "64:ff9b::a00:1": "private",
    "2002:7f00:1::": "loopback",
    "::7f00:1": None,
    "2001:db8::1": None,
}
PUBLIC_ADDRESSES = ("8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "64:ff9b::808:808")


@pytest.mark.parametrize(("address", "reason"), INTERNAL_ADDRESSES.items())
def test_internal_addresses_are_named_by_kind(address: str, reason: str | None) -> None:
    """None: refused, under a name that depends on the Python version's tables."""
    refusal = address_refusal(ipaddress.ip_address(address))
    assert refusal is not None and refusal == (reason or refusal)


@pytest.mark.parametrize("address", PUBLIC_ADDRESSES)
def test_public_addresses_pass(address: str) -> None:
    assert address_refusal(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    "host",
    [
        "localhost",
        "LOCALHOST.",
        "rp.localhost",
        "printer.local",
        "metadata.google.internal",
        "router.home.arpa",
        "intranet",
        "127.1",
        "2130706433",
        "0x7f.0x1",
        "rp.example.017700000001",
        "under score..example",
        "-bad.example",
        "a" * 64 + ".example",
    ],
)
def test_internal_or_invalid_names_are_refused(host: str) -> None:
    assert host_refusal(host) is not None


@pytest.mark.parametrize("host", ["rp.example.com", "bücher.example", "xn--bcher-kva.example"])
def test_ordinary_names_pass_the_name_rules(host: str) -> None:
    assert host_refusal(host) is None


def check(guard: OutboundGuard, url: str) -> str | None:
    return asyncio.run(guard.refusal(url))


def test_registration_resolves_names_and_refuses_internal_answers() -> None:
    dns = ScriptedDns(
        {
            "intranet.partner.test": [["10.1.2.3"]],
            "mixed.partner.test": [["8.8.8.8", "127.0.0.1"]],
            "public.partner.test": [["8.8.8.8"]],
        }
    )
    guard = OutboundGuard(resolver=dns)
    assert check(guard, "https://intranet.partner.test/bc") == (
        "intranet.partner.test resolves to 10.1.2.3, a private address"
    )
    refused = check(guard, "https://mixed.partner.test/bc")
    assert refused is not None and "127.0.0.1" in refused  # every address counts
    assert check(guard, "https://public.partner.test/bc") is None
    # Not resolvable (yet): accepted here, decided again when fetched.
    assert check(guard, "https://unknown.partner.test/bc") is None
    assert check(guard, "https://169.254.169.254/latest/") == (
        "169.254.169.254 is a link-local address"
    )
    assert check(guard, "ftp://files.partner.test/") is not None
    assert check(guard, "https://[::1/") is not None


def test_a_slow_resolver_does_not_hold_registration() -> None:
    class Slow:
        async def resolve(self, host: str, port: int) -> list[ipaddress.IPv4Address]:
            await asyncio.sleep(30)
            return [ipaddress.IPv4Address("127.0.0.1")]

    guard = OutboundGuard(resolver=Slow(), resolve_timeout=0.05)
    assert check(guard, "https://slow.partner.test/") is None
    with pytest.raises(OSError):
        asyncio.run(guard.addresses("slow.partner.test", 443))


def test_send_time_addresses_are_checked_every_time() -> None:
    dns = ScriptedDns({"rebind.partner.test": [["8.8.8.8"], ["127.0.0.1"]]})
    guard = OutboundGuard(resolver=dns)
    first = asyncio.run(guard.addresses("rebind.partner.test", 443))
    assert first == [ipaddress.ip_address("8.8.8.8")]
    with pytest.raises(OutboundRefused, match=r"127\.0\.0\.1, a loopback address"):
        asyncio.run(guard.addresses("rebind.partner.test", 443))
    with pytest.raises(OSError):
        asyncio.run(guard.addresses("unknown.partner.test", 443))


def test_the_allow_list_admits_named_networks_and_hosts_only() -> None:
    allow = AllowList.parse("10.20.0.0/16, 127.0.0.1 rp.corp.internal [::1]")
    dns = ScriptedDns({"rp.corp.internal": [["10.99.0.1"]], "other.corp.internal": [["10.20.0.5"]]})
    guard = OutboundGuard(allow, resolver=dns)
    assert check(guard, "https://10.20.3.4/bc") is None
    assert check(guard, "http://127.0.0.1:9000/bc") is None
    assert check(guard, "http://[::1]:9000/bc") is None
    assert check(guard, "https://[::ffff:127.0.0.1]/bc") is None  # the same address
    assert check(guard, "https://rp.corp.internal/bc") is None
    assert check(guard, "https://other.corp.internal/bc") is not None  # the name is internal
    assert check(guard, "https://10.21.0.1/bc") is not None
    assert check(guard, "http://127.0.0.2:9000/bc") is not None
    assert check(guard, "https://169.254.169.254/") is not None


def test_an_operator_chosen_target_skips_the_internal_address_rules() -> None:
    dns = ScriptedDns({"intranet.partner.test": [["10.1.2.3"]]})
    trusting = OutboundGuard(resolver=dns).trusting()
    assert check(trusting, "http://localhost:8080/bc") is None
    found = asyncio.run(trusting.addresses("intranet.partner.test", 443))
    assert found == [ipaddress.ip_address("10.1.2.3")]


@pytest.mark.parametrize("entry", ["not a host!", "10.0.0.0/33", "-x.example"])
def test_allow_list_entries_that_are_nothing_are_refused(entry: str) -> None:
    with pytest.raises(ValueError, match="is not an IP address"):
        AllowList.parse(entry)
