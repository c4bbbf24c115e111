"""Scale-out workers: research runs on a taskiq queue over a Redis stream.

Why taskiq + ``RedisStreamBroker``: it is asyncio-native (our engine is async), and a Redis stream
with a consumer group gives what a list queue cannot: a message stays *pending* until the worker
acknowledges it, which it does only after the result is saved (``WHEN_SAVED``), so a worker killed
mid-run loses nothing. Three gaps of the stock broker are closed by ``ResearchBroker``:

* it reclaims other consumers' stale pending messages (``XAUTOCLAIM``) only right after new messages
  arrived; on a quiet queue a dead worker's run would wait forever. We reclaim on every poll.
* ``idle_timeout`` alone cannot tell a dead worker from a slow one. Live workers re-claim their own
  in-flight messages every ``idle_timeout / 3`` (``XCLAIM ... JUSTID``, a heartbeat), so only the
  messages of a dead worker ever go idle long enough to be taken.
* it reads 100 messages per ``XREADGROUP``, so one worker hoards the queue; we read one at a time,
  only when a slot is free, which spreads runs across workers.

Graceful shutdown (SIGTERM/SIGINT): stop taking messages, let in-flight runs finish for up to
``shutdown_timeout_s``, then hand the rest back (re-add to the stream + ack the old delivery in one
transaction) so another worker starts them at once, and exit.

Each worker process opens one engine at startup, adopts the shared settings (``SettingsSync``),
and checks the settings version before each run. Results carry the id of the worker that ran them.

    researchops worker --concurrency 4            # or: python -m core.worker --concurrency 4

    async with WorkerPool("redis://127.0.0.1:6379/0") as pool:
        result = await pool.run({"question": "How do I gather coroutines?"})
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import socket
import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pydantic import BaseModel
from redis.asyncio import Redis
from taskiq import AckableMessage
from taskiq.acks import AcknowledgeType
from taskiq.exceptions import NoResultError
from taskiq.kicker import AsyncKicker
from taskiq.receiver import Receiver
from taskiq.serializers import ORJSONSerializer
from taskiq_redis import RedisAsyncResultBackend, RedisStreamBroker

from core.config import EngineSettings, Settings
from core.errors import ConfigError, InvalidInput, ModelError, Overloaded, ResearchOpsError
from core.models import ResearchQuery, ResearchResult, new_id, parse_query
from core.settings_sync import SettingsSync

log = logging.getLogger(__name__)

QUEUE = "researchops:runs"
GROUP = "researchops-workers"
TASK_NAME = "researchops.research"
RESULT_TTL_S = 24 * 3600


# ---- the broker ----------------------------------------------------------------------------------
class ResearchBroker(RedisStreamBroker):
    """``RedisStreamBroker`` with reclaim-on-every-poll, a heartbeat and hand-back (module docstring)."""

    def __init__(
        self,
        url: str,
        *,
        queue: str = QUEUE,
        consumer_name: str | None = None,
        idle_timeout_s: float = 30.0,
        poll_ms: int = 1000,
    ) -> None:
        super().__init__(
            url,
            queue_name=queue,
            consumer_group_name=GROUP,
            consumer_name=consumer_name,
            consumer_id="0",  # a group created late still sees messages queued before it
            xread_block=poll_ms,
            xread_count=1,
            idle_timeout=int(idle_timeout_s * 1000),
            maxlen=1_000_000,
        )
        self.idle_timeout_s = idle_timeout_s
        self.inflight: dict[bytes, tuple[bytes, bytes]] = {}
        """Delivered, unacknowledged messages: id -> (stream, data)."""

    def _deliver(self, stream: bytes, msg_id: bytes, data: bytes) -> AckableMessage:
        self.inflight[msg_id] = (stream, data)

        async def ack() -> None:
            async with Redis(connection_pool=self.connection_pool) as conn:
                await conn.xack(stream, self.consumer_group_name, msg_id)
            self.inflight.pop(msg_id, None)

        return AckableMessage(data=data, ack=ack)

    async def listen(self) -> AsyncGenerator[AckableMessage, None]:
        async with Redis(connection_pool=self.connection_pool) as conn:
            while True:
                fetched: Any = await conn.xreadgroup(
                    self.consumer_group_name,
                    self.consumer_name,
                    {self.queue_name: ">"},
                    block=self.block,
                    count=1,
                )
                for stream, messages in fetched or []:
                    for msg_id, msg in messages:
                        yield self._deliver(stream, msg_id, msg[b"data"])
                # XAUTOCLAIM is atomic: two workers never take the same stale message.
                claimed: Any = await conn.xautoclaim(
                    self.queue_name,
                    self.consumer_group_name,
                    self.consumer_name,
                    min_idle_time=self.idle_timeout,
                    count=1,
                )
                for msg_id, msg in claimed[1]:
                    if msg:  # None when the entry was trimmed from the stream
                        log.info("reclaimed run message %s from a silent worker", msg_id)
                        yield self._deliver(self.queue_name.encode(), msg_id, msg[b"data"])

    async def heartbeat(self) -> None:
        """Keep this worker's in-flight messages from looking idle (runs until cancelled)."""
        while True:
            await asyncio.sleep(self.idle_timeout_s / 3)
            ids: list[Any] = list(self.inflight)
            if ids:
                async with Redis(connection_pool=self.connection_pool) as conn:
                    await conn.xclaim(
                        self.queue_name,
                        self.consumer_group_name,
                        self.consumer_name,
                        min_idle_time=0,
                        message_ids=ids,
                        justid=True,
                    )

    async def hand_back(self) -> int:
        """Requeue every unacknowledged delivery for another worker; returns how many."""
        items, self.inflight = list(self.inflight.items()), {}
        if not items:
            return 0
        async with (
            Redis(connection_pool=self.connection_pool) as conn,
            conn.pipeline(transaction=True) as pipe,
        ):
            for msg_id, (stream, data) in items:
                pipe.xadd(stream, {b"data": data})
                pipe.xack(stream, self.consumer_group_name, msg_id)
            await pipe.execute()
        return len(items)

    async def leave(self) -> None:
        """Remove this consumer from the group (its pending list is empty after ``hand_back``)."""
        async with Redis(connection_pool=self.connection_pool) as conn:
            with contextlib.suppress(Exception):
                await conn.xgroup_delconsumer(self.queue_name, self.consumer_group_name, self.consumer_name)


def make_broker(
    redis_url: str, *, queue: str = QUEUE, consumer_name: str | None = None, idle_timeout_s: float = 30.0
) -> ResearchBroker:
    """The broker + result backend both workers and clients use (results as JSON, never pickle)."""
    backend: RedisAsyncResultBackend[Any] = RedisAsyncResultBackend(
        redis_url, result_ex_time=RESULT_TTL_S, serializer=ORJSONSerializer(), prefix_str=queue
    )
    broker = ResearchBroker(
        redis_url, queue=queue, consumer_name=consumer_name, idle_timeout_s=idle_timeout_s
    )
    broker.with_result_backend(backend)
    return broker


# ---- what a task returns -------------------------------------------------------------------------
class WorkerRun(BaseModel):
    """One run done by a worker: the result and who ran it."""

    run_id: str
    worker_id: str
    """``host-pid-suffix`` of the worker process that produced the result."""
    result: ResearchResult


def _ok(run_id: str, worker_id: str, result: ResearchResult) -> dict[str, Any]:
    return {"ok": True, "run_id": run_id, "worker_id": worker_id, "result": result.model_dump(mode="json")}


def _failure(run_id: str, worker_id: str, exc: ResearchOpsError) -> dict[str, Any]:
    error: dict[str, Any] = {"type": type(exc).__name__, "message": str(exc)}
    if isinstance(exc, InvalidInput):
        error["errors"] = exc.errors
    if isinstance(exc, Overloaded):
        error.update(active=exc.active, queued=exc.queued, retry_after=exc.retry_after)
    return {"ok": False, "run_id": run_id, "worker_id": worker_id, "error": error}


def _raise_failure(error: dict[str, Any]) -> None:
    kind, message = error.get("type"), error.get("message", "worker run failed")
    if kind == "InvalidInput":
        raise InvalidInput(error.get("errors") or [{"field": "query", "message": message}])
    if kind == "Overloaded":
        raise Overloaded(error.get("active", 0), error.get("queued", 0), error.get("retry_after", 1.0))
    if kind == "ModelError":
        raise ModelError(message)
    raise ResearchOpsError(message)


# ---- the worker process --------------------------------------------------------------------------
class WorkerRuntime:
    """The state of one worker process: its engine, settings sync and in-flight runs."""

    def __init__(self, engine: Any, sync: SettingsSync, worker_id: str) -> None:
        self.engine, self.sync, self.worker_id = engine, sync, worker_id
        self.running: set[asyncio.Task[ResearchResult]] = set()
        self.handing_back = False

    async def research(self, query: dict[str, Any], run_id: str) -> dict[str, Any]:
        """The task body: run one query on this worker's engine under the newest settings."""
        await self.sync.refresh(self.engine)  # one GET: a missed pub/sub message cannot leave us behind
        run = asyncio.create_task(self.engine.run(query, run_id=run_id))
        self.running.add(run)
        try:
            result = await run
        except asyncio.CancelledError:
            if self.handing_back:  # requeued for another worker: save no result, ack nothing new
                raise NoResultError from None
            raise
        except ResearchOpsError as exc:
            return _failure(run_id, self.worker_id, exc)
        finally:
            self.running.discard(run)
        return _ok(run_id, self.worker_id, result)


def default_worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:4]}"


async def serve_worker(
    settings: Settings,
    concurrency: int,
    *,
    worker_id: str | None = None,
    engine_settings: EngineSettings | None = None,
    shutdown_timeout_s: float = 30.0,
    idle_timeout_s: float = 30.0,
    metrics_port: int | None = None,
    queue: str = QUEUE,
    stop: asyncio.Event | None = None,
    build: Callable[[], Awaitable[Any]] | None = None,
) -> None:
    """Run a worker on the current loop until ``stop`` is set (``run_worker`` wires signals to it)."""
    from core.engine import Engine
    from core.factory import build_components

    if not settings.redis_url:
        raise ConfigError("a worker needs REDIS_URL (the queue, the shared cache and settings live there)")
    if concurrency < 1:
        raise InvalidInput([{"field": "concurrency", "message": "must be at least 1"}])
    worker_id = worker_id or default_worker_id()
    stop = stop or asyncio.Event()
    sync = SettingsSync.from_url(settings.redis_url)
    shared = await sync.seed(engine_settings or EngineSettings())
    engine = await Engine.open(build or (lambda: build_components(settings)), shared)
    if metrics_port is not None:
        port = await asyncio.to_thread(engine.c.metrics.serve, metrics_port, "0.0.0.0")
        log.info("worker %s: metrics on port %d", worker_id, port)
    runtime = WorkerRuntime(engine, sync, worker_id)
    broker = make_broker(
        settings.redis_url, queue=queue, consumer_name=worker_id, idle_timeout_s=idle_timeout_s
    )

    async def research(query: dict[str, Any], run_id: str) -> dict[str, Any]:
        return await runtime.research(query, run_id)

    broker.register_task(research, task_name=TASK_NAME)
    broker.is_worker_process = True
    await broker.startup()
    sync.start(engine)
    heartbeat = asyncio.create_task(broker.heartbeat(), name="worker-heartbeat")
    log.info(
        "worker %s: ready (concurrency %d, settings v%d)", worker_id, concurrency, engine.settings.version
    )
    try:
        with ThreadPoolExecutor(max_workers=1) as executor:
            receiver = Receiver(
                broker,
                executor,
                max_async_tasks=concurrency,
                max_prefetch=0,
                ack_type=AcknowledgeType.WHEN_SAVED,
                wait_tasks_timeout=shutdown_timeout_s,
            )
            # returns after ``stop``: once in-flight runs finished or shutdown_timeout_s passed
            await receiver.listen(stop)
    finally:
        stop.set()
        runtime.handing_back = True
        handed = await broker.hand_back()
        for run in list(runtime.running):
            run.cancel()
        if runtime.running:
            await asyncio.wait(set(runtime.running), timeout=5.0)
        if handed:
            log.warning("worker %s: handed %d unfinished run(s) back to the queue", worker_id, handed)
        heartbeat.cancel()
        await broker.leave()
        await broker.shutdown()
        await sync.aclose()
        await engine.aclose()
        log.info("worker %s: stopped", worker_id)


def run_worker(settings: Settings, concurrency: int, **kwargs: Any) -> None:
    """Run a worker process until SIGTERM/SIGINT, then shut down gracefully (see ``serve_worker``).

    >>> run_worker(Settings(), concurrency=4)  # doctest: +SKIP
    """

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await serve_worker(settings, concurrency, stop=stop, **kwargs)

    asyncio.run(main())


# ---- the client ----------------------------------------------------------------------------------
class WorkerPool:
    """Run queries on the worker pool: kick a task, await its result (a load-runner target).

    >>> async with WorkerPool("redis://127.0.0.1:6379/0") as pool:  # doctest: +SKIP
    ...     result = await pool.run("How do I gather coroutines?")
    """

    def __init__(
        self, redis_url: str, *, queue: str = QUEUE, timeout_s: float = 600.0, poll_interval_s: float = 0.02
    ) -> None:
        self.broker = make_broker(redis_url, queue=queue)
        self.timeout_s, self.poll_interval_s = timeout_s, poll_interval_s
        self._started = False

    async def start(self) -> None:
        if not self._started:
            await self.broker.startup()
            self._started = True

    async def aclose(self) -> None:
        if self._started:
            await self.broker.shutdown()
            self._started = False

    async def __aenter__(self) -> WorkerPool:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def run(
        self, query: ResearchQuery | dict[str, Any] | str, *, run_id: str | None = None
    ) -> ResearchResult:
        """Run one query on some worker and return its result (typed errors as ``Engine.run``)."""
        return (await self.run_job(query, run_id=run_id)).result

    async def run_job(
        self, query: ResearchQuery | dict[str, Any] | str, *, run_id: str | None = None
    ) -> WorkerRun:
        """Like ``run``, with the run id and the id of the worker that ran it."""
        await self.start()
        parsed = parse_query(query)
        run_id = run_id or new_id()
        kicker: Any = AsyncKicker(task_name=TASK_NAME, broker=self.broker, labels={})
        task = await kicker.kiq(parsed.model_dump(mode="json"), run_id)
        outcome = await task.wait_result(check_interval=self.poll_interval_s, timeout=self.timeout_s)
        if outcome.is_err:
            raise ResearchOpsError(f"worker task failed: {outcome.error!r}")
        payload = outcome.return_value
        if not payload.get("ok"):
            _raise_failure(payload.get("error", {}))
        return WorkerRun(
            run_id=payload["run_id"],
            worker_id=payload["worker_id"],
            result=ResearchResult.model_validate(payload["result"]),
        )


# ---- command line --------------------------------------------------------------------------------
def register(subparsers: Any) -> None:
    """Add ``worker`` to the ``researchops`` command (``core.cli`` calls this)."""
    p = subparsers.add_parser("worker", help="run a scale-out worker (needs REDIS_URL)")
    p.add_argument("--concurrency", type=int, default=4, help="runs at once in this process")
    p.add_argument("--worker-id", help="name in results and in the consumer group (default host-pid)")
    p.add_argument("--shutdown-timeout", type=float, default=30.0, help="seconds to finish runs on SIGTERM")
    p.add_argument(
        "--idle-timeout",
        type=float,
        default=30.0,
        help="seconds of silence after which a dead worker's runs are taken over",
    )
    p.add_argument("--metrics-port", type=int, help="serve /metrics on this port (all interfaces)")
    p.set_defaults(func=cmd_worker)


def cmd_worker(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    run_worker(
        Settings(),
        args.concurrency,
        worker_id=args.worker_id,
        shutdown_timeout_s=args.shutdown_timeout,
        idle_timeout_s=args.idle_timeout,
        metrics_port=args.metrics_port,
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.worker")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["worker", *(argv if argv is not None else __import__("sys").argv[1:])])
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
