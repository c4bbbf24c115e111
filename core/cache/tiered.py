"""The two-level cache: L1 in process (Python objects), L2 shared (bytes, optional).

``get`` looks in L1, then L2, and promotes an L2 hit into L1. ``set`` encodes once with the safe
codec: the bytes go to L2 and their length is the L1 size estimate. Entries live under
``"<namespace>:<key>"`` (a namespace is a node name or ``result``) and may carry tags (the query
tag), so one node or one query can be purged.

An L2 failure never reaches the caller: it is counted (``errors``) and the request carries on
with L1 or a recompute; for ``l2_backoff_s`` after a failure L2 is skipped altogether (each
skipped call counted by ``on_degraded("cache")``), so a dead or black-holed Redis costs one
timeout per back-off window, not one per request. L2 bytes are decoded only by safe codecs
(never unpickled, no decoder that imports what the data names: ``core.codecs.safe_ext_hook``).
An L2 entry that does not decode, or decodes to something that is not the namespace's shape
(``validators``: a ``ResearchResult`` for ``result``, a list of ``(channel, value)`` writes for a
node), is *corrupt*: counted, deleted from L2 and treated as a miss, so the value is recomputed
and written back.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any, Literal

from core.cache.base import L2Backend
from core.cache.memory import MemoryCache
from core.codecs import Codec, LangGraphSerde
from core.errors import CacheBackendError, CodecError
from core.models import ResearchResult

Levels = Literal["off", "l1", "l1+l2"]
EventFn = Callable[[str, str, str], None]
"""``on_event(level, namespace, kind)``, kind in hit / miss / error / eviction / set / corrupt."""
Validator = Callable[[Any], Any]
"""Returns the value to keep (e.g. the validated model), or raises (anything) when a decoded L2
value is not what its namespace stores."""

_KINDS = ("hits", "misses", "errors", "evictions", "sets", "corrupt")
_KIND_OF = {
    "hit": "hits",
    "miss": "misses",
    "error": "errors",
    "eviction": "evictions",
    "set": "sets",
    "corrupt": "corrupt",
}
WILDCARD = "*"


def _is_result(value: Any) -> ResearchResult:
    # the model is kept (L1 and the caller): an L2 hit is validated once, not again upstream
    return ResearchResult.model_validate(value)


def _is_writes(value: Any) -> Any:
    """A LangGraph node's writes: a list of ``[channel, value]`` pairs with str channels."""
    if not isinstance(value, list) or not all(
        isinstance(w, list | tuple) and len(w) == 2 and isinstance(w[0], str) for w in value
    ):
        raise TypeError("not a list of (channel, value) writes")
    return value


DEFAULT_VALIDATORS: dict[str, Validator] = {"result": _is_result, WILDCARD: _is_writes}
"""What each namespace holds; ``*`` covers every other namespace (LangGraph's node caches)."""


class TieredCache:
    """L1 + optional L2 behind one get/set/purge API that never raises backend errors.

    >>> cache = TieredCache(MemoryCache(100, 1 << 20), None, get_codec("orjson"))  # doctest: +SKIP
    >>> await cache.set("result", "k1", {"answer": 42}, ttl_s=60, levels="l1")    # doctest: +SKIP
    >>> await cache.get("result", "k1", levels="l1")                                # doctest: +SKIP
    ({'answer': 42}, 'l1')
    """

    def __init__(
        self,
        l1: MemoryCache,
        l2: L2Backend | None,
        codec: Codec,
        on_event: EventFn | None = None,
        validators: dict[str, Validator] | None = None,
    ) -> None:
        self.l1 = l1
        self.l2 = l2
        self.on_event = on_event
        self.validators = DEFAULT_VALIDATORS if validators is None else validators
        self.on_degraded: Callable[[str], None] | None = None
        self.l2_backoff_s = 1.0
        self._l2_down_until = 0.0
        self._counts: dict[str, dict[str, dict[str, int]]] = {
            level: defaultdict(lambda: dict.fromkeys(_KINDS, 0)) for level in ("l1", "l2")
        }
        self._l2_size: int | None = None
        self.codec = codec  # validated by the setter
        # Capacity evictions in L1 are reported against the entry's namespace.
        l1.on_evict = lambda key: self._count("l1", key.split(":", 1)[0], "eviction")

    @property
    def codec(self) -> Codec:
        return self._codec

    @codec.setter
    def codec(self, codec: Codec) -> None:
        """Switch codecs live; entries written under the old one still decode (the tag names it)."""
        if not codec.safe:
            raise CodecError(f"codec {codec.name!r} is not safe for a shared cache; pick another")
        self._codec = codec
        self._serde = LangGraphSerde(codec, allow_pickle=False)

    def _l2_usable(self) -> bool:
        """False inside the back-off window after an L2 failure (the call is counted degraded)."""
        if self._l2_down_until and time.monotonic() < self._l2_down_until:
            if self.on_degraded is not None:
                try:
                    self.on_degraded("cache")
                except Exception:
                    pass
            return False
        return True

    def _l2_failed(self, namespace: str) -> None:
        self._count("l2", namespace, "error")
        self._l2_down_until = time.monotonic() + self.l2_backoff_s
        if self.on_degraded is not None:
            try:
                self.on_degraded("cache")
            except Exception:
                pass

    @property
    def l2_degraded(self) -> bool:
        """True inside the back-off window after an L2 failure (``/readyz``)."""
        return time.monotonic() < self._l2_down_until

    def _count(self, level: str, namespace: str, kind: str) -> None:
        self._counts[level][namespace][_KIND_OF[kind]] += 1
        if self.on_event is not None:
            try:
                self.on_event(level, namespace, kind)
            except Exception:  # a broken metrics hook must not break the request
                pass

    @staticmethod
    def _full(namespace: str, key: str) -> str:
        if ":" in namespace:
            raise ValueError(f"cache namespace may not contain ':': {namespace!r}")
        return f"{namespace}:{key}"

    async def get(self, namespace: str, key: str, *, levels: Levels) -> tuple[Any | None, str | None]:
        """``(value, level)`` of a hit (``"l1"`` or ``"l2"``), or ``(None, None)`` on a miss."""
        if levels == "off":
            return None, None
        full = self._full(namespace, key)
        missing = _MISSING
        value = self.l1.get(full, missing)
        if value is not missing:
            self._count("l1", namespace, "hit")
            return value, "l1"
        self._count("l1", namespace, "miss")
        if levels != "l1+l2" or self.l2 is None or not self._l2_usable():
            return None, None
        try:
            data = await self.l2.get(full)
        except CacheBackendError:
            self._l2_failed(namespace)
            return None, None
        self._l2_down_until = 0.0
        if data is None:
            self._count("l2", namespace, "miss")
            return None, None
        try:
            expires, value = self._unpack(data)
            value = self._validate(namespace, value)
        except Exception:
            # Unreadable, unsafe or foreign bytes (another writer, a planted value): never a crash.
            # Dropped so the recompute's value replaces it; a miss for the caller.
            self._count("l2", namespace, "corrupt")
            try:
                await self.l2.delete([full])
            except CacheBackendError:
                self._count("l2", namespace, "error")
            return None, None
        self._count("l2", namespace, "hit")
        ttl = None if expires is None else expires - time.time()
        if ttl is None or ttl > 0:  # promoted with what is left of its L2 lifetime
            self.l1.set(full, value, size=len(data), ttl_s=ttl, tags=())
        return value, "l2"

    def _validate(self, namespace: str, value: Any) -> Any:
        check = self.validators.get(namespace) or self.validators.get(WILDCARD)
        if value is None:
            raise CodecError("an L2 entry decoded to None")
        return value if check is None else check(value)

    # L2 blob: b"<expiry unix time or ->|<serde tag>:<payload>"; the expiry lets a promoted
    # entry leave L1 when it leaves L2.
    def _pack(self, value: Any, ttl_s: float | None) -> bytes:
        head = b"-" if ttl_s is None else b"%.3f" % (time.time() + ttl_s)
        return head + b"|" + self._serde.dumps(value)

    def _unpack(self, data: bytes) -> tuple[float | None, Any]:
        head, sep, body = data.partition(b"|")
        if not sep:
            raise CodecError("cache entry has no expiry header")
        try:
            expires = None if head == b"-" else float(head)
        except ValueError as e:
            raise CodecError(f"cache entry has a bad expiry header {head[:20]!r}") from e
        return expires, self._serde.loads(body)

    async def set(
        self,
        namespace: str,
        key: str,
        value: Any,
        *,
        ttl_s: float | None,
        levels: Levels,
        tags: Sequence[str] = (),
    ) -> bool:
        """Store ``value`` in the chosen levels; False when it could not be encoded (counted)."""
        if levels == "off":
            return False
        full = self._full(namespace, key)
        try:
            data = self._pack(value, ttl_s)
        except CodecError:
            self._count("l1", namespace, "error")
            return False
        if self.l1.set(full, value, size=len(data), ttl_s=ttl_s, tags=tags):
            self._count("l1", namespace, "set")
        if levels == "l1+l2" and self.l2 is not None and self._l2_usable():
            try:
                await self.l2.set(full, data, ttl_s, tags)
            except CacheBackendError:
                self._l2_failed(namespace)
            else:
                self._count("l2", namespace, "set")
        return True

    async def purge(self, *, namespace: str | None = None, tag: str | None = None) -> int:
        """Remove all entries, one namespace's, or one tag's; returns entries removed (L1 + L2)."""
        if namespace is not None and tag is not None:
            raise ValueError("purge by namespace or by tag, not both")
        if tag is not None:
            n = self.l1.purge_tag(tag)
            l2_op = (lambda l2: l2.purge_tag(tag)) if self.l2 else None
        elif namespace is not None:
            prefix = self._full(namespace, "")
            n = self.l1.purge_prefix(prefix)
            l2_op = (lambda l2: l2.purge_prefix(prefix)) if self.l2 else None
        else:
            n = self.l1.size()
            self.l1.clear()
            l2_op = (lambda l2: _clear_count(l2)) if self.l2 else None
        if l2_op is not None and self.l2 is not None:
            try:
                n += await l2_op(self.l2)
            except CacheBackendError:
                self._count("l2", namespace or "*", "error")
        return n

    async def refresh_l2_size(self) -> int | None:
        """Ask L2 for its entry count (kept for ``stats()``); None when unknown or failing."""
        if self.l2 is None:
            return None
        try:
            self._l2_size = await self.l2.size()
        except CacheBackendError:
            self._count("l2", "*", "error")
            self._l2_size = None
        return self._l2_size

    async def l2_counts(self) -> dict[str, tuple[int, int]] | None:
        """The shared level's own counts, ``{namespace: (entries, bytes)}`` (what every process
        wrote, not this process's counters); None without L2 or when it fails."""
        counts = getattr(self.l2, "namespace_counts", None)
        if counts is None:
            return None
        try:
            out: dict[str, tuple[int, int]] = await counts()
        except CacheBackendError:
            self._count("l2", "*", "error")
            return None
        return out

    def stats(self) -> dict[str, Any]:
        """Counters per level and per namespace, plus sizes (L2 size as of ``refresh_l2_size``)."""
        out: dict[str, Any] = {"codec": self._codec.name, "l2_backend": self.l2.name if self.l2 else None}
        per_ns_size = self.l1.count_by_prefix()
        for level in ("l1", "l2"):
            by_ns = {ns: dict(c) for ns, c in self._counts[level].items()}
            totals = {k: sum(c[k] for c in by_ns.values()) for k in _KINDS}
            out[level] = {**totals, "namespaces": by_ns}
        out["l1"]["size"] = self.l1.size()
        out["l1"]["bytes"] = self.l1.bytes_used
        out["l1"]["size_by_namespace"] = per_ns_size
        out["l2"]["size"] = self._l2_size
        return out

    async def close(self) -> None:
        if self.l2 is not None:
            await self.l2.close()


_MISSING = object()


async def _clear_count(l2: L2Backend) -> int:
    n = await l2.size()
    await l2.clear()
    return n
