"""The async engine: live settings, admission control, the whole-result cache, graph runs and records.

One event loop owns an engine's resources (the Redis client, the graph, the sources): await its
methods on that loop (API, workers, load runner). Sync code (Streamlit, the CLI) uses
``core.engine_thread.EngineThread``; ``core.factory.open_engine`` opens one with recovery scheduled.

    engine = await Engine.open(lambda: build_components(Settings()))
    result = await engine.run(ResearchQuery(question="How do I run coroutines concurrently?"))
    await engine.aclose()
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from core.admission import Admission
from core.cache.keys import query_tag, result_key
from core.components import Components, Continuation, process_owner
from core.config import EngineSettings
from core.errors import Overloaded, ResearchOpsError, RunNotFound
from core.models import ResearchQuery, ResearchResult, RunRecord, RunStatus, new_id, parse_query, utcnow
from core.runctx import RunContext, current_run
from core.store.events import EventBuilder
from core.workflow.graph import build_graph
from core.workflow.nodes import WorkflowDeps
from core.workflow.result import result_from_cache, result_from_state

RESULT_NS = "result"
MAX_RECORDS = 2_000
DURABILITY = "async"
"""LangGraph durability: a superstep's checkpoint is written while the next step runs (each
finished task's writes are saved as it finishes), so a crash loses at most the step in flight."""
GraphKey = tuple[str, str, int]
"""What a compiled graph is built from: (execution, node-cache levels or "off", node_ttl_s)."""


class Engine:
    """Admission control, result cache, graph runs and run records around the workflow."""

    def __init__(self, components: Components, settings: EngineSettings | None = None) -> None:
        self.c = components
        self._settings = settings or EngineSettings()
        self._settings_lock = threading.Lock()
        self.settings_log: list[tuple[float, EngineSettings]] = [(time.time(), self._settings)]
        self.admission = Admission(self._settings.max_concurrent, self._settings.queue_limit)
        self.records: OrderedDict[str, RunRecord] = OrderedDict()
        self._waiters: dict[str, asyncio.Future[RunRecord]] = {}
        self._graphs: dict[GraphKey, Any] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.deps = WorkflowDeps(
            sources=components.sources,
            agents=components.agents,
            on_validation_error=components.metrics.validation_error,
            on_source_failure=components.metrics.source_failure,
        )

    # ---- lifecycle -------------------------------------------------------------------------
    @classmethod
    async def open(
        cls,
        build: Callable[[], Awaitable[Components]],
        settings: EngineSettings | None = None,
    ) -> Engine:
        """Build an engine on the running loop. Recovery of interrupted runs is the caller's:
        ``core.factory.open_engine`` schedules it."""
        engine = cls(await build(), settings)
        engine.loop = asyncio.get_running_loop()
        engine.c.metrics.set_settings_version(engine.settings.version)
        return engine

    def track(self, task: asyncio.Task[Any]) -> None:
        """Keep ``task`` alive until it ends; ``aclose`` cancels it (runs, recovery)."""
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def aclose(self) -> None:
        """Cancel in-flight runs and release every resource."""
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        for closer in reversed(self.c.closers):
            try:
                await closer()
            except Exception:
                pass

    # ---- settings --------------------------------------------------------------------------
    @property
    def settings(self) -> EngineSettings:
        return self._settings

    def update_settings(self, **changes: Any) -> EngineSettings:
        """Apply a change (``preset=`` or mode fields); runs that start afterwards use it."""
        with self._settings_lock:
            new = self._settings.updated(**changes)
            self._apply(new)
        return new

    def apply_settings(self, new: EngineSettings) -> bool:
        """Adopt settings made elsewhere (another process) if they are newer. Returns True if applied."""
        with self._settings_lock:
            if new.version <= self._settings.version:
                return False
            self._apply(new)
            return True

    def _apply(self, new: EngineSettings) -> None:
        self._settings = new
        self.settings_log.append((time.time(), new))
        del self.settings_log[:-200]
        self.c.metrics.set_settings_version(new.version)
        if self.loop is not None and self.loop.is_running():
            self.loop.call_soon_threadsafe(self.admission.configure, new.max_concurrent, new.queue_limit)
        else:
            self.admission.configure(new.max_concurrent, new.queue_limit)

    # ---- running ---------------------------------------------------------------------------
    def parse_query(self, query: ResearchQuery | dict[str, Any] | str) -> ResearchQuery:
        """Validate user input (raises InvalidInput naming the field and the limit)."""
        return parse_query(query, self.c.sources)

    async def run(
        self, query: ResearchQuery | dict[str, Any] | str, *, run_id: str | None = None
    ) -> ResearchResult:
        """Run one workflow to completion and return its result (raises Overloaded when full)."""
        record = await self._run(self.parse_query(query), run_id or new_id(), raise_errors=True)
        assert record.result is not None
        return record.result

    def submit(self, query: ResearchQuery | dict[str, Any] | str) -> str:
        """Validate, schedule and return the run id at once; poll ``get_record`` or ``wait``.

        Thread-safe: the run is handed to the engine's loop."""
        assert self.loop is not None, "engine is not open"
        parsed = self.parse_query(query)
        run_id = new_id()
        self._remember(RunRecord(run_id=run_id, query=parsed, settings_version=self.settings.version))
        self.loop.call_soon_threadsafe(self._spawn, parsed, run_id, self.settings)
        return run_id

    def _spawn(self, query: ResearchQuery, run_id: str, settings: EngineSettings) -> None:
        self.track(asyncio.ensure_future(self._run(query, run_id, settings=settings)))

    async def continue_run(
        self,
        query: ResearchQuery,
        run_id: str,
        settings: EngineSettings,
        continuation: Continuation,
        *,
        raise_errors: bool = True,
    ) -> RunRecord:
        """Run ``run_id`` from a checkpoint (resume, replay, fork) under admission control, recorded
        like any run. Callers: ``core.durable``."""
        return await self._run(
            query, run_id, settings=settings, raise_errors=raise_errors, continuation=continuation
        )

    def get_record(self, run_id: str) -> RunRecord:
        try:
            return self.records[run_id]
        except KeyError:
            raise RunNotFound(f"no run {run_id!r} in this engine's recent records") from None

    async def wait(self, run_id: str, timeout: float | None = None) -> RunRecord:
        """Wait for a submitted run to finish (any status) and return its record."""
        record = self.get_record(run_id)
        if record.finished_at is not None:
            return record
        waiter = self._waiters.setdefault(run_id, asyncio.get_running_loop().create_future())
        return await asyncio.wait_for(asyncio.shield(waiter), timeout)

    def _remember(self, record: RunRecord) -> None:
        self.records[record.run_id] = record
        self.records.move_to_end(record.run_id)
        while len(self.records) > MAX_RECORDS:
            self.records.popitem(last=False)

    def _finish(self, record: RunRecord) -> RunRecord:
        record.finished_at = utcnow()
        self._remember(record)
        waiter = self._waiters.pop(record.run_id, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(record)
        return record

    async def _run(
        self,
        query: ResearchQuery,
        run_id: str,
        *,
        settings: EngineSettings | None = None,
        raise_errors: bool = False,
        continuation: Continuation | None = None,
    ) -> RunRecord:
        """Run under admission control; the record is kept whatever happens.

        With ``raise_errors`` the typed error (Overloaded, ModelError, ...) is re-raised after it
        was recorded; submitted runs only record it.
        """
        settings = settings or self.settings  # the version in force when this run was accepted
        metrics = self.c.metrics
        record = RunRecord(run_id=run_id, query=query, settings_version=settings.version)
        self._remember(record)
        try:
            # A result-cache hit needs no workflow slot: answering it before admission keeps hits
            # (0.1 ms) from queueing behind uncached runs (~1 s with model latency) under load.
            if continuation is None and settings.cache != "off" and self.c.cache is not None:
                record.started_at = utcnow()
                hit = await self._cached(query, run_id, settings)
                if hit is not None:
                    record.result, record.status = hit, hit.status
                    return record
            async with self.admission.slot():
                metrics.set_active(self.admission.active)
                metrics.set_queue_depth(self.admission.waiting)
                record.status, record.started_at = RunStatus.RUNNING, utcnow()
                started = time.perf_counter()
                try:
                    profiler = self.c.profiler
                    if profiler is not None and profiler.active:  # on demand only: one attribute read
                        record.result = await profiler.run(
                            lambda: self._execute(query, run_id, settings, continuation)
                        )
                    else:
                        record.result = await self._execute(query, run_id, settings, continuation)
                    record.status = record.result.status
                except asyncio.CancelledError:
                    record.status, record.error = RunStatus.ERROR, "cancelled"
                    raise
                except Exception as exc:  # recorded, never lost; a non-ResearchOps error is a bug
                    record.status = RunStatus.ERROR
                    record.error = (
                        str(exc) if isinstance(exc, ResearchOpsError) else f"{type(exc).__name__}: {exc}"
                    )
                    metrics.observe_run(
                        status="error",
                        seconds=time.perf_counter() - started,
                        phases={},
                        nodes=[],
                        settings_version=settings.version,
                    )
                    if raise_errors:
                        raise
                finally:
                    metrics.set_active(self.admission.active - 1)
        except Overloaded as exc:
            record.status, record.error = RunStatus.REJECTED, str(exc)
            metrics.rejected()
            if raise_errors:
                raise
        finally:
            metrics.set_queue_depth(self.admission.waiting)
            self._finish(record)
        return record

    def graph(self, settings: EngineSettings) -> Any:
        """The compiled graph for ``settings``, built once per ``GraphKey`` (everything it is built
        from, so a live change of execution, cache mode or ``node_ttl_s`` takes effect)."""
        levels = settings.cache if self.c.graph_cache is not None else "off"
        key: GraphKey = (settings.execution, levels, settings.node_ttl_s)
        graph = self._graphs.get(key)
        if graph is None:
            graph = build_graph(
                self.deps,
                execution=settings.execution,
                model=self.c.agents.model_identity,
                ttl_s=settings.node_ttl_s,
                cache=self.c.graph_cache.with_levels(levels)
                if self.c.graph_cache and levels != "off"
                else None,
                checkpointer=self.c.checkpointer,
            )
            self._graphs[key] = graph
        return graph

    async def _execute(
        self,
        query: ResearchQuery,
        run_id: str,
        settings: EngineSettings,
        continuation: Continuation | None = None,
    ) -> ResearchResult:
        names = list(query.domains or self.c.sources)
        versions = [(n, self.c.sources[n].version) for n in names]
        model = self.c.agents.model_identity
        ctx = RunContext(run_id=run_id, settings=settings, query_tag=query_tag(query.question))
        token = current_run.set(ctx)
        cont = continuation
        log = EventBuilder(run_id, cont.start_seq if cont else 0) if self.c.events is not None else None
        if log is not None and not (cont and cont.start_seq):  # a claimed run's log has its start
            started = log.started(query, settings.version, settings.modes())
            data = {**started.data, "owner": process_owner(), **(cont.started if cont else {})}
            self.c.events.put([started.model_copy(update={"data": data})])  # type: ignore[union-attr]
        result: ResearchResult | None = None
        logged = 0  # ctx.events already handed to the writer
        try:
            cache_on = settings.cache != "off" and self.c.cache is not None
            key = result_key(query.question, query.max_sources, versions, model) if cache_on else ""
            graph = self.graph(settings)
            state: dict[str, Any] = {}
            graph_input: dict[str, Any] | None = {"query": query.model_dump(mode="json")}
            kwargs: dict[str, Any] = {}
            if self.c.checkpointer is not None:
                # one checkpoint thread per run: resume, replay and fork address it by run id
                kwargs = {
                    "config": {"configurable": {"thread_id": run_id}},
                    "durability": DURABILITY,
                }
                if cont is not None:
                    if cont.seed is not None:
                        await cont.seed(graph, kwargs["config"])
                    graph_input = cont.input
            async for chunk in graph.astream(graph_input, stream_mode="values", **kwargs):
                state = chunk  # the last chunk is the final state (as ainvoke returns it)
                # hand each superstep's events over as it ends: a crashed run keeps its timeline
                if log is not None and len(ctx.events) > logged:
                    logged = self._log_events(log, ctx, None, logged)
            if cont is not None and not state:  # resumed a thread that had already finished
                state = dict((await graph.aget_state(kwargs["config"])).values)
            result = result_from_state(
                query, state, ctx, settings_version=settings.version, model=model, end=time.perf_counter()
            )
            if cache_on and result.status == RunStatus.OK and (cont is None or cont.cacheable):
                assert self.c.cache is not None  # cache_on says so
                with ctx.span("cache"):
                    await self.c.cache.set(
                        RESULT_NS,
                        key,
                        result.model_dump(mode="json"),
                        ttl_s=settings.result_ttl_s,
                        levels=settings.cache,
                        tags=(ctx.query_tag,),
                    )
                # the span above happened after the result's phases were taken; fold it in
                result.phases = ctx.phase_breakdown()
                result.processing_time_s = time.perf_counter() - ctx.t0
            self._observe(ctx, result)
            return result
        except Exception as exc:
            if log is not None:
                ctx.event("error", message=str(exc) or type(exc).__name__)
            raise
        finally:
            current_run.reset(token)
            if log is not None:
                self._log_events(log, ctx, result, logged, final=True)

    async def _cached(
        self, query: ResearchQuery, run_id: str, settings: EngineSettings
    ) -> ResearchResult | None:
        """The whole result from the cache (L1, then L2), or None on a miss."""
        names = list(query.domains or self.c.sources)
        versions = [(n, self.c.sources[n].version) for n in names]
        key = result_key(query.question, query.max_sources, versions, self.c.agents.model_identity)
        ctx = RunContext(run_id=run_id, settings=settings, query_tag=query_tag(query.question))
        token = current_run.set(ctx)
        try:
            with ctx.span("cache"):
                cached, level = await self.c.cache.get(RESULT_NS, key, levels=settings.cache)  # type: ignore[union-attr]
            if cached is None:
                return None
            with ctx.span("validation"):
                valid = ResearchResult.model_validate(cached)
            result = result_from_cache(
                valid, query, ctx, settings_version=settings.version, level=level, end=time.perf_counter()
            )
        finally:
            current_run.reset(token)
        self._observe(ctx, result)
        if self.c.events is not None:
            log = EventBuilder(run_id)
            started = log.started(query, settings.version, settings.modes())
            self.c.events.put(
                [
                    started.model_copy(update={"data": {**started.data, "owner": process_owner()}}),
                    log.completed(result),
                ]
            )
        return result

    def _log_events(
        self,
        log: EventBuilder,
        ctx: RunContext,
        result: ResearchResult | None,
        start: int,
        *,
        final: bool = False,
    ) -> int:
        """Queue ``ctx.events[start:]`` (and, when ``final``, cache hits and the outcome); returns
        how many of ``ctx.events`` are now queued."""
        end = len(ctx.events)
        # RunContext keeps event kinds as plain str (it imports nothing); they are EventType names
        events = [log.emit(kind, **data) for kind, data in ctx.events[start:end]]  # type: ignore[arg-type]
        if final:
            for node in sorted(ctx.cache_hits):
                events.append(log.emit("node_finished", node=node, duration_s=0.0, cache_hit=True))
            if result is not None:
                events.append(log.completed(result))
        self.c.events.put(events)  # type: ignore[union-attr]
        return end

    def _observe(self, ctx: RunContext, result: ResearchResult) -> None:
        self.c.metrics.observe_run(
            status=result.status.value,
            seconds=result.processing_time_s,
            phases=result.phases,
            nodes=[(t.node.split("[")[0], t.duration_s) for t in result.timings if not t.cache_hit],
            settings_version=result.settings_version,
        )
        self.c.metrics.tokens(ctx.tokens["input"], ctx.tokens["output"])

    # ---- cache ------------------------------------------------------------------------------
    async def purge_cache(self, *, node: str | None = None, question: str | None = None) -> int:
        """Purge all entries, one node's (``node``; ``result`` = whole results) or one question's."""
        if self.c.cache is None:
            return 0
        if question:
            return int(await self.c.cache.purge(tag=query_tag(question)))
        return int(await self.c.cache.purge(namespace=node))

    # ---- introspection ---------------------------------------------------------------------
    def recent(self, n: int = 50) -> Sequence[RunRecord]:
        return list(self.records.values())[-n:]
