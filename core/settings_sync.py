"""Live settings shared by every process through Redis: one stored version, pushed and polled.

The current ``EngineSettings`` live in Redis as JSON (``<prefix>:settings``) next to their version
(``<prefix>:settings:version``). A change is stored only if its version is newer than the stored
one (one Lua script, so two operators racing cannot both win the same version) and announced on
the pub/sub channel ``<prefix>:settings:changed``. Each process keeps the settings in memory and
applies announcements as they arrive; pub/sub drops messages for a disconnected subscriber, so
after every (re)subscription it compares versions once (one ``GET``), and every
``check_interval_s`` while idle. ``refresh`` (called before each workflow) therefore costs
nothing while the subscription is up, and one ``GET`` only while it is down.

Redis being down never fails a request: every call has a short timeout and jittered retries
(redis-py ``Retry`` + ``ExponentialWithJitterBackoff``), and on error the process keeps its last
known settings, counts the degraded call (``on_degraded("settings")``) and waits ``backoff_s``
before asking Redis again. Only ``change`` (an operator's write) fails, with ``Unavailable``.

    sync = SettingsSync.from_url("redis://127.0.0.1:6379/0")
    settings = await sync.seed(EngineSettings())       # adopt the shared settings at startup
    engine = await Engine.open(build, settings)
    sync.start(engine)                                  # follow changes made elsewhere
    await sync.change(engine, preset="naive")          # make one, everywhere
    await sync.refresh(engine)                          # the cheap check before a workflow
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

import redis.asyncio as aioredis
from pydantic import ValidationError
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from core.config import EngineSettings
from core.errors import InvalidInput, Unavailable

T = TypeVar("T")
DegradedFn = Callable[[str], None]
REDIS_ERRORS: tuple[type[BaseException], ...] = (aioredis.RedisError, OSError, TimeoutError)

log = logging.getLogger(__name__)

# KEYS: settings json, version; ARGV: version, json, channel. Store + publish only if newer.
_CAS = """
local cur = tonumber(redis.call('GET', KEYS[2]) or '0')
if tonumber(ARGV[1]) > cur then
  redis.call('SET', KEYS[1], ARGV[2])
  redis.call('SET', KEYS[2], ARGV[1])
  redis.call('PUBLISH', ARGV[3], ARGV[2])
  return 1
end
return 0
"""
CHANGE_RETRIES = 5


class SettingsHolder(Protocol):
    """What the sync needs of an engine (``core.engine.Engine`` is one)."""

    @property
    def settings(self) -> EngineSettings: ...

    def apply_settings(self, new: EngineSettings) -> bool: ...


class SettingsSync:
    """Keeps one process's engine on the shared settings version (see the module docstring)."""

    def __init__(
        self,
        client: aioredis.Redis,
        *,
        prefix: str = "researchops",
        check_interval_s: float = 5.0,
        backoff_s: float = 1.0,
        on_degraded: DegradedFn | None = None,
    ):
        self.client = client
        self.key = f"{prefix}:settings"
        self.version_key = f"{prefix}:settings:version"
        self.channel = f"{prefix}:settings:changed"
        self.check_interval_s, self.backoff_s = check_interval_s, backoff_s
        self.on_degraded = on_degraded
        self._cas = client.register_script(_CAS)
        self._task: asyncio.Task[None] | None = None
        self.subscribed = False
        """True while the pub/sub subscription is up: ``refresh`` then needs no Redis call."""
        self.last_error: str | None = None
        """The last Redis error (None once a call succeeded again): ``/readyz`` shows it."""
        self._retry_at = 0.0
        self.degraded_calls = 0

    @classmethod
    def from_url(cls, url: str, *, timeout_s: float = 0.5, **kwargs: Any) -> SettingsSync:
        """A sync over its own Redis connection pool (closed by ``aclose``), bounded timeouts."""
        client = aioredis.Redis.from_url(
            url,
            socket_connect_timeout=timeout_s,
            socket_timeout=timeout_s,
            retry=Retry(ExponentialWithJitterBackoff(cap=0.2, base=0.02), 1),
            retry_on_error=[RedisConnectionError, RedisTimeoutError],
            health_check_interval=15,
        )
        return cls(client, **kwargs)

    @property
    def degraded(self) -> bool:
        return self.last_error is not None

    def _degraded(self, exc: BaseException) -> None:
        self.last_error = f"{type(exc).__name__}: {exc}"
        self._retry_at = time.monotonic() + self.backoff_s
        self.degraded_calls += 1
        if self.on_degraded is not None:
            with contextlib.suppress(Exception):  # a broken metrics hook must not break a request
                self.on_degraded("settings")

    async def _guard(self, call: Callable[[], Awaitable[T]], fallback: T) -> T:
        """``await call()``; on a Redis error, ``fallback`` (counted as degraded). Inside the
        back-off window after an error, ``fallback`` at once (no request waits on a dead Redis)."""
        if time.monotonic() < self._retry_at:
            self._degraded_count_only()
            return fallback
        try:
            out = await call()
        except REDIS_ERRORS as exc:
            log.warning("settings sync: Redis unavailable (%s); keeping the last known settings", exc)
            self._degraded(exc)
            return fallback
        self.last_error = None
        return out

    def _degraded_count_only(self) -> None:
        self.degraded_calls += 1
        if self.on_degraded is not None:
            with contextlib.suppress(Exception):
                self.on_degraded("settings")

    # ---- the stored value ------------------------------------------------------------------
    async def version(self) -> int:
        """The stored version (0 when nothing is stored): one GET. Raises Redis errors."""
        raw = await self.client.get(self.version_key)
        return int(raw) if raw is not None else 0

    async def load(self) -> EngineSettings | None:
        """The stored settings (None when absent or unreadable). Raises Redis errors."""
        raw = await self.client.get(self.key)
        if raw is None:
            return None
        try:
            return EngineSettings.model_validate_json(raw)
        except ValidationError:  # written by a newer/older release; keep running on ours
            log.warning("ignoring stored settings that do not validate: %r", raw[:200])
            return None

    async def publish(self, settings: EngineSettings) -> bool:
        """Store and announce ``settings`` if newer than the stored version; True if it was."""
        stored = await self._cas(
            keys=[self.key, self.version_key],
            args=[settings.version, settings.model_dump_json(), self.channel],
        )
        return bool(stored)

    async def seed(self, local: EngineSettings) -> EngineSettings:
        """At startup: the shared settings if any are stored, else store ``local`` and return it.

        With Redis down the process starts on ``local`` (degraded) and catches up once the
        subscription is up."""

        async def run() -> EngineSettings:
            stored = await self.load()
            if stored is not None:
                return stored
            await self.publish(local)  # the first process seeds; a racing one loses the CAS and reads it
            return await self.load() or local

        return await self._guard(run, local)

    # ---- following and making changes ------------------------------------------------------
    async def _check(self, engine: SettingsHolder) -> bool:
        if await self.version() <= engine.settings.version:
            return False
        stored = await self.load()
        return stored is not None and engine.apply_settings(stored)

    async def refresh(self, engine: SettingsHolder) -> bool:
        """Adopt the stored settings if newer than the engine's. Free while subscribed (pushes keep
        the engine current); else one GET; never raises (Redis down = last known settings)."""
        if self.subscribed:
            return False
        return await self._guard(lambda: self._check(engine), False)

    async def change(self, engine: SettingsHolder, **changes: Any) -> EngineSettings:
        """Make a change on top of the newest shared settings, store it, apply it here.

        Raises ``InvalidInput`` for a bad change. A concurrent change elsewhere makes this one
        retry on top of it (the later change wins field by field, nothing is silently dropped).
        """
        try:
            for _ in range(CHANGE_RETRIES):
                await self._check(engine)
                new = engine.settings.updated(**dict(changes))
                if await self.publish(new):
                    self.last_error = None
                    engine.apply_settings(new)
                    return new
        except REDIS_ERRORS as exc:
            self._degraded(exc)
            raise Unavailable("settings", f"the shared settings store is unavailable: {exc}") from exc
        raise InvalidInput([{"field": "settings", "message": "too many concurrent changes; try again"}])

    def start(self, engine: SettingsHolder) -> asyncio.Task[None]:
        """Follow changes in the background: pub/sub pushes, plus a periodic version check."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self.follow(engine), name="settings-sync")
        return self._task

    async def follow(self, engine: SettingsHolder) -> None:
        """Apply every announced change until cancelled; reconnects after Redis errors."""
        failures = 0
        while True:
            try:
                async with self.client.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(self.channel)
                    await self._check(engine)  # anything missed while not subscribed
                    self.subscribed, self.last_error, failures = True, None, 0
                    while True:
                        msg = await pubsub.get_message(timeout=self.check_interval_s)
                        if msg is not None:
                            self._apply_message(engine, msg["data"])
                        else:
                            await self._check(engine)
            except asyncio.CancelledError:
                self.subscribed = False
                raise
            except REDIS_ERRORS as exc:
                self.subscribed = False
                self._degraded(exc)
                failures += 1
                log.warning("settings sync: %s; resubscribing", exc)
                # jittered exponential back-off, capped: a dead Redis is not hammered
                await asyncio.sleep(ExponentialWithJitterBackoff(cap=2.0, base=0.05).compute(failures))

    @staticmethod
    def _apply_message(engine: SettingsHolder, data: bytes | str) -> None:
        try:
            engine.apply_settings(EngineSettings.model_validate_json(data))
        except ValidationError:
            log.warning("ignoring an announced settings value that does not validate")

    async def aclose(self) -> None:
        self.subscribed = False
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        await self.client.aclose()
