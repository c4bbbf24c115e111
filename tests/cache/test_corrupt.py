"""Hostile or foreign L2 entries: nothing decoded from a shared level runs code; corrupt = dropped miss."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import ormsgpack
import pytest
from langgraph.types import Send

from core.cache.memory import MemoryCache
from core.cache.sqlite import SQLiteL2
from core.cache.tiered import TieredCache
from core.codecs import LangGraphSerde, get_codec
from core.errors import CodecError


def exploit(marker: Path) -> bytes:
    """The issue's payload: JsonPlus's ext 0 names ``os.system`` and its argument."""
    return b"-|msgpack:" + ormsgpack.packb(
        ormsgpack.Ext(0, ormsgpack.packb(["os", "system", f"touch {marker}"]))
    )


@pytest.fixture
def l2(tmp_path: Path) -> SQLiteL2:
    return SQLiteL2(tmp_path / "cache.sqlite3")


def _cache(l2: Any, events: list[tuple[str, str, str]]) -> TieredCache:
    return TieredCache(
        MemoryCache(100, 1 << 20), l2, get_codec("ormsgpack"), on_event=lambda *e: events.append(e)
    )


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(None, id="exploit"),
        pytest.param(b"-|ro.ormsgpack:" + ormsgpack.packb({"not": "a result"}), id="foreign-dict"),
        pytest.param(b"-|ro.json:[1, 2", id="truncated"),
        pytest.param(b"no header at all", id="garbage"),
        pytest.param(b"-|pickle:" + b"\x80\x04K\x01.", id="pickle"),
        pytest.param(b"-|ro.pickle:" + b"\x80\x04K\x01.", id="ro-pickle"),
    ],
)
async def test_a_corrupt_l2_entry_is_a_counted_miss_and_dropped(
    l2: SQLiteL2, tmp_path: Path, payload: bytes | None
) -> None:
    marker = tmp_path / "ran"
    await l2.set("result:k", payload or exploit(marker), ttl_s=60)
    events: list[tuple[str, str, str]] = []
    cache = _cache(l2, events)
    assert await cache.get("result", "k", levels="l1+l2") == (None, None)
    assert not marker.exists()
    assert ("l2", "result", "corrupt") in events
    assert cache.stats()["l2"]["corrupt"] == 1
    assert await l2.get("result:k") is None  # dropped: the recompute writes a good one
    await l2.close()


async def test_node_writes_that_are_not_writes_are_corrupt(l2: SQLiteL2) -> None:
    serde = LangGraphSerde(get_codec("ormsgpack"), allow_pickle=False)
    await l2.set("analyze:k", b"-|" + serde.dumps({"a": 1}), ttl_s=60)
    events: list[tuple[str, str, str]] = []
    assert await _cache(l2, events).get("analyze", "k", levels="l1+l2") == (None, None)
    assert ("l2", "analyze", "corrupt") in events
    await l2.close()


async def test_send_packets_still_round_trip_through_l2(l2: SQLiteL2) -> None:
    """The node cache stores ``Send`` objects (the fan-out edge): they must come back exact."""
    writes = [("branch:to:search", [Send("search_source", {"source": "docs", "q": "gather"})])]
    writer, reader = _cache(l2, []), _cache(l2, [])
    await writer.set("plan", "k", writes, ttl_s=60, levels="l1+l2")
    value, level = await reader.get("plan", "k", levels="l1+l2")
    assert level == "l2" and value is not None
    assert value[0][1][0] == Send("search_source", {"source": "docs", "q": "gather"})
    await l2.close()


def test_the_serde_refuses_every_extension_not_on_its_list(tmp_path: Path) -> None:
    serde = LangGraphSerde(get_codec("ormsgpack"), allow_pickle=False)
    marker = tmp_path / "ran"
    for ext, spec in [
        (0, ["os", "system", f"touch {marker}"]),
        (1, ["subprocess", "call", [["touch", str(marker)]]]),
        (2, ["builtins", "eval", {"source": "1"}]),
        (3, ["os", "system", f"touch {marker}", "__call__"]),
        (5, ["core.models", "ResearchQuery", {"question": "x" * 20}, "model_validate_json"]),
    ]:
        payload = ormsgpack.packb(ormsgpack.Ext(ext, ormsgpack.packb(spec)))
        with pytest.raises(CodecError):
            serde.loads_typed(("msgpack", payload))
    assert not marker.exists()


def test_datetimes_and_sets_written_by_jsonplus_still_load() -> None:
    import datetime as dt

    serde = LangGraphSerde(get_codec("ormsgpack"), allow_pickle=False)
    now = dt.datetime.now(dt.UTC)
    for value in (now, now.date(), dt.timedelta(seconds=1.5), {1, 2}, frozenset({"a"})):
        assert serde.loads_typed(serde.dumps_typed(value)) == value
    assert time.time() > 0
