"""Build the configured sources (indexes loaded or built off the loop, in parallel) and describe them."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from core.config import Settings
from core.errors import ConfigError
from core.sources.folder import open_folder
from core.sources.indexed import IndexedSource
from core.sources.packages import DEFAULT_PACKAGES, open_packages
from core.sources.resilient import ResilientSource
from core.sources.stdlib import open_stdlib

SOURCE_NAMES = ("stdlib", "packages", "docs")


def _openers(settings: Settings) -> dict[str, Callable[[], Awaitable[IndexedSource]]]:
    return {
        "stdlib": lambda: open_stdlib(settings.resolved_index_dir),
        "packages": lambda: open_packages(settings.resolved_index_dir, DEFAULT_PACKAGES),
        "docs": lambda: open_folder(settings.resolved_docs_dir, settings.resolved_index_dir),
    }


async def build_sources(
    settings: Settings, names: Iterable[str] | None = None, *, rng: random.Random | None = None
) -> dict[str, ResilientSource]:
    """The named sources (default ``settings.sources``), each wrapped in a ``ResilientSource``.

    Indexes are loaded from ``settings.resolved_index_dir`` or built, in worker threads, all at once
    (stdlib and packages collect in subprocesses, so they overlap well). Raises ``ConfigError``
    for an unknown name.

    >>> # sources = await build_sources(Settings(), ["stdlib", "docs"])
    >>> # (await sources["stdlib"].search("run coroutines concurrently", 3)).hits
    """
    wanted = list(dict.fromkeys(names if names is not None else settings.sources))
    openers = _openers(settings)
    unknown = [n for n in wanted if n not in openers]
    if unknown:
        raise ConfigError(f"sources: unknown {unknown}; known: {list(openers)}")
    built = await asyncio.gather(*(openers[n]() for n in wanted))
    return {
        s.name: ResilientSource(
            s, timeout_s=settings.source_timeout_s, retries=settings.source_retries, rng=rng
        )
        for s in built
    }


def describe(sources: Mapping[str, Any] | Iterable[Any]) -> list[dict[str, Any]]:
    """One row per source for ``researchops sources``: name, description, doc_count, version.

    >>> # describe(sources) -> [{"name": "stdlib", "doc_count": 7206, "version": "f7b8061a8254", ...}]
    """
    items: Iterable[Any] = sources.values() if isinstance(sources, Mapping) else sources
    rows = []
    for s in items:
        inner = getattr(s, "inner", s)
        index = getattr(inner, "index", None)
        rows.append(
            {
                "name": s.name,
                "description": s.description,
                "doc_count": s.doc_count,
                "version": s.version,
                "index": getattr(index, "origin", None),
                "index_seconds": round(getattr(index, "seconds", 0.0), 3),
            }
        )
    return rows
