"""The HTTP API: a thin FastAPI layer over one engine (no logic of its own, nothing at import).

    app = create_app(Settings())            # uvicorn core.api:app_factory --factory
    POST /research            ResearchQuery -> ResearchResult (?async=true: 202 {"run_id"})
    GET  /runs/{run_id}       RunRecord (this engine's recent runs, else the run store)
    GET  /runs/{run_id}/events  the run's stored events
    GET  /settings            EngineSettings;  PUT /settings (Bearer operator token) a change
    GET  /metrics             Prometheus text;  GET /healthz, GET /readyz

Errors: 422 ``{"detail": [{"loc", "msg", "type"}]}`` for bad input (FastAPI's shape, also for
engine-level checks such as unknown domains; never echoing the input: a 10 MB or unencodable body
gets a short answer), 413 for a body over ``MAX_BODY_BYTES`` (refused before it is read, let
alone parsed), 429 + ``Retry-After`` when overloaded (from the measured drain rate), 503 +
``Retry-After`` when a backend the call cannot do without is down, 404 for an unknown run, 401/403
for settings changes without/with a wrong token. Emulated results carry the header
``X-ResearchOps-Emulated: true``.

Redis down degrades, never fails: settings stay at their last known version (``SettingsSync``),
the cache runs on L1, synchronous runs go on in process; ``/readyz`` lists what is degraded.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Path, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from core.api.errors import BodyLimit, HttpError, install_errors, json_response
from core.api.schema import (
    E404,
    E413,
    E422,
    E429,
    EMULATED,
    EMULATED_HEADER,
    MAX_BODY_BYTES,
    Check,
    E50x,
    ErrorBody,
    Health,
    Readiness,
    RunAccepted,
    SettingsChange,
    StoredEvent,
)
from core.config import EngineSettings, Settings
from core.errors import CacheBackendError, InvalidInput, RunNotFound
from core.gc_policy import tune_for_serving
from core.models import ResearchQuery, ResearchResult, RunRecord, RunStatus
from core.settings_sync import SettingsSync

RUN_ID = Annotated[str, Path(min_length=1, max_length=200, description="A run id from POST /research")]


# ---- the app ---------------------------------------------------------------------------------------
class ApiState:
    """What the handlers share: the engine and, with Redis, the settings sync."""

    def __init__(self, settings: Settings, engine: Any, sync: SettingsSync | None) -> None:
        self.settings, self.engine, self.sync = settings, engine, sync
        self.queue_conn: Any = None
        """The Redis client async runs are queued with; opened on first use, closed at shutdown."""

    async def aclose(self) -> None:
        if self.sync is not None:
            await self.sync.aclose()
        if self.queue_conn is not None:
            await self.queue_conn.aclose()
        await self.engine.aclose()

    async def before_run(self) -> None:
        # free while the settings subscription is up; never raises (last known settings)
        if self.sync is not None:
            await self.sync.refresh(self.engine)


def create_app(
    settings: Settings,
    engine_settings: EngineSettings | None = None,
    *,
    build: Callable[[], Any] | None = None,
    serving: bool = False,
) -> FastAPI:
    """The API app; its lifespan opens the engine (and settings sync) and closes them. ``serving``
    (the ``serve`` command) also applies the serving GC policy (``core.gc_policy``) once open.

    >>> app = create_app(Settings())  # doctest: +SKIP
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from core.factory import build_components, open_engine

        sync = SettingsSync.from_url(settings.redis_url) if settings.redis_url else None
        local = engine_settings or EngineSettings()
        shared = await sync.seed(local) if sync is not None else local  # Redis down: local
        engine = await open_engine(build or (lambda: build_components(settings, role="api")), shared)
        if sync is not None:
            sync.on_degraded = engine.c.metrics.degraded
            sync.start(engine)
        app.state.api = ApiState(settings, engine, sync)
        if serving:
            tune_for_serving()
        try:
            yield
        finally:
            await app.state.api.aclose()

    app = FastAPI(
        title="ResearchOps",
        version="0.1.0",
        lifespan=lifespan,
        description="Research workflows over local documentation, with live engine modes.",
        # no OpenTelemetry here: skips FastAPI's per-request check for configured providers
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.add_middleware(BodyLimit, max_bytes=MAX_BODY_BYTES)
    install_errors(app)
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
    return create_app(Settings(), serving=True)


async def _api(request: Request) -> ApiState:
    # async: a sync dependency would cost a thread-pool hop on every request
    return request.app.state.api  # type: ignore[no-any-return]


Api = Annotated[ApiState, Depends(_api)]
bearer = HTTPBearer(auto_error=False, description="Settings.operator_token")


async def _require_operator(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> None:
    token = request.app.state.api.settings.operator_token
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HttpError(401, "missing bearer token", {"WWW-Authenticate": "Bearer"})
    if not token:
        raise HttpError(403, "settings changes are disabled: no operator token is configured")
    if not hmac.compare_digest(credentials.credentials.encode(), token.encode()):
        raise HttpError(403, "wrong operator token")


def _result_response(result: ResearchResult) -> Response:
    headers = {EMULATED_HEADER: "true"} if result.emulated else {}
    # pydantic-core renders JSON in Rust: no dict round trip
    return Response(result.model_dump_json(), headers=headers, media_type="application/json")


def _routes(app: FastAPI) -> None:
    @app.post(
        "/research",
        response_model=ResearchResult,
        tags=["research"],
        responses={
            200: {"headers": EMULATED},
            202: {"model": RunAccepted, "description": "Accepted"},
            **E413,
            **E422,
            **E429,
            **E50x,
        },
    )
    async def research(
        query: ResearchQuery,
        request: Request,
        run_async: Annotated[bool, Query(alias="async", description="Return 202 + run_id at once")] = False,
    ) -> Any:
        """Answer a research question (or, with ``?async=true``, start it and return its run id)."""
        api: ApiState = request.app.state.api  # not Depends(_api): the hot route skips a dependency solve
        await api.before_run()
        if run_async:
            return JSONResponse(RunAccepted(run_id=await _start_async(api, query)).model_dump(), 202)
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
        return Response(record.model_dump_json(), headers=headers, media_type="application/json")

    @app.get(
        "/runs/{run_id}/events",
        response_model=list[StoredEvent],
        tags=["runs"],
        responses={**E404, **E422, **E50x},
    )
    async def run_events(run_id: RUN_ID, api: Api) -> Any:
        """The run's stored events, in order."""
        store = await _store(api)
        return json_response([e.model_dump(mode="json") for e in await store.events(run_id)])

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
        """Redis (cache, queue, settings) and the run store answer; ``degraded`` lists what runs on
        its fallback. Still 200 when degraded: this process answers questions either way."""
        checks = await _readiness(api)
        degraded = _degraded(api, checks)
        body = Readiness(status="degraded" if degraded else "ready", checks=checks, degraded=degraded)
        return json_response(body.model_dump(), 200)


async def _start_async(api: ApiState, query: ResearchQuery) -> str:
    """An async run: on the worker pool through the queue when configured, else in this engine.

    The worker records the run in the run store, where ``GET /runs/{id}`` finds it."""
    settings = api.settings
    if settings.async_runs != "workers" or not settings.redis_url:
        return str(api.engine.submit(query))
    from redis.asyncio import Redis

    from core.models import new_id
    from core.queue import submit_run

    conn = api.queue_conn
    if conn is None:  # one client (a connection pool) per API process, opened on first use
        conn = api.queue_conn = Redis.from_url(settings.redis_url)
    run_id = new_id()
    await submit_run(conn, query, run_id)
    return run_id


async def _store(api: ApiState) -> Any:
    """The run store, caught up with the events this process still has queued (a run that just
    finished here reads back at once)."""
    store = api.engine.c.store
    if store is None:
        raise RunNotFound("this process keeps no run store")
    await api.engine.catch_up_events(force=False)
    return store


async def _stored_record(api: ApiState, run_id: str) -> RunRecord:
    from core.store import rebuild_result

    store = await _store(api)
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


def _degraded(api: ApiState, checks: dict[str, Check]) -> list[str]:
    """Components running on a fallback now: from the probes and from the components' own state."""
    out: list[str] = []
    if api.sync is not None and (api.sync.degraded or not checks.get("redis", Check(ok=True)).ok):
        out.append("settings")
    cache = api.engine.c.cache
    if (
        cache is not None
        and cache.l2 is not None
        and (cache.l2_degraded or not checks.get("cache", Check(ok=True)).ok)
    ):
        out.append("cache")
    if "queue" in checks and not checks["queue"].ok:
        out.append("queue")
    writer = api.engine.c.events
    if (writer is not None and getattr(writer, "degraded", False)) or not checks.get(
        "store", Check(ok=True)
    ).ok:
        out.append("store")
    return out


async def _readiness(api: ApiState, timeout_s: float = 1.0) -> dict[str, Check]:
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
    cache = api.engine.c.cache
    if cache is not None and cache.l2 is not None and hasattr(cache.l2, "ping"):
        l2 = cache.l2

        async def cache_ok() -> str:
            if not await l2.ping():
                raise CacheBackendError(f"{l2.name} L2 does not answer: serving from L1 only")
            return f"{l2.name} L2 answers"

        probes.append(probe("cache", cache_ok))
    store = api.engine.c.store
    if store is not None:

        async def store_ok() -> str:
            return f"{await store.count()} runs stored"

        probes.append(probe("store", store_ok))
    return dict(await asyncio.gather(*probes))
