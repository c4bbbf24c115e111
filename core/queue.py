"""The task queue: research runs on a taskiq queue over a Redis stream (broker, wire format, client).

Why taskiq + ``RedisStreamBroker``: it is asyncio-native (our engine is async), and a Redis stream
with a consumer group gives what a list queue cannot: a message stays *pending* until the worker
acknowledges it, which it does only after the task pushed its reply (``WHEN_SAVED``), so a worker killed
mid-run loses nothing. Three gaps of the stock broker are closed by ``ResearchBroker``:

* it reclaims other consumers' stale pending messages (``XAUTOCLAIM``) only right after new messages
  arrived; on a quiet queue a dead worker's run would wait forever. We reclaim on every poll.
* ``idle_timeout`` alone cannot tell a dead worker from a slow one. Live workers re-claim their own
  in-flight messages every ``idle_timeout / 3`` (``XCLAIM ... JUSTID``, a heartbeat), so only the
  messages of a dead worker ever go idle long enough to be taken.
* it reads 100 messages per ``XREADGROUP``, so one worker hoards the queue; we read one at a time,
  only when a slot is free, which spreads runs across workers.

A task returns plain JSON (``ok_reply``/``failure_reply``), pushed to the submitting client's reply
stream (``push_reply``) before the message is acknowledged; ``WorkerPool`` turns it back into a
``ResearchResult`` or the typed error. A run submitted without a reply stream (``submit``) is read
from the run store. There is no taskiq result backend: nothing read it, and it kept every result in
Redis for a day (~10 KB a run: GBs at a hundred runs a second) and cost a serialization and a
``SET`` per run. The worker process itself is ``core.worker``.

    async with WorkerPool("redis://127.0.0.1:6379/0") as pool:
        result = await pool.run({"question": "How do I gather coroutines?"})
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncGenerator
from typing import Any

import orjson
from pydantic import BaseModel
from redis.asyncio import Redis
from redis.exceptions import RedisError
from taskiq import AckableMessage
from taskiq.message import TaskiqMessage
from taskiq_redis import RedisStreamBroker

from core.errors import InvalidInput, ModelError, Overloaded, ResearchOpsError, Unavailable
from core.models import ResearchQuery, ResearchResult, new_id, parse_query

log = logging.getLogger(__name__)

QUEUE = "researchops:runs"
GROUP = "researchops-workers"
TASK_NAME = "researchops.research"
REPLY_TTL_S = 24 * 3600
"""A client's reply stream expires this long after its last reply (a client that died)."""
REPLY_MAXLEN = 20_000
STREAM_MAXLEN = 1_000_000


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
            maxlen=STREAM_MAXLEN,
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
    """The broker both workers and clients use (messages as JSON, never pickle)."""
    return ResearchBroker(redis_url, queue=queue, consumer_name=consumer_name, idle_timeout_s=idle_timeout_s)


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


# ---- submitting -----------------------------------------------------------------------------------
def run_message(query: ResearchQuery, run_id: str, reply_to: str | None = None) -> bytes:
    """One research task in taskiq's wire format (what ``kiq`` would send; JSON, never pickle)."""
    args: list[Any] = [query.model_dump(mode="json"), run_id]
    if reply_to is not None:
        args.append(reply_to)
    message = TaskiqMessage(
        task_id=uuid.uuid4().hex, task_name=TASK_NAME, labels={}, labels_types={}, args=args, kwargs={}
    )
    return orjson.dumps(message.model_dump(mode="json"))


async def submit_run(conn: Redis, query: ResearchQuery, run_id: str, *, queue: str = QUEUE) -> None:
    """Queue one run for the worker pool without waiting for it (its record goes to the run store).

    Raises ``Unavailable`` when Redis cannot take it."""
    try:
        await conn.xadd(queue, {b"data": run_message(query, run_id)}, maxlen=STREAM_MAXLEN, approximate=True)
    except RedisError as exc:
        raise Unavailable("queue", f"the run queue is unavailable: {exc}") from exc


# ---- pushed replies ------------------------------------------------------------------------------
def reply_stream(queue: str, client_id: str) -> str:
    """The Redis stream a client reads its results from (one per ``WorkerPool``)."""
    return f"{queue}:replies:{client_id}"


async def push_reply(conn: Redis, stream: str, reply: dict[str, Any]) -> None:
    """Push one task's reply to the client waiting on ``stream`` (the worker side of ``WorkerPool``)."""
    async with conn.pipeline(transaction=False) as pipe:
        pipe.xadd(stream, {b"data": orjson.dumps(reply)}, maxlen=REPLY_MAXLEN, approximate=True)
        pipe.expire(stream, REPLY_TTL_S)
        await pipe.execute()


# ---- the client ----------------------------------------------------------------------------------
class WorkerPool:
    """Run queries on the worker pool: submit a task, await its pushed result (a load-runner target).

    Submissions are batched: every request that arrives while one pipeline is in flight goes out
    in the next one (one round trip for many XADDs). Results are pushed: each task names this
    client's reply stream, the worker XADDs its reply there, and one reader per client (a blocking
    XREAD of up to 1,000 replies) resolves the waiting requests, so there is no poll per request.

    >>> async with WorkerPool("redis://127.0.0.1:6379/0") as pool:  # doctest: +SKIP
    ...     result = await pool.run("How do I gather coroutines?")
    """

    def __init__(self, redis_url: str, *, queue: str = QUEUE, timeout_s: float = 600.0) -> None:
        self.broker = make_broker(redis_url, queue=queue)
        self.queue, self.timeout_s = queue, timeout_s
        self.client_id = new_id()
        self.replies = reply_stream(queue, self.client_id)
        self._redis_url = redis_url
        self._started = False
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._outbox: list[tuple[bytes, asyncio.Future[None]]] = []
        self._wake: asyncio.Event | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._conn: Redis | None = None
        self._closing = False

    async def start(self) -> None:
        if self._started:
            return
        await self.broker.startup()
        # the reader blocks in XREAD: a connection of its own, not one from the broker's pool
        self._conn = Redis.from_url(self._redis_url)
        self._wake = asyncio.Event()
        self._closing = False
        self._tasks = [
            asyncio.create_task(self._read_replies(), name="worker-pool-replies"),
            asyncio.create_task(self._send(), name="worker-pool-submit"),
        ]
        self._started = True

    async def aclose(self) -> None:
        if not self._started:
            return
        self._started = False
        self._closing = True
        if self._wake is not None:
            self._wake.set()
        for t in self._tasks:
            t.cancel()
        # redis-py may turn a cancellation inside a command into a connection error: the loops
        # also end on ``_closing``, and a bound keeps a stuck socket from holding the close
        await asyncio.wait(self._tasks, timeout=5.0)
        closed = ResearchOpsError("the worker pool client was closed")
        pending: list[asyncio.Future[Any]] = [*self._waiting.values(), *(sent for _, sent in self._outbox)]
        for fut in pending:
            if not fut.done():
                fut.set_exception(closed)
        self._waiting.clear()
        self._outbox = []
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.delete(self.replies)
            await self._conn.aclose()
        await self.broker.shutdown()

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

    async def submit(self, query: ResearchQuery | dict[str, Any] | str, *, run_id: str | None = None) -> str:
        """Queue one run and return its id without waiting for it (the result goes to the store)."""
        await self.start()
        run_id = run_id or new_id()
        await self._enqueue(run_message(parse_query(query), run_id))
        return run_id

    async def run_job(
        self, query: ResearchQuery | dict[str, Any] | str, *, run_id: str | None = None
    ) -> WorkerRun:
        """Like ``run``, with the run id and the id of the worker that ran it."""
        await self.start()
        parsed = parse_query(query)
        run_id = run_id or new_id()
        reply: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[run_id] = reply
        try:
            await self._enqueue(run_message(parsed, run_id, self.replies))
            payload = await asyncio.wait_for(reply, self.timeout_s)
        except TimeoutError:
            raise ResearchOpsError(f"no result from the worker pool within {self.timeout_s:g} s") from None
        finally:
            self._waiting.pop(run_id, None)
        if not payload.get("ok"):
            raise_failure(payload.get("error", {}))
        return WorkerRun(
            run_id=payload["run_id"],
            worker_id=payload["worker_id"],
            result=ResearchResult.model_validate(payload["result"]),
        )

    # ---- internals --------------------------------------------------------------------------
    async def _enqueue(self, message: bytes) -> None:
        sent: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._outbox.append((message, sent))
        assert self._wake is not None
        self._wake.set()
        await sent

    async def _send(self) -> None:
        assert self._wake is not None
        while not self._closing:
            await self._wake.wait()
            self._wake.clear()
            batch, self._outbox = self._outbox, []
            if not batch:
                continue
            try:
                async with (
                    Redis(connection_pool=self.broker.connection_pool) as conn,
                    conn.pipeline(transaction=False) as pipe,
                ):
                    for message, _ in batch:
                        pipe.xadd(self.queue, {b"data": message}, maxlen=STREAM_MAXLEN, approximate=True)
                    await pipe.execute()
            except Exception as exc:  # every request of the batch learns why
                for _, sent in batch:
                    if not sent.done():
                        sent.set_exception(Unavailable("queue", f"could not queue the run: {exc}"))
                continue
            for _, sent in batch:
                if not sent.done():
                    sent.set_result(None)

    async def _read_replies(self) -> None:
        assert self._conn is not None
        last = b"0-0"
        while not self._closing:
            try:
                got: Any = await self._conn.xread({self.replies: last}, count=1000, block=1000)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self._closing:
                    return
                log.warning("worker pool: reading replies failed (%s); retrying", exc)
                await asyncio.sleep(0.5)
                continue
            for _stream, messages in got or []:
                for msg_id, fields in messages:
                    last = msg_id
                    payload = orjson.loads(fields[b"data"])
                    fut = self._waiting.get(payload.get("run_id", ""))
                    # a run re-delivered after a worker died may answer twice: the first one wins
                    if fut is not None and not fut.done():
                        fut.set_result(payload)
            if got:  # read replies are not needed again: keep the stream short
                with contextlib.suppress(Exception):
                    await self._conn.xtrim(self.replies, minid=last)
