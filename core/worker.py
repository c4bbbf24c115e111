"""The worker process: one engine taking research runs from the queue (``core.queue``).

Graceful shutdown (SIGTERM/SIGINT): stop taking messages, let in-flight runs finish for up to
``shutdown_timeout_s``, then hand the rest back (re-add to the stream + ack the old delivery in one
transaction) so another worker starts them at once, and exit.

Each worker process opens one engine at startup, adopts the shared settings (``SettingsSync``),
and checks the settings version before each run. Results carry the id of the worker that ran them.

    researchops worker --concurrency 4            # or: python -m core.cli.worker --concurrency 4
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from redis.asyncio import Redis
from taskiq.acks import AcknowledgeType
from taskiq.exceptions import NoResultError
from taskiq.receiver import Receiver

from core.config import EngineSettings, Settings
from core.durable.recovery import await_run  # H15: the lease-conflict clause
from core.errors import ConfigError, InvalidInput, ResearchOpsError, RunOwned
from core.gc_policy import tune_for_serving
from core.models import ResearchResult
from core.queue import QUEUE, TASK_NAME, failure_reply, make_broker, ok_reply, push_reply
from core.settings_sync import SettingsSync

log = logging.getLogger(__name__)


class WorkerRuntime:
    """The state of one worker process: its engine, settings sync and in-flight runs."""

    def __init__(self, engine: Any, sync: SettingsSync, worker_id: str) -> None:
        self.engine, self.sync, self.worker_id = engine, sync, worker_id
        self.running: set[asyncio.Task[ResearchResult]] = set()
        self.handing_back = False
        self.replies: Redis | None = None
        """Where replies are pushed (set once the broker's connection pool exists)."""

    async def research(
        self, query: dict[str, Any], run_id: str, reply_to: str | None = None
    ) -> dict[str, Any]:
        """The task body: run one query on this worker's engine under the newest settings; the reply
        is pushed to the client's stream when it named one (the message is acknowledged after)."""
        await self.sync.refresh(self.engine)  # free while subscribed; one GET while the subscription is down
        run = asyncio.create_task(self.engine.run(query, run_id=run_id))
        self.running.add(run)
        try:
            result = await run
            reply = ok_reply(run_id, self.worker_id, result)
        except asyncio.CancelledError:
            if self.handing_back:  # requeued for another worker: save no result, ack nothing new
                raise NoResultError from None
            raise
        except RunOwned:  # H15: a redelivered run another execution owns: answer with its outcome
            try:
                reply = ok_reply(run_id, self.worker_id, await await_run(self.engine, query, run_id))
            except ResearchOpsError as exc:
                reply = failure_reply(run_id, self.worker_id, exc)
        except ResearchOpsError as exc:
            reply = failure_reply(run_id, self.worker_id, exc)
        finally:
            self.running.discard(run)
        if reply_to is not None and self.replies is not None:
            await push_reply(self.replies, reply_to, reply)
        return reply


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
    from core.factory import build_components, open_engine

    if not settings.redis_url:
        raise ConfigError("a worker needs REDIS_URL (the queue, the shared cache and settings live there)")
    if concurrency < 1:
        raise InvalidInput([{"field": "concurrency", "message": "must be at least 1"}])
    worker_id = worker_id or default_worker_id()
    stop = stop or asyncio.Event()
    sync = SettingsSync.from_url(settings.redis_url)
    shared = await sync.seed(engine_settings or EngineSettings())
    engine = await open_engine(build or (lambda: build_components(settings, role="worker")), shared)
    if metrics_port is not None:
        port = await asyncio.to_thread(engine.c.metrics.serve, metrics_port, "0.0.0.0")
        log.info("worker %s: metrics on port %d", worker_id, port)
    runtime = WorkerRuntime(engine, sync, worker_id)
    tune_for_serving()
    broker = make_broker(
        settings.redis_url, queue=queue, consumer_name=worker_id, idle_timeout_s=idle_timeout_s
    )

    async def research(query: dict[str, Any], run_id: str, reply_to: str | None = None) -> dict[str, Any]:
        return await runtime.research(query, run_id, reply_to)

    broker.register_task(research, task_name=TASK_NAME)
    broker.is_worker_process = True
    await broker.startup()
    runtime.replies = Redis(connection_pool=broker.connection_pool)
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

    import uvloop  # a cheaper event loop: every message costs less CPU

    uvloop.run(main())
