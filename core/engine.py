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
import functools
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from core.admission import Admission
from core.cache.keys import query_tag
from core.cache.results import ResultCache
from core.components import Components, Continuation, process_owner
from core.config import EngineSettings
from core.errors import InvalidInput, Overloaded, ResearchOpsError, RunNotFound
from core.models import ResearchQuery, ResearchResult, RunRecord, RunStatus, new_id, parse_query, utcnow
from core.runctx import RunContext, current_run
from core.store.events import EventBuilder
from core.store.lease import LeaseKeeper
from core.store.runlog import log_answer, log_progress
from core.workflow.graph import build_graph
from core.workflow.nodes import WorkflowDeps
from core.workflow.result import result_for_follower, result_from_cache, result_from_state

MAX_RECORDS = 2_000
DURABILITY = "async"
"""LangGraph durability: a superstep's checkpoint is written while the next step runs (each
finished task's writes are saved as it finishes), so a crash loses at most the step in flight."""
GraphKey = tuple[str, str, int]
"""What a compiled graph is built from: (execution, node-cache levels or "off", node_ttl_s)."""


class Engine:
    """Admission control, result cache, graph runs and run records around the workflow.

    Concurrent misses of one result key share one graph run and one slot (``ResultCache.flight``);
    the per-node cache does the same for node keys. Runs with ``cache="off"`` never coalesce."""

    def __init__(self, components: Components, settings: EngineSettings | None = None) -> None:
        self.c = components
        self._settings = settings or EngineSettings()
        self._settings_lock = threading.Lock()
        self.settings_log: list[tuple[float, EngineSettings]] = [(time.time(), self._settings)]
        self.admission = Admission(
            self._settings.max_concurrent,
            self._settings.queue_limit,
            queue_deadline_s=self._settings.queue_deadline_s,  # H15: queue deadline
        )
        self.records: OrderedDict[str, RunRecord] = OrderedDict()
        self._waiters: dict[str, asyncio.Future[RunRecord]] = {}
        self._graphs: dict[GraphKey, Any] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.results = (
            ResultCache(components.cache, components.sources, components.agents.model_identity)
            if components.cache is not None
            else None
        )
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
        if changes.get("agents") == "direct" and not self.c.agents.direct_capable:
            raise InvalidInput(
                [
                    {
                        "field": "agents",
                        "message": f"'direct' calls the offline model's functions; model "
                        f"{self.c.agents.model_name!r} runs through 'pydantic_ai' only",
                    }
                ]
            )
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
        # H15: queue deadline passed along with the limits
        configure = functools.partial(
            self.admission.configure,
            new.max_concurrent,
            new.queue_limit,
            queue_deadline_s=new.queue_deadline_s,
        )
        if self.loop is not None and self.loop.is_running():
            self.loop.call_soon_threadsafe(configure)
        else:
            configure()

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
            if continuation is None and settings.cache != "off" and self.results is not None:
                # A result-cache hit needs no workflow slot: answering it before admission keeps hits
                # (0.1 ms) from queueing behind uncached runs (~1 s with model latency) under load.
                record.started_at = utcnow()
                key = self.results.key(query)
                result = await self._cached(query, run_id, settings, key)
                if result is None:
                    # Singleflight: concurrent misses of one key share the first one's run (and
                    # its slot); the others get a copy under their own run id, or its error.
                    t0, led = time.perf_counter(), []

                    def lead() -> Awaitable[ResearchResult]:
                        led.append(True)
                        return self._admitted(query, run_id, settings, None, record)

                    try:
                        result, shared = await self.results.flight.do(key, lead)
                    except Exception as exc:
                        if not led and not isinstance(exc, Overloaded):  # a follower of a failed run
                            metrics.observe_run("error", time.perf_counter() - t0, {}, (), settings.version)
                        raise
                    if shared:
                        result = self._follow(result, query, run_id, settings, t0)
            else:
                result = await self._admitted(query, run_id, settings, continuation, record)
            record.result, record.status = result, result.status
        except asyncio.CancelledError:
            record.status, record.error = RunStatus.ERROR, "cancelled"
            raise
        except Overloaded as exc:
            record.status, record.error = RunStatus.REJECTED, str(exc)
            metrics.rejected()
            if raise_errors:
                raise
        except Exception as exc:  # recorded, never lost; a non-ResearchOps error is a bug
            record.status = RunStatus.ERROR
            record.error = str(exc) if isinstance(exc, ResearchOpsError) else f"{type(exc).__name__}: {exc}"
            if raise_errors:
                raise
        finally:
            self._finish(record)
        return record

    async def _admitted(
        self,
        query: ResearchQuery,
        run_id: str,
        settings: EngineSettings,
        continuation: Continuation | None,
        record: RunRecord,
    ) -> ResearchResult:
        """Take a workflow slot (raises Overloaded) and run the graph in it."""
        metrics = self.c.metrics
        try:
            async with self.admission.slot():
                metrics.set_active(self.admission.active)
                metrics.set_queue_depth(self.admission.waiting)
                record.status, record.started_at = RunStatus.RUNNING, utcnow()
                started = time.perf_counter()
                try:
                    profiler = self.c.profiler
                    if profiler is not None and profiler.active:  # on demand only: one attribute read
                        return await profiler.run(
                            lambda: self._execute(query, run_id, settings, continuation)
                        )
                    return await self._execute(query, run_id, settings, continuation)
                except Exception:
                    metrics.observe_run(
                        status="error",
                        seconds=time.perf_counter() - started,
                        phases={},
                        nodes=[],
                        settings_version=settings.version,
                    )
                    raise
                finally:
                    metrics.set_active(self.admission.active - 1)
        finally:  # admitted, refused or cancelled while queued: the queue changed (hits never queue)
            metrics.set_queue_depth(self.admission.waiting)

    def _follow(
        self, leader: ResearchResult, query: ResearchQuery, run_id: str, settings: EngineSettings, t0: float
    ) -> ResearchResult:
        """A follower's answer: the leader's, under this run's id and timing (``coalesced``)."""
        wall = time.perf_counter() - t0
        result = result_for_follower(leader, query, run_id, settings_version=settings.version, wall_s=wall)
        metrics = self.c.metrics
        metrics.coalesced("result")
        # counted as a run (its wait is its latency); its phases and nodes were the leader's
        metrics.observe_run(
            status=result.status.value, seconds=wall, phases={}, nodes=[], settings_version=settings.version
        )
        log_answer(self.c.events, query, run_id, settings, result)
        return result

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
                cache=self.c.graph_cache.with_levels(levels, on_coalesced=self._node_coalesced)
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
        model = self.c.agents.model_identity
        ctx = RunContext(run_id=run_id, settings=settings, query_tag=query_tag(query.question))
        # H15 run lease (core.store.lease): one owner per run, taken before the first node (raises
        # RunOwned when another execution has or had it), renewed while it runs, released below
        lease = LeaseKeeper(self.c.store, run_id, process_owner(), on_degraded=self.c.metrics.degraded)
        await lease.take(fresh=continuation is None)
        token = current_run.set(ctx)
        cont = continuation
        log = EventBuilder(run_id, cont.start_seq if cont else 0) if self.c.events is not None else None
        if log is not None and not (cont and cont.start_seq):  # a claimed run's log has its start
            started = log.started(query, settings.version, settings.modes())
            data = {
                **started.data,
                "owner": process_owner(),
                "attempt": lease.attempt,  # H15: each execution's attempt number
                **(cont.started if cont else {}),
            }
            self.c.events.put([started.model_copy(update={"data": data})])  # type: ignore[union-attr]
        result: ResearchResult | None = None
        logged = 0  # ctx.events already handed to the writer
        try:
            results = self.results if settings.cache != "off" else None
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
                    logged = log_progress(self.c.events, log, ctx, None, logged)  # type: ignore[arg-type]
            if cont is not None and not state:  # resumed a thread that had already finished
                state = dict((await graph.aget_state(kwargs["config"])).values)
            result = result_from_state(
                query, state, ctx, settings_version=settings.version, model=model, end=time.perf_counter()
            )
            if results is not None and result.status == RunStatus.OK and (cont is None or cont.cacheable):
                with ctx.span("cache"):
                    await results.put(
                        results.key(query),
                        result,
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
            if self.c.graph_cache is not None:
                self.c.graph_cache.release(run_id)  # node keys this run claimed but never wrote
            if log is not None:
                log_progress(self.c.events, log, ctx, result, logged, final=True)  # type: ignore[arg-type]
            # H15: a cancelled execution (shutdown, hand-back) leaves the run free to take
            task = asyncio.current_task()
            await lease.release(finished=not (task is not None and task.cancelling()))

    async def _cached(
        self, query: ResearchQuery, run_id: str, settings: EngineSettings, key: str
    ) -> ResearchResult | None:
        """The whole result from the cache (L1, then L2) as this run's answer, or None on a miss."""
        ctx = RunContext(run_id=run_id, settings=settings)
        start = time.perf_counter()
        cached, level = await self.results.get(key, settings.cache, ctx)  # type: ignore[union-attr]
        if cached is None:
            return None
        ctx.add_span("cache", start, time.perf_counter())
        result = result_from_cache(
            cached, query, ctx, settings_version=settings.version, level=level, end=time.perf_counter()
        )
        self.c.metrics.observe_run(
            status=result.status.value,
            seconds=result.processing_time_s,
            phases={p: s for p, s in result.phases.items() if s},  # a hit has 2 of 6: skip the zeros
            nodes=(),
            settings_version=result.settings_version,
        )
        log_answer(self.c.events, query, run_id, settings, result)
        return result

    def _node_coalesced(self) -> None:
        self.c.metrics.coalesced("node")

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

    async def catch_up_events(self, *, force: bool = True) -> None:
        """Append the run events this process still has queued, so a read of the run store that
        follows sees the runs that just finished here (read your own writes). ``force=False``
        keeps the writer's back-off while the store is down (page and API reads)."""
        if self.c.events is not None:
            await self.c.events.flush(force=force)

    # ---- introspection ---------------------------------------------------------------------
    def recent(self, n: int = 50) -> Sequence[RunRecord]:
        return list(self.records.values())[-n:]
