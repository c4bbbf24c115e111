"""The engine: runs research workflows under admission control with the live settings.

One long-lived event loop owns the engine's resources (the Redis client, the graph, the sources).
From async code on that loop, ``await engine.run(query)``; from sync code (Streamlit, the CLI) use
``Engine.start_in_thread(...)`` and ``engine.run_sync(query)`` / ``engine.submit(query)``, which hand
the work to the engine's loop thread.

    engine = Engine.start_in_thread(lambda: build_components(Settings()))
    result = engine.run_sync(ResearchQuery(question="How do I run coroutines concurrently?"))
    engine.close()
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from core.admission import Admission
from core.cache.keys import normalize_question, result_key, stable_key
from core.config import EngineSettings
from core.errors import Overloaded, ResearchOpsError, RunNotFound
from core.models import (
    FailedSource,
    Finding,
    NodeTiming,
    ResearchQuery,
    ResearchResult,
    RunRecord,
    RunStatus,
    new_id,
    parse_query,
    utcnow,
)
from core.runctx import RunContext, current_run
from core.store.events import EventBuilder
from core.workflow.graph import build_graph
from core.workflow.nodes import WorkflowDeps

RESULT_NS = "result"
MAX_RECORDS = 2_000
DURABILITY = "async"
"""LangGraph durability: a superstep's checkpoint is written while the next step runs (each
finished task's writes are saved as it finishes), so a crash loses at most the step in flight."""


def process_owner() -> str:
    """``host:pid`` of this process; recorded in ``started`` events so recovery only claims runs
    whose owner process is dead on the same host."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class Continuation:
    """How a run starts from a checkpoint instead of from its query (``core.durable``).

    ``seed`` writes the run's first checkpoint (fork/replay; None = resume the thread as it is);
    ``input`` is passed to the graph instead (a fork from the first node); ``started`` adds data
    to the ``started`` event; ``start_seq`` > 0 continues an event log (recovery claimed it);
    ``cacheable`` stores the result in the whole-result cache (only for unedited runs).
    """

    seed: Callable[[Any, dict[str, Any]], Awaitable[Any]] | None = None
    input: dict[str, Any] | None = None
    started: dict[str, Any] = field(default_factory=dict)
    start_seq: int = 0
    cacheable: bool = False


@dataclass
class Components:
    """Everything an engine is built from; made by ``core.factory.build_components``."""

    sources: dict[str, Any]
    agents: Any
    metrics: Any
    cache: Any | None = None
    """A ``TieredCache`` (None: caching unavailable whatever the mode)."""
    graph_cache: Any | None = None
    """A LangGraph ``BaseCache`` over the same tiers, for the per-node cache."""
    store: Any | None = None
    """A ``RunStore`` for history (None: records stay in memory only)."""
    events: Any | None = None
    """The ``EventWriter`` that appends run events to ``store`` in the background."""
    profiler: Any | None = None
    checkpointer: Any | None = None
    """A LangGraph checkpoint saver (``core.durable.open_checkpointer``); None: no checkpoints,
    so no crash recovery, replay or fork."""
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)


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
        self._graphs: dict[tuple[str, bool], Any] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
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
        """Build an engine on the running loop (async callers: API, workers, load runner)."""
        engine = cls(await build(), settings)
        engine.loop = asyncio.get_running_loop()
        engine.c.metrics.set_settings_version(engine.settings.version)
        if engine.c.checkpointer is not None and engine.c.store is not None:
            # off the hot path: start-up does not wait for interrupted runs to be resumed
            engine._track(asyncio.ensure_future(engine.recover()))
        return engine

    async def recover(self) -> list[str]:
        """Resume the runs a dead process on this host left ``running``; returns their ids."""
        from core.durable import recover  # durable builds on the engine, not the reverse

        return await recover(self)

    def _track(self, task: asyncio.Task[Any]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @classmethod
    def start_in_thread(
        cls,
        build: Callable[[], Awaitable[Components]],
        settings: EngineSettings | None = None,
        *,
        timeout: float = 300.0,
    ) -> Engine:
        """Start a loop thread, build the engine on it, and return once it is ready."""
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="researchops-engine", daemon=True)
        thread.start()
        try:
            engine = asyncio.run_coroutine_threadsafe(cls.open(build, settings), loop).result(timeout)
        except BaseException:
            loop.call_soon_threadsafe(loop.stop)
            raise
        engine._thread = thread
        return engine

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

    def close(self, timeout: float = 30.0) -> None:
        """Close from sync code; stops the loop thread if this engine owns one."""
        if self.loop is None:
            return
        if self._thread is not None:
            try:
                asyncio.run_coroutine_threadsafe(self.aclose(), self.loop).result(timeout)
            finally:
                self.loop.call_soon_threadsafe(self.loop.stop)
                self._thread.join(timeout)
                self._thread = None

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
        if self.loop is not None and asyncio.get_running_loop() is not self.loop:
            fut = asyncio.run_coroutine_threadsafe(self.run(query, run_id=run_id), self.loop)
            return await asyncio.wrap_future(fut)
        record = await self._run(self.parse_query(query), run_id or new_id(), raise_errors=True)
        assert record.result is not None
        return record.result

    def run_sync(
        self, query: ResearchQuery | dict[str, Any] | str, timeout: float | None = None
    ) -> ResearchResult:
        """Blocking ``run`` for sync callers (not from the engine's own loop)."""
        assert self.loop is not None, "engine is not started"
        return asyncio.run_coroutine_threadsafe(self.run(query), self.loop).result(timeout)

    def submit(self, query: ResearchQuery | dict[str, Any] | str) -> str:
        """Validate, schedule and return the run id at once; poll ``get_record`` or ``wait``."""
        assert self.loop is not None, "engine is not started"
        parsed = self.parse_query(query)
        run_id = new_id()
        self._remember(RunRecord(run_id=run_id, query=parsed, settings_version=self.settings.version))
        self.loop.call_soon_threadsafe(self._spawn, parsed, run_id, self.settings)
        return run_id

    def _spawn(self, query: ResearchQuery, run_id: str, settings: EngineSettings) -> None:
        self._track(asyncio.ensure_future(self._run(query, run_id, settings=settings)))

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
        if self.loop is not None and asyncio.get_running_loop() is not self.loop:
            coro = self.continue_run(query, run_id, settings, continuation, raise_errors=raise_errors)
            return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self.loop))
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
        if self.loop is not None and asyncio.get_running_loop() is not self.loop:
            fut = asyncio.run_coroutine_threadsafe(self.wait(run_id, timeout), self.loop)
            return await asyncio.wrap_future(fut)
        record = self.get_record(run_id)
        if record.finished_at is not None:
            return record
        waiter = self._waiters.setdefault(run_id, asyncio.get_running_loop().create_future())
        return await asyncio.wait_for(asyncio.shield(waiter), timeout)

    def wait_sync(self, run_id: str, timeout: float | None = None) -> RunRecord:
        assert self.loop is not None, "engine is not started"
        return asyncio.run_coroutine_threadsafe(self.wait(run_id, timeout), self.loop).result(timeout)

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

    def _graph(self, settings: EngineSettings) -> Any:
        use_cache = settings.cache != "off" and self.c.graph_cache is not None
        key = (settings.execution, use_cache)
        graph = self._graphs.get(key)
        if graph is None:
            graph = build_graph(
                self.deps,
                execution=settings.execution,
                model=self.c.agents.model_identity,
                ttl_s=settings.node_ttl_s,
                cache=self.c.graph_cache if use_cache else None,
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
        ctx = RunContext(run_id=run_id, settings=settings, query_tag=question_tag(query.question))
        token = current_run.set(ctx)
        cont = continuation
        log = EventBuilder(run_id, cont.start_seq if cont else 0) if self.c.events is not None else None
        if log is not None and not (cont and cont.start_seq):  # a claimed run's log has its start
            started = log.started(query, settings.version, settings.modes())
            data = {**started.data, "owner": process_owner(), **(cont.started if cont else {})}
            writer: Any = self.c.events
            writer.put([started.model_copy(update={"data": data})])
        result: ResearchResult | None = None
        logged = 0  # ctx.events already handed to the writer
        try:
            cache_on = settings.cache != "off" and self.c.cache is not None
            key = result_key(query.question, query.max_sources, versions, model) if cache_on else ""
            graph = self._graph(settings)
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
            result = self._result(query, state, ctx, settings, model)
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
        ctx = RunContext(run_id=run_id, settings=settings, query_tag=question_tag(query.question))
        token = current_run.set(ctx)
        try:
            with ctx.span("cache"):
                cached, level = await self.c.cache.get(RESULT_NS, key, levels=settings.cache)  # type: ignore[union-attr]
            if cached is None:
                return None
            result = self._from_cache(cached, query, ctx, settings, level)
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
        self, log: Any, ctx: RunContext, result: ResearchResult | None, start: int, *, final: bool = False
    ) -> int:
        """Queue ``ctx.events[start:]`` (and, when ``final``, cache hits and the outcome); returns
        how many of ``ctx.events`` are now queued."""
        end = len(ctx.events)
        events = [log.emit(kind, **data) for kind, data in ctx.events[start:end]]
        if final:
            for node in sorted(ctx.cache_hits):
                events.append(log.emit("node_finished", node=node, duration_s=0.0, cache_hit=True))
            if result is not None:
                events.append(log.completed(result))
        writer: Any = self.c.events
        writer.put(events)
        return end

    def _from_cache(
        self, cached: Any, query: ResearchQuery, ctx: RunContext, settings: EngineSettings, level: str | None
    ) -> ResearchResult:
        with ctx.span("validation"):
            result = ResearchResult.model_validate(cached)
        end = time.perf_counter()
        result.query_id = query.id
        result.cached = True
        result.timings = [
            NodeTiming(node=f"result_cache[{level}]", start_s=0.0, duration_s=end - ctx.t0, cache_hit=True)
        ]
        result.phases = ctx.phase_breakdown(end)
        result.processing_time_s = end - ctx.t0
        result.settings_version = settings.version
        result.emulated = False
        return result

    def _result(
        self,
        query: ResearchQuery,
        state: dict[str, Any],
        ctx: RunContext,
        settings: EngineSettings,
        model: str,
    ) -> ResearchResult:
        end = time.perf_counter()
        failed = [FailedSource(**f) for f in state.get("failed_sources", [])]
        failed_names = {f.source for f in failed}
        used = [s for s in state.get("sources", []) if s not in failed_names]
        timings = [NodeTiming(node=n, start_s=s - ctx.t0, duration_s=e - s) for n, s, e in ctx.node_runs]
        ran = {t.node.split("[")[0] for t in timings}
        timings += [
            NodeTiming(node=n, start_s=0.0, duration_s=0.0, cache_hit=True)
            for n in sorted(ctx.cache_hits - ran)
        ]
        timings.sort(key=lambda t: t.start_s)
        status = RunStatus.OK if not failed else (RunStatus.PARTIAL if used else RunStatus.ERROR)
        return ResearchResult(
            query_id=query.id,
            question=query.question,
            findings=[Finding(**f) for f in state.get("findings", [])],
            summary=state.get("summary", ""),
            confidence=state.get("confidence", 0.0),
            key_terms=state.get("terms", []),
            sources_used=used,
            failed_sources=failed,
            timings=timings,
            phases=ctx.phase_breakdown(end),
            processing_time_s=end - ctx.t0,
            status=status,
            emulated=ctx.emulated,
            settings_version=settings.version,
            model=model,
        )

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
            return int(await self.c.cache.purge(tag=question_tag(question)))
        return int(await self.c.cache.purge(namespace=node))

    def call_sync(self, coro: Awaitable[Any], timeout: float | None = 60.0) -> Any:
        """Run a coroutine of this engine on its loop from sync code and return its result."""
        assert self.loop is not None, "engine is not started"
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)  # type: ignore[arg-type]

    # ---- introspection ---------------------------------------------------------------------
    def recent(self, n: int = 50) -> Sequence[RunRecord]:
        return list(self.records.values())[-n:]

    def sources_info(self) -> list[dict[str, Any]]:
        return [
            {
                "name": n,
                "description": getattr(s, "description", ""),
                "doc_count": getattr(s, "doc_count", 0),
                "version": s.version,
            }
            for n, s in self.c.sources.items()
        ]


def question_tag(question: str) -> str:
    """The cache tag of every entry computed for this question (whatever its other options)."""
    return stable_key("question", normalize_question(question))
