"""What a stored run started from: its events, latest ``started`` event, query and settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from core.config import EngineSettings
from core.engine import Engine
from core.errors import ConfigError, RunNotFound
from core.models import ResearchQuery
from core.store import RunEvent


@dataclass
class RunSource:
    """A stored run's start: what replay, fork and history need to address its checkpoints."""

    run_id: str
    events: list[RunEvent]
    started: RunEvent
    query: ResearchQuery
    settings: EngineSettings

    @property
    def config(self) -> dict[str, Any]:
        return {"configurable": {"thread_id": self.run_id, "checkpoint_ns": ""}}


def settings_of(started: RunEvent, fallback: EngineSettings) -> EngineSettings:
    """The EngineSettings a run started under (``fallback`` if they no longer validate)."""
    try:
        s = EngineSettings.model_validate(
            {**started.data.get("settings", {}), "version": started.data.get("settings_version", 1)}
        )
    except ValidationError:
        return fallback
    return s.model_copy(update={"preset": s.matching_preset()})


async def load_source(engine: Engine, run_id: str) -> RunSource:
    """The stored start of ``run_id`` (raises RunNotFound / ConfigError)."""
    if engine.c.checkpointer is None or engine.c.store is None:
        raise ConfigError("checkpoints are off (Settings.checkpoints=False or no run store)")
    await engine.catch_up_events()  # the run may have just finished in this process
    events = await engine.c.store.events(run_id)
    starts = [e for e in events if e.type == "started"]
    if not starts:
        raise RunNotFound(f"run {run_id!r} has no started event")
    started = max(starts, key=lambda e: e.seq)
    query = ResearchQuery.model_validate(started.data["query"])
    return RunSource(run_id, events, started, query, settings_of(started, engine.settings))
