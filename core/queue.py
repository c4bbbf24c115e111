"""The task queue: research runs on a taskiq queue over a Redis stream (broker, wire format, client).

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

A task returns plain JSON (``ok_reply``/``failure_reply``); ``WorkerPool`` turns it back into a
``ResearchResult`` or the typed error. The worker process itself is ``core.worker``.

    async with WorkerPool("redis://127.0.0.1:6379/0") as pool:
        result = await pool.run({"question": "How do I gather coroutines?"})
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator
from typing import Any

from pydantic import BaseModel
from redis.asyncio import Redis
from taskiq import AckableMessage
from taskiq.kicker import AsyncKicker
from taskiq.serializers import ORJSONSerializer
from taskiq_redis import RedisAsyncResultBackend, RedisStreamBroker

from core.errors import InvalidInput, ModelError, Overloaded, ResearchOpsError
from core.models import ResearchQuery, ResearchResult, new_id, parse_query

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


def ok_reply(run_id: str, worker_id: str, result: ResearchResult) -> dict[str, Any]:
    """What a task returns for a finished run (plain JSON: results are never pickled)."""
    return {"ok": True, "run_id": run_id, "worker_id": worker_id, "result": result.model_dump(mode="json")}


def failure_reply(run_id: str, worker_id: str, exc: ResearchOpsError) -> dict[str, Any]:
    """What a task returns for a run that raised a typed error (enough to raise it again)."""
    error: dict[str, Any] = {"type": type(exc).__name__, "message": str(exc)}
    if isinstance(exc, InvalidInput):
        error["errors"] = exc.errors
    if isinstance(exc, Overloaded):
        error.update(active=exc.active, queued=exc.queued, retry_after=exc.retry_after)
    return {"ok": False, "run_id": run_id, "worker_id": worker_id, "error": error}


def raise_failure(error: dict[str, Any]) -> None:
    """Raise on the client the typed error a worker reported with ``failure_reply``."""
    kind, message = error.get("type"), error.get("message", "worker run failed")
    if kind == "InvalidInput":
        raise InvalidInput(error.get("errors") or [{"field": "query", "message": message}])
    if kind == "Overloaded":
        raise Overloaded(error.get("active", 0), error.get("queued", 0), error.get("retry_after", 1.0))
    if kind == "ModelError":
        raise ModelError(message)
    raise ResearchOpsError(message)


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
            raise_failure(payload.get("error", {}))
        return WorkerRun(
            run_id=payload["run_id"],
            worker_id=payload["worker_id"],
            result=ResearchResult.model_validate(payload["result"]),
        )
