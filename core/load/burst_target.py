"""What a burst process runs against: the target of a ``BurstSpec`` (engine, workers or http), opened."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.config import Settings
from core.errors import ConfigError
from core.gc_policy import tune_for_serving
from core.load.spec import BurstSpec


async def open_target(
    spec: BurstSpec, settings: Settings, folder: Path, sync: Any, *, locust_processes: int = 1
) -> tuple[Any, Any]:
    """(target, engine or None): an engine in this process, a worker-pool client, or Locust."""
    if spec.target == "http":
        from core.load.locust_target import LocustTarget

        assert spec.http_url is not None
        return LocustTarget(
            spec.http_url,
            folder / "locust",
            path=spec.http_path,
            max_sources=spec.max_sources,
            processes=locust_processes,
        ), None
    if spec.target == "workers":
        from core.load.targets import WorkersTarget

        if not settings.redis_url:
            raise ConfigError("the workers target needs REDIS_URL (the queue lives there)")
        target = WorkersTarget(settings.redis_url, max_sources=spec.max_sources)
        await target.start()
        return target, None
    from core.factory import build_components, open_engine
    from core.load.targets import EngineTarget

    engine_settings = await sync.seed(spec.engine_settings()) if sync is not None else spec.engine_settings()
    engine = await open_engine(
        lambda: build_components(settings, with_store=False, role="burst"), engine_settings
    )
    if sync is not None:
        sync.start(engine)
    tune_for_serving()  # a burst process lives for its burst: freeze the loaded engine (gc_policy)
    return EngineTarget(engine, max_sources=spec.max_sources), engine


def live_settings_sync(spec: BurstSpec, settings: Settings) -> Any:
    """With Redis, a burst on the live settings (no preset, overrides or emulation of its own) starts
    on the shared settings and follows operator changes as they happen, like every other engine."""
    if (
        spec.target != "engine"
        or not settings.redis_url
        or spec.preset
        or spec.overrides
        or spec.emulate_model
    ):
        return None
    from core.settings_sync import SettingsSync

    return SettingsSync.from_url(settings.redis_url)


def cache_stats(engine: Any) -> dict[str, Any] | None:
    if engine.c.cache is None:
        return None
    stats = engine.c.cache.stats()
    return {lvl: {k: v for k, v in stats[lvl].items() if isinstance(v, int | float)} for lvl in ("l1", "l2")}


def settings_fields(spec: BurstSpec, engine: Any, timeline: list[dict[str, Any]]) -> dict[str, Any]:
    """The settings a burst ran under, for its summary (final, versions seen, the base it started on)."""
    final = engine.settings if engine is not None else spec.engine_settings()
    seen = sorted({e["settings_version"] for e in timeline if "settings_version" in e})
    return {
        "settings": final.model_dump(mode="json"),
        "settings_version": final.version,
        "settings_versions_seen": seen or [final.version],
        "base_settings_version": spec.settings.version if spec.settings else None,
    }
