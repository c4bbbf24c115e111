"""Fault-suite fixtures: a live API (uvicorn on a free port) over fresh settings, and worker processes.

Every server a test breaks is its own (``redis_server``: a private redis-server on a free port,
killed by PID); the shared services on 6379/5432 are never stopped.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from core.api import create_app
from core.config import EngineSettings, Settings
from core.factory import build_components
from core.metrics import Metrics
from tests.support.api import docs_only_settings
from tests.support.ports import free_port
from tests.support.wait import wait_until
from tests.workers.conftest import start_worker  # noqa: F401  (the worker-process fixture)

TOKEN = "fault-operator-token"


@pytest.fixture
def fault_settings(tmp_path: Path, index_dir: Path) -> Settings:
    """Settings on the docs source only, a fresh data dir, nothing shared by default."""
    return docs_only_settings(tmp_path, index_dir, TOKEN)


@contextmanager
def serving(settings: Settings, engine_settings: EngineSettings | None = None) -> Iterator[tuple[str, Any]]:
    """``with serving(settings) as (url, app)``: the API under uvicorn in a thread (real sockets and
    keep-alive connections), its own metrics registry, stopped at the end."""
    app = create_app(settings, engine_settings, build=lambda: build_components(settings, metrics=Metrics()))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="fault-api", daemon=True)
    thread.start()

    def started() -> bool:
        assert thread.is_alive(), "uvicorn exited during start-up"
        return bool(server.started)

    wait_until(started, 120, "the API to start")
    try:
        yield f"http://127.0.0.1:{port}", app
    finally:
        server.should_exit = True
        thread.join(60)


@pytest.fixture
def live_api() -> Callable[..., Any]:
    return serving


@asynccontextmanager
async def asgi_client(
    settings: Settings, engine_settings: EngineSettings | None = None
) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    """The API in this process (httpx over ASGI, lifespan run around it): for tests of the app's
    answers rather than of sockets."""
    app = create_app(settings, engine_settings, build=lambda: build_components(settings, metrics=Metrics()))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api", timeout=120) as client:
            yield client, app


@pytest.fixture
def api_client_factory() -> Callable[..., Any]:
    return asgi_client
