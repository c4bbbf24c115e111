"""The L2 backend protocol: a shared byte store with TTLs and tags (Redis, embedded SQLite).

Every method raises ``core.errors.CacheBackendError`` (chained to the backend's own error) when the
backend fails; the tiered cache counts and absorbs those, so callers never see them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable


@runtime_checkable
class L2Backend(Protocol):
    """A shared, out-of-process cache level storing bytes."""

    name: str

    async def get(self, key: str) -> bytes | None:
        """The stored bytes, or None when absent or expired."""
        ...

    async def set(self, key: str, value: bytes, ttl_s: float | None, tags: Sequence[str] = ()) -> None:
        """Store ``value`` for ``ttl_s`` seconds (fractions allowed; None = no expiry), findable by tag."""
        ...

    async def delete(self, keys: Sequence[str]) -> int:
        """Remove these keys; returns how many existed."""
        ...

    async def purge_tag(self, tag: str) -> int:
        """Remove every entry stored with ``tag``; returns how many."""
        ...

    async def purge_prefix(self, prefix: str) -> int:
        """Remove every entry whose key starts with ``prefix``; returns how many."""
        ...

    async def clear(self) -> None:
        """Remove every entry of this backend's namespace."""
        ...

    async def size(self) -> int:
        """Live entries in this backend's namespace."""
        ...

    async def close(self) -> None:
        """Release connections; the backend is not used afterwards."""
        ...
