"""Schemathesis over every operation of a live API (uvicorn): no input makes the server fail (5xx),
and every response conforms to the documented schema (status codes, headers, bodies)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, given, settings

from core.api import create_app
from core.config import EngineSettings, Settings
from core.factory import build_components
from core.metrics import Metrics
from tests.api.conftest import TOKEN
from tests.support.ports import free_port
from tests.support.wait import wait_until

MAX_EXAMPLES = 25


@pytest.fixture
def live_api(tmp_path: Path, index_dir: Path) -> Iterator[str]:
    """A real uvicorn server on a free port (fresh engine per operation), stopped after the test."""
    s = Settings(
        data_dir=tmp_path / "data",
        index_dir=index_dir,
        sources=("docs",),
        operator_token=TOKEN,
        redis_url=None,
        database_url=None,
        metrics_port=None,
    )
    app = create_app(s, EngineSettings(cache="l1"), build=lambda: build_components(s, metrics=Metrics()))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"

    def started() -> bool:
        assert thread.is_alive(), "uvicorn's thread ended before it started"
        return server.started

    wait_until(started, 30, "uvicorn to start", interval_s=0.02)
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(30)


def _fuzz(operation: Any, headers: dict[str, str] | None) -> None:
    @given(case=operation.as_strategy())
    @settings(
        max_examples=MAX_EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    def check(case: Any) -> None:
        case.call_and_validate(headers=headers)

    check()


def test_no_input_makes_the_server_fail(live_api: str) -> None:
    """Every operation, a bounded number of generated cases each, every default check."""
    schema = schemathesis.openapi.from_url(f"{live_api}/openapi.json")
    failures: list[str] = []
    tested = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        # with the token, PUT /settings is exercised past the auth check, on its body validation
        headers = {"Authorization": f"Bearer {TOKEN}"} if operation.method.upper() == "PUT" else None

        try:
            _fuzz(operation, headers)
        except Exception as exc:  # collect every operation's failure, then report them all
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
        tested += 1
    assert tested == 8
    assert not failures, "\n\n".join(failures)


def test_the_fuzzed_schema_covers_every_operation(live_api: str) -> None:
    paths = httpx.get(f"{live_api}/openapi.json").json()["paths"]
    operations = {(m.upper(), p) for p, ops in paths.items() for m in ops}
    assert operations == {
        ("POST", "/research"),
        ("GET", "/runs/{run_id}"),
        ("GET", "/runs/{run_id}/events"),
        ("GET", "/settings"),
        ("PUT", "/settings"),
        ("GET", "/metrics"),
        ("GET", "/healthz"),
        ("GET", "/readyz"),
    }
