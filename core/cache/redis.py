"""L2 on Redis (redis.asyncio), for caches shared by processes and machines.

Short socket timeouts and one quick retry keep a dead Redis from stalling requests: a request pays
at most about a second before the tiered cache treats the error as a miss. The connection pool
reconnects by itself when Redis is back. A client is kept per event loop, because asyncio
connections belong to the loop that opened them (the engine's loop, LangGraph's sync-call loop).

Layout under ``prefix``: ``<prefix>k:<key>`` holds a value; ``<prefix>t:<tag>`` is a set of the
value keys carrying that tag, expiring with the longest-lived of them.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from core.errors import CacheBackendError

T = TypeVar("T")
_SCAN_BATCH = 500


def _glob_escape(text: str) -> str:
    return "".join("\\" + ch if ch in "*?[]\\" else ch for ch in text)


class RedisL2:
    """Redis-backed L2 under a key prefix.

    >>> l2 = RedisL2("redis://127.0.0.1:6379/0", prefix="ro:cache:")  # connects lazily
    """

    name = "redis"

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "ro:cache:",
        socket_timeout: float = 0.25,
        connect_timeout: float = 0.25,
        retries: int = 1,
        health_check_interval: int = 15,
        max_connections: int = 64,
        pool_timeout_s: float = 1.0,
    ) -> None:
        self.url = url
        self.pool_timeout_s = pool_timeout_s
        self.prefix = prefix
        self._kwargs: dict[str, Any] = {
            "socket_timeout": socket_timeout,
            "socket_connect_timeout": connect_timeout,
            "retry": Retry(ExponentialWithJitterBackoff(cap=0.2, base=0.02), retries),
            "retry_on_error": [RedisConnectionError, RedisTimeoutError],
            "health_check_interval": health_check_interval,
            "max_connections": max_connections,
        }
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Redis] = (
            weakref.WeakKeyDictionary()
        )

    def _client(self) -> Redis:
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            # Blocking pool: past max_connections a call waits (up to pool_timeout) for a free
            # connection; the default pool raises "Too many connections" at once, which turned
            # 200 concurrent node writes into cache errors.
            pool = BlockingConnectionPool.from_url(self.url, timeout=self.pool_timeout_s, **self._kwargs)
            client = Redis.from_pool(pool)  # the client owns the pool: aclose() closes it
            self._clients[loop] = client
        return client

    def _k(self, key: str) -> str:
        return f"{self.prefix}k:{key}"

    def _t(self, tag: str) -> str:
        return f"{self.prefix}t:{tag}"

    async def _call(self, what: str, fn: Callable[[Redis], Awaitable[T]]) -> T:
        try:
            return await fn(self._client())
        except (TimeoutError, RedisError, OSError) as e:
            raise CacheBackendError(f"redis L2 {what} failed: {type(e).__name__}: {e}") from e

    async def get(self, key: str) -> bytes | None:
        value = await self._call("get", lambda r: r.get(self._k(key)))
        return value if value is None or isinstance(value, bytes) else str(value).encode()

    async def set(self, key: str, value: bytes, ttl_s: float | None, tags: Sequence[str] = ()) -> None:
        async def run(r: Redis) -> None:
            # Milliseconds, so fractional TTLs work too.
            ttl_ms = None if ttl_s is None else max(1, int(ttl_s * 1000))
            async with r.pipeline(transaction=False) as pipe:
                pipe.set(self._k(key), value, px=ttl_ms)
                for tag in tags:
                    tk = self._t(tag)
                    pipe.sadd(tk, key)
                    if ttl_ms is None:
                        pipe.persist(tk)
                    else:
                        # NX sets a first expiry; GT only ever extends it: the tag outlives its members.
                        pipe.pexpire(tk, ttl_ms, nx=True)
                        pipe.pexpire(tk, ttl_ms, gt=True)
                await pipe.execute()

        await self._call("set", run)

    async def delete(self, keys: Sequence[str]) -> int:
        if not keys:
            return 0
        return int(await self._call("delete", lambda r: r.unlink(*(self._k(k) for k in keys))))

    async def purge_tag(self, tag: str) -> int:
        async def run(r: Redis) -> int:
            members = await r.smembers(self._t(tag))
            removed = 0
            keys = [self._k(m.decode() if isinstance(m, bytes) else m) for m in members]
            for i in range(0, len(keys), _SCAN_BATCH):
                removed += int(await r.unlink(*keys[i : i + _SCAN_BATCH]))
            await r.unlink(self._t(tag))
            return removed

        return await self._call("purge_tag", run)

    async def _purge_pattern(self, r: Redis, pattern: str) -> int:
        removed = 0
        batch: list[bytes] = []
        async for k in r.scan_iter(match=pattern, count=_SCAN_BATCH):
            batch.append(k)
            if len(batch) >= _SCAN_BATCH:
                removed += int(await r.unlink(*batch))
                batch.clear()
        if batch:
            removed += int(await r.unlink(*batch))
        return removed

    async def purge_prefix(self, prefix: str) -> int:
        pattern = _glob_escape(self._k(prefix)) + "*"
        return await self._call("purge_prefix", lambda r: self._purge_pattern(r, pattern))

    async def clear(self) -> None:
        pattern = _glob_escape(self.prefix) + "*"
        await self._call("clear", lambda r: self._purge_pattern(r, pattern))

    async def size(self) -> int:
        async def run(r: Redis) -> int:
            return sum([1 async for _ in r.scan_iter(match=_glob_escape(self._k("")) + "*", count=1000)])

        return await self._call("size", run)

    async def namespace_counts(self) -> dict[str, tuple[int, int]]:
        """Live entries and bytes per namespace (the key's part before ``:``), by SCAN."""

        async def run(r: Redis) -> dict[str, tuple[int, int]]:
            out: dict[str, list[int]] = {}
            head = len(self._k(""))
            batch: list[bytes] = []

            async def count(keys: list[bytes]) -> None:
                async with r.pipeline(transaction=False) as pipe:
                    for k in keys:
                        pipe.strlen(k)
                    sizes = await pipe.execute()
                for k, n in zip(keys, sizes, strict=True):
                    ns = k.decode("utf-8", "replace")[head:].split(":", 1)[0]
                    slot = out.setdefault(ns, [0, 0])
                    slot[0] += 1
                    slot[1] += int(n or 0)

            async for k in r.scan_iter(match=_glob_escape(self._k("")) + "*", count=1000):
                batch.append(k)
                if len(batch) >= _SCAN_BATCH:
                    await count(batch)
                    batch = []
            if batch:
                await count(batch)
            return {ns: (n, b) for ns, (n, b) in out.items()}

        return await self._call("namespace_counts", run)

    async def ping(self) -> bool:
        """True when Redis answers (for health checks); never raises."""
        try:
            return bool(await self._call("ping", lambda r: r.ping()))  # type: ignore[arg-type]
        except CacheBackendError:
            return False

    async def close(self) -> None:
        """Close the current loop's client; clients of other loops are dropped with their loop."""
        loop = asyncio.get_running_loop()
        client = self._clients.pop(loop, None)
        if client is not None:
            await client.aclose()
