"""Settings for an API under test: the docs source only, a fresh data dir, nothing shared."""

from __future__ import annotations

from pathlib import Path

from core.config import Settings


def docs_only_settings(tmp_path: Path, index_dir: Path, operator_token: str) -> Settings:
    """Embedded backends only (no Redis, PostgreSQL or metrics port) over the shared test index."""
    return Settings(
        data_dir=tmp_path / "data",
        index_dir=index_dir,
        sources=("docs",),
        operator_token=operator_token,
        redis_url=None,
        database_url=None,
        metrics_port=None,
    )
