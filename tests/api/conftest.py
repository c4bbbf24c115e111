"""An API app per test (engine on docs only, fresh data dir) and an httpx client over ASGI."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from core.api import create_app
from core.config import EngineSettings, Settings
from core.factory import build_components
from core.metrics import Metrics
from tests.support.api import docs_only_settings

TOKEN = "test-operator-token"
QUESTION = "How do I run coroutines concurrently and wait for all of them?"


@pytest.fixture
def api_settings(tmp_path: Path, index_dir: Path) -> Settings:
    return docs_only_settings(tmp_path, index_dir, TOKEN)


Client = Callable[..., Any]


@pytest.fixture
def api_client(api_settings: Settings) -> Client:
    """``async with api_client(engine_settings) as (client, app)``: lifespan run around the client."""

    @asynccontextmanager
    async def open_client(
        engine_settings: EngineSettings | None = None, settings: Settings | None = None
    ) -> AsyncIterator[tuple[httpx.AsyncClient, FastAPI]]:
        chosen = settings or api_settings
        # a registry of its own per app, so metric values are this test's only
        app = create_app(chosen, engine_settings, build=lambda: build_components(chosen, metrics=Metrics()))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
                yield client, app

    return open_client
