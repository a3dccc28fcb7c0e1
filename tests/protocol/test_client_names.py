"""Two client names are one name when a reader cannot tell them apart at a glance."""

from __future__ import annotations

import pytest

from tests.storage import records as make
from tollhouse.errors import InvalidClientMetadata
from tollhouse.protocol.client_names import check_free, holder_of, name_key
from tollhouse.storage.memory import MemoryStorage

FULLWIDTH = "".join(chr(ord(c) + 0xFEE0) for c in "Grid-Monitor")


@pytest.mark.parametrize(
    "spelling",
    [
        "Grid-Monitor",
        "grid monitor",
        "  GRID   MONITOR  ",
        "Grid_Monitor",
        "Grid.Monitor!",
        FULLWIDTH,
        "Grid\u200bMonitor",  # zero-width space (Cf)
        "Grid\u00a0Monitor",  # no-break space (Zs)
        "Grid-Monitor\u034f",  # combining grapheme joiner (Mn, invisible)
        "Grid-Monitor\ufe0f",  # variation selector (Mn, invisible)
        "Grid-Monitor\u3164",  # Hangul filler (Lo, shows nothing)
    ],
)
def test_spellings_of_one_name_have_one_key(spelling: str) -> None:
    assert name_key(spelling) == name_key("Grid-Monitor") == "gridmonitor"


@pytest.mark.parametrize("other", ["Grid Monitor 2", "Grid Monitors", "Gird Monitor", "Grid"])
def test_other_names_have_other_keys(other: str) -> None:
    assert name_key(other) != name_key("Grid-Monitor")


def test_case_folding_goes_beyond_lower() -> None:
    assert name_key("STRASSE") == name_key("straße")
    assert name_key("ﬁle sync") == name_key("File Sync")  # ligature (NFKC)


def test_a_name_of_only_punctuation_is_compared_as_written() -> None:
    assert name_key("!!!") == "!!!" and name_key("  ! ! ") == "! !"
    assert name_key("!!!") != name_key("???")


def test_the_holder_is_found_unless_it_is_the_client_itself() -> None:
    clients = [make.client("a", name="Grid-Monitor"), make.client("b", name="Tide Tables")]
    holder = holder_of("grid monitor", clients)
    assert holder is not None and holder.client_id == "a"
    assert holder_of("grid monitor", clients, other_than="a") is None
    assert holder_of("Weather", clients) is None


async def test_check_free_refuses_a_taken_name_without_naming_its_holder() -> None:
    storage = MemoryStorage()
    await storage.add_client(make.client("operator-app", name="Grid-Monitor"))
    with pytest.raises(InvalidClientMetadata) as refused:
        await check_free(storage, "GRID MONITOR")
    assert "operator-app" not in refused.value.description
    await check_free(storage, "GRID MONITOR", other_than="operator-app")
    await check_free(storage, None)
    await check_free(storage, "Weather Station")
