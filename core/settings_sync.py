"""Live settings shared by every process through Redis: one stored version, pushed and polled.

The current ``EngineSettings`` live in Redis as JSON (``<prefix>:settings``) next to their version
(``<prefix>:settings:version``). A change is stored only if its version is newer than the stored
one (one Lua script, so two operators racing cannot both win the same version) and announced on
the pub/sub channel ``<prefix>:settings:changed``. Each process applies announcements as they
arrive, and, because pub/sub drops messages for a disconnected subscriber, also compares versions
(one ``GET``) before each workflow start, so no process can be left on stale settings.

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
from typing import Any, Protocol

import redis.asyncio as aioredis
from pydantic import ValidationError

from core.config import EngineSettings
from core.errors import InvalidInput

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

    def __init__(self, client: aioredis.Redis, *, prefix: str = "researchops", check_interval_s: float = 5.0):
        self.client = client
        self.key = f"{prefix}:settings"
        self.version_key = f"{prefix}:settings:version"
        self.channel = f"{prefix}:settings:changed"
        self.check_interval_s = check_interval_s
        self._cas = client.register_script(_CAS)
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> SettingsSync:
        """A sync over its own Redis connection pool (closed by ``aclose``)."""
        return cls(aioredis.Redis.from_url(url, socket_connect_timeout=2.0), **kwargs)

    # ---- the stored value ------------------------------------------------------------------
    async def version(self) -> int:
        """The stored version (0 when nothing is stored): one GET."""
        raw = await self.client.get(self.version_key)
        return int(raw) if raw is not None else 0

    async def load(self) -> EngineSettings | None:
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
        """At startup: the shared settings if any are stored, else store ``local`` and return it."""
        stored = await self.load()
        if stored is not None:
            return stored
        await self.publish(local)  # the first process seeds; a racing one loses the CAS and reads it
        return await self.load() or local

    # ---- following and making changes ------------------------------------------------------
    async def refresh(self, engine: SettingsHolder) -> bool:
        """Adopt the stored settings if they are newer than the engine's (one GET when current)."""
        if await self.version() <= engine.settings.version:
            return False
        stored = await self.load()
        return stored is not None and engine.apply_settings(stored)

    async def change(self, engine: SettingsHolder, **changes: Any) -> EngineSettings:
        """Make a change on top of the newest shared settings, store it, apply it here.

        Raises ``InvalidInput`` for a bad change. A concurrent change elsewhere makes this one
        retry on top of it (the later change wins field by field, nothing is silently dropped).
        """
        for _ in range(CHANGE_RETRIES):
            await self.refresh(engine)
            new = engine.settings.updated(**dict(changes))
            if await self.publish(new):
                engine.apply_settings(new)
                return new
        raise InvalidInput([{"field": "settings", "message": "too many concurrent changes; try again"}])

    def start(self, engine: SettingsHolder) -> asyncio.Task[None]:
        """Follow changes in the background: pub/sub pushes, plus a periodic version check."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self.follow(engine), name="settings-sync")
        return self._task

    async def follow(self, engine: SettingsHolder) -> None:
        """Apply every announced change until cancelled; reconnects after Redis errors."""
        while True:
            try:
                async with self.client.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(self.channel)
                    await self.refresh(engine)  # anything missed while not subscribed
                    while True:
                        msg = await pubsub.get_message(timeout=self.check_interval_s)
                        if msg is not None:
                            self._apply_message(engine, msg["data"])
                        else:
                            await self.refresh(engine)
            except asyncio.CancelledError:
                raise
            except (aioredis.RedisError, OSError) as exc:
                log.warning("settings sync: %s; retrying", exc)
                await asyncio.sleep(min(self.check_interval_s, 1.0))

    @staticmethod
    def _apply_message(engine: SettingsHolder, data: bytes | str) -> None:
        try:
            engine.apply_settings(EngineSettings.model_validate_json(data))
        except ValidationError:
            log.warning("ignoring an announced settings value that does not validate")

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        await self.client.aclose()
