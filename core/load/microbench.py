"""Micro-benchmarks on the real state: codecs, validation modes and cache hit latency.

Each function returns plain rows (dicts) for a table; the dashboard's Benchmarks page and ``bench/``
scripts call them. Timings are the median of ``repeat`` rounds of ``number`` calls, in µs per call.

    rows = codec_rows(result.model_dump(mode="json"))
    rows[0]  # {'codec': 'json', 'encode_us': ..., 'decode_us': ..., 'round_trip_us': ..., 'bytes': ..., ...}
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from core.cache.memory import MemoryCache
from core.cache.tiered import Levels, TieredCache
from core.codecs import CODEC_NAMES, get_codec
from core.workflow.validation import Validator

BENCH_NS = "microbench"
"""Cache namespace of benchmark entries (purged afterwards; never a node's name)."""


def time_us(fn: Callable[[], Any], *, number: int = 200, repeat: int = 5) -> float:
    """Median µs per call of ``fn`` over ``repeat`` rounds of ``number`` calls.

    >>> time_us(lambda: None, number=10, repeat=3) < 1000
    True
    """
    rounds = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        rounds.append((time.perf_counter() - t0) / number * 1e6)
    return statistics.median(rounds)


def codec_rows(sample: Any, *, number: int = 200, repeat: int = 5) -> list[dict[str, Any]]:
    """Encode/decode µs, encoded bytes and round-trip speedup vs stdlib ``json`` for every codec."""
    rows: list[dict[str, Any]] = []
    for name in CODEC_NAMES:
        codec = get_codec(name)
        data = codec.encode(sample)
        enc = time_us(partial(codec.encode, sample), number=number, repeat=repeat)
        dec = time_us(partial(codec.decode, data), number=number, repeat=repeat)
        rows.append(
            {
                "codec": name,
                "safe": codec.safe,
                "encode_us": enc,
                "decode_us": dec,
                "round_trip_us": enc + dec,
                "bytes": len(data),
            }
        )
    base = float(next(r["round_trip_us"] for r in rows if r["codec"] == "json"))
    for r in rows:
        r["speedup_vs_json"] = base / r["round_trip_us"] if r["round_trip_us"] else None
    return rows


def validation_rows(
    docs: Sequence[dict[str, Any]], *, read: int = 10, number: int = 50, repeat: int = 5
) -> list[dict[str, Any]]:
    """µs to validate ``docs`` (source documents) and read the text of the first ``read``, per mode.

    Lazy mode defers each text's check to the read, which is what a real run does with a shortlist.
    """
    docs = list(docs)
    rows = []
    for mode in ("strict", "boundary", "trusted"):
        for lazy in (False, True):
            if mode == "trusted" and lazy:
                continue  # trusted checks no document: lazy changes nothing
            v = Validator(mode, lazy=lazy)  # type: ignore[arg-type]

            def run(v: Validator = v) -> None:
                kept = v.documents(docs)
                for d in kept[:read]:
                    v.text(d)

            us = time_us(run, number=number, repeat=repeat)
            rows.append(
                {
                    "mode": mode + (" + lazy" if lazy else ""),
                    "documents": len(docs),
                    "us_per_batch": us,
                    "us_per_document": us / max(len(docs), 1),
                }
            )
    return rows


async def cache_rows(cache: TieredCache, sample: Any, *, number: int = 200) -> list[dict[str, Any]]:
    """L1 and L2 hit latency (µs, median of ``number`` gets) on the engine's real L2 backend.

    Runs on a private L1 and a private namespace over the same L2 (so the engine's hit-rate metrics
    are not touched), and purges what it wrote.
    """
    # no shape validators: the bench value is a sample state, not a node's writes or a result
    bench = TieredCache(MemoryCache(1_000, 64 * 1024 * 1024), cache.l2, cache.codec, validators={})
    key = f"k{time.time_ns()}"
    full = f"{BENCH_NS}:{key}"
    levels: Levels = "l1+l2" if cache.l2 is not None else "l1"
    await bench.set(BENCH_NS, key, sample, ttl_s=300, levels=levels)
    rows = []
    try:
        l1 = []
        for _ in range(number):
            t0 = time.perf_counter()
            await bench.get(BENCH_NS, key, levels=levels)
            l1.append((time.perf_counter() - t0) * 1e6)
        rows.append(
            {
                "level": "l1",
                "backend": "memory",
                "hit_us": statistics.median(l1),
                "p95_us": _p95(l1),
                "bytes": len(bench._pack(sample, None)),
            }
        )
        if cache.l2 is not None:
            l2 = []
            for _ in range(number):
                bench.l1.delete([full])  # force the read through to L2 (then it is promoted again)
                t0 = time.perf_counter()
                _value, level = await bench.get(BENCH_NS, key, levels=levels)
                l2.append((time.perf_counter() - t0) * 1e6)
                if level != "l2":
                    raise RuntimeError(f"expected an L2 hit, got {level!r}")
            rows.append(
                {
                    "level": "l2",
                    "backend": cache.l2.name,
                    "hit_us": statistics.median(l2),
                    "p95_us": _p95(l2),
                    "bytes": rows[0]["bytes"],
                }
            )
    finally:
        await bench.purge(namespace=BENCH_NS)
    return rows


def _p95(xs: list[float]) -> float:
    return statistics.quantiles(xs, n=20)[-1] if len(xs) >= 2 else xs[0]
