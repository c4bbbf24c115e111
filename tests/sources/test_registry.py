"""build_sources / describe over the real sources."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.config import Settings
from core.errors import ConfigError
from core.sources.indexed import IndexedSource
from core.sources.registry import build_sources, describe

SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "docs"


async def test_build_sources_wraps_each_source_and_describes_it(
    data_dir: Path, stdlib_source: IndexedSource
) -> None:
    settings = Settings(
        data_dir=data_dir, index_dir=data_dir, docs_dir=SAMPLES, source_timeout_s=2.0, source_retries=1
    )
    sources = await build_sources(settings, ["stdlib", "docs"])
    assert list(sources) == ["stdlib", "docs"]
    assert sources["stdlib"].timeout_s == 2.0 and sources["stdlib"].retries == 1
    rows = {r["name"]: r for r in describe(sources)}
    assert rows["stdlib"]["index"] == "loaded"  # the session fixture built it into the same data_dir
    assert rows["stdlib"]["version"] == stdlib_source.version
    assert rows["docs"]["doc_count"] > 50 and rows["docs"]["description"]

    outcome = await sources["docs"].search("garbage-collect and optionally analyze a database", 3)
    assert outcome.attempts == 1 and not outcome.emulated
    assert outcome.hits[0].location.startswith("postgresql/VACUUM.pdf#page=")


async def test_unknown_source_name_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown"):
        await build_sources(Settings(data_dir=tmp_path), ["stdlib", "wikipedia"])
