"""Micro-benchmarks on real data: codec, validation and cache-hit rows (structure, positive timings)."""

from __future__ import annotations

from typing import Any

from core.codecs import CODEC_NAMES
from core.load.microbench import BENCH_NS, cache_rows, codec_rows, time_us, validation_rows

QUESTION = "How do I run coroutines concurrently and wait for all of them?"


async def _sample_and_documents(engine: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    result = await engine.run(QUESTION)
    docs = []
    for name, source in engine.c.sources.items():
        found = await source.search(QUESTION, 5)
        docs += [h.to_dict() | {"source": name} for h in found.hits]
    return result.model_dump(mode="json"), docs


def test_time_us_is_the_median_per_call_in_microseconds() -> None:
    calls = []
    us = time_us(lambda: calls.append(1), number=7, repeat=3)
    assert len(calls) == 21 and 0 < us < 1_000_000


async def test_codec_rows_time_every_codec_against_json(engine: Any) -> None:
    sample, _docs = await _sample_and_documents(engine)
    rows = codec_rows(sample, number=5, repeat=2)
    assert [r["codec"] for r in rows] == list(CODEC_NAMES)
    for r in rows:
        assert r["encode_us"] > 0 and r["decode_us"] > 0 and r["bytes"] > 0
        assert r["round_trip_us"] == r["encode_us"] + r["decode_us"]
        assert isinstance(r["safe"], bool) and r["speedup_vs_json"] > 0
    assert next(r for r in rows if r["codec"] == "json")["speedup_vs_json"] == 1.0


async def test_validation_rows_cover_each_mode_on_real_documents(engine: Any) -> None:
    _sample, docs = await _sample_and_documents(engine)
    assert docs
    rows = validation_rows(docs, number=3, repeat=2)
    assert [r["mode"] for r in rows] == ["strict", "strict + lazy", "boundary", "boundary + lazy", "trusted"]
    for r in rows:
        assert r["documents"] == len(docs) and r["us_per_batch"] > 0
        assert r["us_per_document"] == r["us_per_batch"] / len(docs)


async def test_cache_rows_measure_l1_and_the_real_l2_then_purge(engine: Any) -> None:
    sample, _docs = await _sample_and_documents(engine)
    cache = engine.c.cache
    assert cache is not None and cache.l2 is not None
    rows = await cache_rows(cache, sample, number=10)
    assert [(r["level"], r["backend"]) for r in rows] == [("l1", "memory"), ("l2", cache.l2.name)]
    for r in rows:
        assert r["hit_us"] > 0 and r["p95_us"] > 0 and r["bytes"] > 0
    assert rows[0]["bytes"] == rows[1]["bytes"]
    assert await cache.purge(namespace=BENCH_NS) == 0  # nothing of the benchmark is left in L2
