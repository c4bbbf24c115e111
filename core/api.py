"""The HTTP API: a thin FastAPI layer over one engine (no logic of its own, nothing at import).

    app = create_app(Settings())            # uvicorn core.api:app_factory --factory
    POST /research            ResearchQuery -> ResearchResult (?async=true: 202 {"run_id"})
    GET  /runs/{run_id}       RunRecord (this engine's recent runs, else the run store)
    GET  /runs/{run_id}/events  the run's stored events
    GET  /settings            EngineSettings;  PUT /settings (Bearer operator token) a change
    GET  /metrics             Prometheus text;  GET /healthz, GET /readyz

Errors: 422 ``{"detail": [{"loc", "msg", "type"}]}`` for bad input (FastAPI's shape, also for
engine-level checks such as unknown domains), 429 + ``Retry-After`` when overloaded, 404 for an
unknown run, 401/403 for settings changes without/with a wrong token. Emulated results carry the
header ``X-ResearchOps-Emulated: true``.
"""

from __future__ import annotations

import asyncio
import hmac
import math
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Path, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict, Field, create_model

from core.config import EngineSettings, PresetName, Settings
from core.errors import (
    CacheBackendError,
    InvalidInput,
    ModelError,
    Overloaded,
    ResearchOpsError,
    RunNotFound,
    StoreError,
)
from core.models import ResearchQuery, ResearchResult, RunRecord, RunStatus
from core.settings_sync import SettingsSync

EMULATED_HEADER = "X-ResearchOps-Emulated"
RUN_ID = Annotated[str, Path(min_length=1, max_length=200, description="A run id from POST /research")]


# ---- response bodies (documented in the OpenAPI schema) ------------------------------------------
class RunAccepted(BaseModel):
    run_id: str
    """Poll ``GET /runs/{run_id}`` for the record."""


class ErrorBody(BaseModel):
    detail: str


class FieldError(BaseModel):
    loc: list[str | int]
    msg: str
    type: str = "value_error"


class ValidationErrorBody(BaseModel):
    detail: list[FieldError]


class Check(BaseModel):
    ok: bool
    detail: str = ""


class Readiness(BaseModel):
    status: Literal["ready", "not ready"]
    checks: dict[str, Check]


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class StoredEvent(BaseModel):
    run_id: str
    seq: int
    type: str
    at: str
    data: dict[str, Any]


def _change_model() -> type[BaseModel]:
    """Every live mode, optional: a PUT /settings body is a partial change (or a preset)."""
    fields: dict[str, Any] = {
        "preset": (PresetName, Field(None, description="Switch every mode to this preset first"))
    }
    for name, info in EngineSettings.model_fields.items():
        if name in {"version", "preset"}:
            continue
        annotation = Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
        # default None = "unchanged"; null is accepted only where the mode itself allows None
        fields[name] = (annotation, Field(None, description=info.description))
    config = ConfigDict(extra="forbid", json_schema_extra={"minProperties": 1})
    return create_model("SettingsChange", __config__=config, **fields)


SettingsChange = _change_model()

E422: dict[int | str, dict[str, Any]] = {422: {"model": ValidationErrorBody, "description": "Invalid input"}}
E404: dict[int | str, dict[str, Any]] = {404: {"model": ErrorBody, "description": "Unknown run"}}
E429: dict[int | str, dict[str, Any]] = {
    429: {
        "model": ErrorBody,
        "description": "Overloaded: retry later",
        "headers": {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}},
    },
}
E50x: dict[int | str, dict[str, Any]] = {
    502: {"model": ErrorBody, "description": "The model call failed"},
    503: {"model": ErrorBody, "description": "A backend (store, cache) is unavailable"},
}
EMULATED = {
    EMULATED_HEADER: {
        "description": "`true` when latency in this run was emulated",
        "schema": {"type": "string"},
    }
}


# ---- the app ---------------------------------------------------------------------------------------
class ApiState:
    """What the handlers share: the engine and, with Redis, the settings sync."""

    def __init__(self, settings: Settings, engine: Any, sync: SettingsSync | None) -> None:
        self.settings, self.engine, self.sync = settings, engine, sync

    async def before_run(self) -> None:
        if self.sync is not None:
            await self.sync.refresh(self.engine)


def create_app(
    settings: Settings,
    engine_settings: EngineSettings | None = None,
    *,
    build: Callable[[], Any] | None = None,
) -> FastAPI:
    """The API app; its lifespan opens the engine (and settings sync) and closes them.

    >>> app = create_app(Settings())  # doctest: +SKIP
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from core.factory import build_components, open_engine

        sync = SettingsSync.from_url(settings.redis_url) if settings.redis_url else None
        local = engine_settings or EngineSettings()
        shared = await sync.seed(local) if sync is not None else local
        engine = await open_engine(build or (lambda: build_components(settings)), shared)
        if sync is not None:
            sync.start(engine)
        app.state.api = ApiState(settings, engine, sync)
        try:
            yield
        finally:
            if sync is not None:
                await sync.aclose()
            await engine.aclose()

    app = FastAPI(
        title="ResearchOps",
        version="0.1.0",
        lifespan=lifespan,
        description="Research workflows over local documentation, with live engine modes.",
    )
    _errors(app)
    _routes(app)
    _document_sources(app, settings.sources)
    return app


def _document_sources(app: FastAPI, sources: tuple[str, ...]) -> None:
    """Name the configured sources in the schema: ``domains`` accepts exactly these."""
    base = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = base()
            domains = schema["components"]["schemas"]["ResearchQuery"]["properties"]["domains"]
            domains["items"] = {"type": "string", "enum": list(sources)}
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def app_factory() -> FastAPI:
    """For ``uvicorn core.api:app_factory --factory``: settings from the environment."""
    return create_app(Settings())


def _api(request: Request) -> ApiState:
    return request.app.state.api  # type: ignore[no-any-return]


Api = Annotated[ApiState, Depends(_api)]
bearer = HTTPBearer(auto_error=False, description="Settings.operator_token")


def _require_operator(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> None:
    token = _api(request).settings.operator_token
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise _Http(401, "missing bearer token", {"WWW-Authenticate": "Bearer"})
    if not token:
        raise _Http(403, "settings changes are disabled: no operator token is configured")
    if not hmac.compare_digest(credentials.credentials.encode(), token.encode()):
        raise _Http(403, "wrong operator token")


class _Http(Exception):
    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
        self.status, self.detail, self.headers = status, detail, headers


def _errors(app: FastAPI) -> None:
    @app.exception_handler(_Http)
    async def http(_r: Request, exc: _Http) -> JSONResponse:
        return JSONResponse({"detail": exc.detail}, exc.status, headers=exc.headers)

    @app.exception_handler(InvalidInput)
    async def invalid(_r: Request, exc: InvalidInput) -> JSONResponse:
        detail = [
            {"loc": ["body", *str(e["field"]).split(".")], "msg": e["message"], "type": "value_error"}
            for e in exc.errors
        ]
        return JSONResponse({"detail": detail}, 422)

    @app.exception_handler(Overloaded)
    async def overloaded(_r: Request, exc: Overloaded) -> JSONResponse:
        retry = str(max(1, math.ceil(exc.retry_after)))
        return JSONResponse({"detail": str(exc)}, 429, headers={"Retry-After": retry})

    @app.exception_handler(RunNotFound)
    async def not_found(_r: Request, exc: RunNotFound) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, 404)

    @app.exception_handler(ResearchOpsError)
    async def failed(_r: Request, exc: ResearchOpsError) -> JSONResponse:
        status = (
            502
            if isinstance(exc, ModelError)
            else 503
            if isinstance(exc, StoreError | CacheBackendError)
            else 500
        )
        return JSONResponse({"detail": str(exc)}, status)


def _result_response(result: ResearchResult) -> JSONResponse:
    headers = {EMULATED_HEADER: "true"} if result.emulated else {}
    return JSONResponse(result.model_dump(mode="json"), headers=headers)


def _routes(app: FastAPI) -> None:
    @app.post(
        "/research",
        response_model=ResearchResult,
        tags=["research"],
        responses={
            200: {"headers": EMULATED},
            202: {"model": RunAccepted, "description": "Accepted"},
            **E422,
            **E429,
            **E50x,
        },
    )
    async def research(
        query: ResearchQuery,
        api: Api,
        run_async: Annotated[bool, Query(alias="async", description="Return 202 + run_id at once")] = False,
    ) -> Any:
        """Answer a research question (or, with ``?async=true``, start it and return its run id)."""
        await api.before_run()
        if run_async:
            return JSONResponse(RunAccepted(run_id=api.engine.submit(query)).model_dump(), 202)
        return _result_response(await api.engine.run(query))

    @app.get(
        "/runs/{run_id}",
        response_model=RunRecord,
        tags=["runs"],
        responses={200: {"headers": EMULATED}, **E404, **E422, **E50x},
    )
    async def get_run(run_id: RUN_ID, api: Api) -> Any:
        """One run: from this process's recent runs, else from the run store."""
        try:
            record = api.engine.get_record(run_id)
        except RunNotFound:
            record = await _stored_record(api, run_id)
        headers = {EMULATED_HEADER: "true"} if record.result is not None and record.result.emulated else {}
        return JSONResponse(record.model_dump(mode="json"), headers=headers)

    @app.get(
        "/runs/{run_id}/events",
        response_model=list[StoredEvent],
        tags=["runs"],
        responses={**E404, **E422, **E50x},
    )
    async def run_events(run_id: RUN_ID, api: Api) -> Any:
        """The run's stored events, in order."""
        store = _store(api)
        return [e.model_dump(mode="json") for e in await store.events(run_id)]

    @app.get("/settings", response_model=EngineSettings, tags=["settings"])
    async def get_settings(api: Api) -> EngineSettings:
        """The live engine modes and their version."""
        await api.before_run()
        return api.engine.settings  # type: ignore[no-any-return]

    @app.put(
        "/settings",
        response_model=EngineSettings,
        tags=["settings"],
        dependencies=[Depends(_require_operator)],
        responses={
            401: {"model": ErrorBody, "description": "No bearer token"},
            403: {"model": ErrorBody, "description": "Wrong token or changes disabled"},
            **E422,
        },
    )
    async def put_settings(change: SettingsChange, api: Api) -> EngineSettings:  # type: ignore[valid-type]
        """Change live modes (a partial change or ``{"preset": ...}``); every process follows."""
        changes = change.model_dump(exclude_unset=True)  # type: ignore[attr-defined]
        if not changes:
            raise InvalidInput([{"field": "settings", "message": "no change given"}])
        if api.sync is not None:
            return await api.sync.change(api.engine, **changes)
        return api.engine.update_settings(**changes)  # type: ignore[no-any-return]

    @app.get(
        "/metrics",
        response_class=PlainTextResponse,
        tags=["ops"],
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
    )
    async def metrics(api: Api) -> PlainTextResponse:
        """Prometheus exposition of this process's engine metrics."""
        body = await asyncio.to_thread(generate_latest, api.engine.c.metrics.registry)
        return PlainTextResponse(body, media_type=CONTENT_TYPE_LATEST)

    @app.get("/healthz", response_model=Health, tags=["ops"])
    async def healthz() -> Health:
        """The process is alive (no dependency checks)."""
        return Health()

    @app.get(
        "/readyz",
        response_model=Readiness,
        tags=["ops"],
        responses={503: {"model": Readiness, "description": "A dependency is down"}},
    )
    async def readyz(api: Api) -> Any:
        """Redis (cache, queue, settings) and the run store answer."""
        checks = await _readiness(api)
        ready = all(c.ok for c in checks.values())
        body = Readiness(status="ready" if ready else "not ready", checks=checks)
        return JSONResponse(body.model_dump(), 200 if ready else 503)


def _store(api: ApiState) -> Any:
    store = api.engine.c.store
    if store is None:
        raise RunNotFound("this process keeps no run store")
    return store


async def _stored_record(api: ApiState, run_id: str) -> RunRecord:
    from core.store import rebuild_result

    store = _store(api)
    summary = await store.get_summary(run_id)
    events = await store.events(run_id)
    started = next((e for e in events if e.type == "started"), None)
    if started is None or "query" not in started.data:
        raise RunNotFound(f"run {run_id!r} has no stored query")
    errors = [e.data.get("message", "") for e in events if e.type == "error"]
    return RunRecord(
        run_id=run_id,
        query=ResearchQuery.model_validate(started.data["query"]),
        status=RunStatus(summary.status),
        result=rebuild_result(events),
        error=errors[-1] if errors else None,
        settings_version=summary.settings_version,
        created_at=summary.created_at,
        started_at=started.at,
        finished_at=summary.finished_at,
    )


async def _readiness(api: ApiState, timeout_s: float = 2.0) -> dict[str, Check]:
    async def probe(name: str, check: Any) -> tuple[str, Check]:
        try:
            detail = await asyncio.wait_for(check(), timeout_s)
            return name, Check(ok=True, detail=str(detail))
        except Exception as exc:
            return name, Check(ok=False, detail=f"{type(exc).__name__}: {exc}")

    probes = []
    if api.sync is not None:
        client = api.sync.client

        async def redis_ok() -> str:
            await client.ping()
            return "ping ok"

        async def queue_ok() -> str:
            from core.queue import GROUP, QUEUE

            if not await client.exists(QUEUE):
                return "no runs queued yet"
            groups = await client.xinfo_groups(QUEUE)
            mine = next((g for g in groups if g["name"] in (GROUP, GROUP.encode())), None)
            return (
                f"pending {mine['pending']}, consumers {mine['consumers']}" if mine else "no worker group yet"
            )

        probes += [probe("redis", redis_ok), probe("queue", queue_ok)]
    store = api.engine.c.store
    if store is not None:

        async def store_ok() -> str:
            return f"{await store.count()} runs stored"

        probes.append(probe("store", store_ok))
    return dict(await asyncio.gather(*probes))
