"""Shared bench helpers: an engine on the embedded defaults, the question pool, percentiles."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from core.config import EngineSettings, Settings
from core.engine import Engine
from core.factory import build_components
from core.metrics import Metrics
from core.metrics.quantiles import percentile

REPO = Path(__file__).resolve().parent.parent
INDEX_DIR = Path(os.environ.get("RESEARCHOPS_INDEX_DIR", REPO / ".data" / "index"))


def bench_settings(data_dir: Path, **kw: Any) -> Settings:
    """Embedded defaults in ``data_dir``, sharing the repo's search indexes (built once)."""
    return Settings(data_dir=data_dir, index_dir=INDEX_DIR, metrics_port=None, **kw)


async def open_engine(settings: Settings, engine_settings: EngineSettings, *, store: bool = False) -> Engine:
    return await Engine.open(
        lambda: build_components(settings, metrics=Metrics(), with_store=store), engine_settings
    )


async def questions(engine: Engine, n: int) -> list[str]:
    from core.load.workload import corpus_pool

    pool = await asyncio.to_thread(corpus_pool, engine.c.sources, engine_data_dir(engine))
    return pool[:n]


def engine_data_dir(engine: Engine) -> Path:
    return Path(getattr(engine, "_bench_data_dir", REPO / ".data"))


def pct(samples: list[float], q: float) -> float:
    """The exact ``q``-th percentile; NaN for no samples (prints as ``nan`` in a bench table)."""
    value = percentile(samples, q)
    return float("nan") if value is None else value


def row(name: str, value: str, target: str = "", verdict: str = "") -> str:
    return f"{name:<58} {value:>22}  {target:<22} {verdict}"
