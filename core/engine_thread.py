"""The sync façade: an ``EngineThread`` runs an ``Engine`` on its own loop thread for Streamlit and the CLI.

engine = EngineThread.start(lambda: build_components(Settings()))
result = engine.run_sync(ResearchQuery(question="How do I run coroutines concurrently?"))
engine.close()
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, TypeVar

from core.components import Components
from core.config import EngineSettings
from core.engine import Engine
from core.factory import open_engine
from core.loopthread import LoopThread
from core.models import ResearchQuery, ResearchResult, RunRecord

T = TypeVar("T")
Query = ResearchQuery | dict[str, Any] | str


class EngineThread:
    """Blocking calls into an ``Engine`` that lives on a loop thread (never call from that loop).

    The engine's coroutines run on its loop through ``call_sync``, the one hop; its thread-safe
    parts (settings, records, components) are read directly.
    """

    def __init__(self, engine: Engine, thread: LoopThread) -> None:
        self.engine = engine
        self._thread = thread

    @classmethod
    def start(
        cls,
        build: Callable[[], Awaitable[Components]],
        settings: EngineSettings | None = None,
        *,
        timeout: float = 300.0,
    ) -> EngineThread:
        """Start a loop thread, open the engine on it (``open_engine``: recovery scheduled), and
        return once it is ready."""
        thread = LoopThread("researchops-engine")
        try:
            engine = thread.run(open_engine(build, settings), timeout)
        except BaseException:
            thread.stop()
            raise
        return cls(engine, thread)

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._thread.loop

    def call_sync(self, coro: Coroutine[Any, Any, T], timeout: float | None = 60.0) -> T:
        """Run a coroutine of the engine on its loop and return its result."""
        return self._thread.run(coro, timeout)

    def run_sync(self, query: Query, timeout: float | None = None) -> ResearchResult:
        """Run one workflow to completion (raises Overloaded when full, ModelError, ...)."""
        return self.call_sync(self.engine.run(query), timeout)

    def submit(self, query: Query) -> str:
        """Validate, schedule and return the run id at once; poll ``get_record`` or ``wait_sync``."""
        return self.engine.submit(query)

    def wait_sync(self, run_id: str, timeout: float | None = None) -> RunRecord:
        """Wait for a submitted run to finish (any status) and return its record."""
        return self.call_sync(self.engine.wait(run_id, timeout), timeout)

    def close(self, timeout: float = 30.0) -> None:
        """Close the engine (cancelling in-flight runs) and stop its loop thread."""
        try:
            self.call_sync(self.engine.aclose(), timeout)
        finally:
            self._thread.stop(timeout)

    # ---- the engine's thread-safe parts, read directly --------------------------------------
    @property
    def c(self) -> Components:
        return self.engine.c

    @property
    def settings(self) -> EngineSettings:
        return self.engine.settings

    @property
    def settings_log(self) -> list[tuple[float, EngineSettings]]:
        return self.engine.settings_log

    def update_settings(self, **changes: Any) -> EngineSettings:
        return self.engine.update_settings(**changes)

    def apply_settings(self, new: EngineSettings) -> bool:
        return self.engine.apply_settings(new)

    def parse_query(self, query: Query) -> ResearchQuery:
        return self.engine.parse_query(query)

    def get_record(self, run_id: str) -> RunRecord:
        return self.engine.get_record(run_id)

    def recent(self, n: int = 50) -> Sequence[RunRecord]:
        return self.engine.recent(n)
