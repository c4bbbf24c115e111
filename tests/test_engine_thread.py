"""EngineThread: sync code drives an engine that lives on its own loop thread."""

from __future__ import annotations

import threading
from pathlib import Path

from core.config import EngineSettings, Settings
from core.engine_thread import EngineThread
from core.metrics import Metrics
from core.models import RunStatus

GATHER = "How do I run coroutines concurrently and wait for all of them?"


def test_sync_calls_run_on_the_engine_loop_and_close_stops_its_thread(
    tmp_path: Path, index_dir: Path
) -> None:
    from core.factory import build_components

    settings = Settings(data_dir=tmp_path / "data", index_dir=index_dir, metrics_port=None)
    before = set(threading.enumerate())
    eng = EngineThread.start(lambda: build_components(settings, metrics=Metrics()), EngineSettings())
    try:
        assert eng.engine.loop is eng.loop and eng.loop.is_running()
        result = eng.run_sync(GATHER, timeout=120)
        assert result.status == RunStatus.OK and result.run_id
        run_id = eng.submit({"question": GATHER, "max_sources": 3})
        record = eng.wait_sync(run_id, timeout=120)
        assert record.status == RunStatus.OK and record is eng.get_record(run_id)
        assert eng.call_sync(eng.engine.purge_cache(node="result")) >= 1
        eng.update_settings(cache="off")
        assert eng.settings.cache == "off" and eng.settings_log[-1][1] is eng.settings
        assert [r.run_id for r in eng.recent(2)][-1] == run_id
    finally:
        eng.close()
    assert not [t for t in set(threading.enumerate()) - before if t.name == "researchops-engine"]
