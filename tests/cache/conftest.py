"""Fixtures: every cache level behind the L2 protocol, the shared Redis (the private one: tests/conftest)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
import redis

from core.cache.memory import MemoryCache
from core.cache.redis import RedisL2
from core.cache.sqlite import SQLiteL2
from tests.support.env import unavailable

SHARED_REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def shared_redis_url() -> str:
    """The shared Redis on 6379 (use a unique prefix; never flush it)."""
    client = redis.Redis.from_url(SHARED_REDIS_URL, socket_timeout=0.5, socket_connect_timeout=0.5)
    try:
        client.ping()
    except redis.RedisError:
        unavailable("shared Redis at 127.0.0.1:6379 is not reachable")
    finally:
        client.close()
    return SHARED_REDIS_URL


class MemoryAsL2:
    """The L1 behind the L2 protocol, so the shared level suite runs over it too."""

    name = "memory"

    def __init__(self, cache: MemoryCache) -> None:
        self.cache = cache

    async def get(self, key: str) -> bytes | None:
        value = self.cache.get(key)
        return None if value is None else bytes(value)

    async def set(self, key: str, value: bytes, ttl_s: float | None, tags: Sequence[str] = ()) -> None:
        self.cache.set(key, value, size=len(value), ttl_s=ttl_s, tags=tags)

    async def delete(self, keys: Sequence[str]) -> int:
        return self.cache.delete(keys)

    async def purge_tag(self, tag: str) -> int:
        return self.cache.purge_tag(tag)

    async def purge_prefix(self, prefix: str) -> int:
        return self.cache.purge_prefix(prefix)

    async def clear(self) -> None:
        self.cache.clear()

    async def size(self) -> int:
        return self.cache.size()

    async def close(self) -> None:
        return None


@pytest.fixture
async def sqlite_l2(tmp_path: Path) -> AsyncIterator[SQLiteL2]:
    backend = SQLiteL2(tmp_path / "l2.sqlite3")
    yield backend
    await backend.close()


@pytest.fixture
async def redis_l2(shared_redis_url: str) -> AsyncIterator[RedisL2]:
    backend = RedisL2(shared_redis_url, prefix=f"test:ro:{uuid.uuid4().hex}:")
    yield backend
    await backend.clear()
    await backend.close()


@pytest.fixture(params=["sqlite", "redis"])
def l2(request: pytest.FixtureRequest) -> object:
    """Each real L2 backend in turn."""
    return request.getfixturevalue(f"{request.param}_l2")


@pytest.fixture(params=["memory", "sqlite", "redis"])
def level(request: pytest.FixtureRequest) -> object:
    """Every cache level (L1 adapted, then each L2) behind the L2 protocol."""
    if request.param == "memory":
        return MemoryAsL2(MemoryCache(max_entries=1000, max_bytes=1 << 20))
    return request.getfixturevalue(f"{request.param}_l2")
