"""One conformance suite for every cache level behind the L2 protocol: L1 (adapted), SQLite, Redis."""

from __future__ import annotations

from typing import Any

from core.cache.base import L2Backend
from tests.support.wait import await_until


async def test_level_satisfies_protocol(level: Any) -> None:
    """Every ``L2Backend`` method, called as the tiered cache calls it, keeps its documented contract."""
    assert isinstance(level, L2Backend) and isinstance(level.name, str) and level.name
    assert await level.get("p:missing") is None
    assert await level.set("p:1", b"one", 60, ("t",)) is None
    got = await level.get("p:1")
    assert type(got) is bytes and got == b"one"
    await level.set("p:2", b"", None)  # empty bytes are a value, not an absence
    assert await level.get("p:2") == b""
    size = await level.size()
    assert type(size) is int and size == 2
    purged = await level.purge_tag("t")
    assert type(purged) is int and purged == 1 and await level.get("p:1") is None
    assert await level.purge_prefix("p:") == 1 and await level.get("p:2") is None
    assert await level.delete(["p:2"]) == 0
    await level.set("p:3", b"x", 60)
    assert await level.clear() is None
    assert await level.size() == 0


async def test_get_missing_returns_none(level: Any) -> None:
    assert await level.get("nope") is None


async def test_set_then_get_returns_same_bytes(level: Any) -> None:
    await level.set("a:1", b"\x00hello\xff", ttl_s=60)
    assert await level.get("a:1") == b"\x00hello\xff"
    await level.set("a:1", b"second", ttl_s=60)
    assert await level.get("a:1") == b"second"


async def test_entry_expires_after_ttl(level: Any) -> None:
    await level.set("short", b"x", ttl_s=0.2)
    await level.set("long", b"y", ttl_s=60)
    assert await level.get("short") == b"x"

    async def gone() -> bool:
        return await level.get("short") is None

    await await_until(gone, 5.0, "the entry to expire", 0.02)
    assert await level.get("long") == b"y"
    assert await level.size() == 1


async def test_no_ttl_means_no_expiry(level: Any) -> None:
    await level.set("forever", b"z", ttl_s=None)
    assert await level.get("forever") == b"z"


async def test_delete_counts_existing_keys(level: Any) -> None:
    await level.set("d1", b"1", ttl_s=60)
    await level.set("d2", b"2", ttl_s=60)
    assert await level.delete(["d1", "missing"]) == 1
    assert await level.get("d1") is None
    assert await level.get("d2") == b"2"


async def test_purge_tag_removes_only_tagged_entries(level: Any) -> None:
    await level.set("n:1", b"1", ttl_s=60, tags=["q:a", "langgraph"])
    await level.set("n:2", b"2", ttl_s=60, tags=["q:b"])
    await level.set("n:3", b"3", ttl_s=60, tags=["q:a"])
    assert await level.purge_tag("q:a") == 2
    assert await level.get("n:1") is None and await level.get("n:3") is None
    assert await level.get("n:2") == b"2"
    assert await level.purge_tag("q:a") == 0


async def test_retagging_an_entry_replaces_its_tags_or_keeps_value_reachable(level: Any) -> None:
    await level.set("r:1", b"old", ttl_s=60, tags=["t1"])
    await level.set("r:1", b"new", ttl_s=60, tags=["t2"])
    await level.purge_tag("t2")
    assert await level.get("r:1") is None


async def test_purge_prefix_removes_one_namespace(level: Any) -> None:
    await level.set("analyze:1", b"1", ttl_s=60)
    await level.set("analyze:2", b"2", ttl_s=60)
    await level.set("analyzer:1", b"x", ttl_s=60)
    await level.set("result:1", b"r", ttl_s=60)
    assert await level.purge_prefix("analyze:") == 2
    assert await level.get("analyzer:1") == b"x"
    assert await level.get("result:1") == b"r"


async def test_prefix_with_glob_characters_is_literal(level: Any) -> None:
    await level.set("a*b:1", b"1", ttl_s=60)
    await level.set("axb:1", b"2", ttl_s=60)
    assert await level.purge_prefix("a*b:") == 1
    assert await level.get("axb:1") == b"2"


async def test_clear_and_size(level: Any) -> None:
    for i in range(5):
        await level.set(f"s:{i}", b"v", ttl_s=60, tags=["t"])
    assert await level.size() == 5
    await level.clear()
    assert await level.size() == 0
    assert await level.get("s:0") is None


async def test_concurrent_sets_all_land_with_their_tags(level: Any) -> None:
    """Many sets at once (the SQLite L2 group-commits them): every value readable, every tag purgeable."""
    import asyncio

    await asyncio.gather(*(level.set(f"node:k{i}", b"v%d" % i, 60, [f"t{i % 3}"]) for i in range(200)))
    assert [await level.get(f"node:k{i}") for i in (0, 99, 199)] == [b"v0", b"v99", b"v199"]
    assert await level.size() == 200
    assert await level.purge_tag("t0") == 67
    assert await level.get("node:k0") is None and await level.get("node:k1") == b"v1"
