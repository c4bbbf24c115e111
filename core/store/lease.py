"""Run leases: one owner executes a run at a time (taken before the first node, renewed, released).

Without them a run could execute twice: a worker killed with runs in flight was replaced on the
same host, the new worker's crash recovery resumed those runs *and* the queue redelivered them.
A lease is one row per run in the run store (``run_leases``: owner, expiry, attempt, finished),
changed only inside a locked transaction, so exactly one process holds it:

* a *fresh* run (``Engine.run``, a queue delivery) takes it only if the run was never leased; a
  redelivered run therefore learns that it ran before (``RunOwned``) and the worker answers
  with the outcome of that execution, or resumes it from its checkpoint once the lease expired;
* a *continuation* (recovery, a resume) takes it when it is free, expired, already its own, or
  held by the dead process it is recovering (``steal_from``);
* the holder renews it every ``ttl_s / 3`` (``LeaseKeeper``) and releases it at the end:
  ``finished`` (a terminal event was written) or free again (cancelled, handed back).

Each taking increments ``attempt``; the ``started`` event of an execution records it, and an
execution's events continue after the ones already stored (``next_seq``), so history keeps every
execution instead of silently dropping the second one's events.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from core.errors import ResearchOpsError, RunOwned

log = logging.getLogger(__name__)

LEASE_TTL_S = 15.0
"""How long a lease outlives its last renewal (a killed owner's runs wait at most this long)."""
LEASE_CALL_TIMEOUT_S = 2.0
"""A lease call waits at most this long; a store that does not answer degrades to no lease."""

Decision = Literal["take", "keep", "refuse"]


@dataclass(frozen=True, slots=True)
class Lease:
    """A run's lease as stored; ``held`` says whether the caller holds it after the call."""

    run_id: str
    owner: str
    attempt: int
    """Executions so far (1 = the first); 0 = never leased."""
    expires_at: float
    finished: bool
    held: bool = False
    next_seq: int = 0
    """The ``seq`` after the run's stored events: where this execution's events start."""

    def expired(self, now: float | None = None) -> bool:
        return self.expires_at <= (time.time() if now is None else now)


def decide(lease: Lease, owner: str, now: float, *, fresh: bool, steal_from: str | None) -> Decision:
    """What taking ``lease`` for ``owner`` does (pure: the stores call it under their row lock).

    >>> never = Lease("r", "", 0, 0.0, False)
    >>> decide(never, "me", 10.0, fresh=True, steal_from=None)
    'take'
    >>> ran = Lease("r", "dead:1", 1, 20.0, False)
    >>> decide(ran, "me", 10.0, fresh=True, steal_from=None)
    'refuse'
    >>> decide(ran, "me", 10.0, fresh=False, steal_from="dead:1")
    'take'
    """
    if lease.finished:
        return "refuse"
    if lease.attempt == 0:
        return "take"
    if fresh:
        return "refuse"  # it ran before: the caller must learn that, not run it again
    if lease.owner == owner:
        return "keep"
    if lease.expires_at <= now or (steal_from is not None and lease.owner == steal_from):
        return "take"
    return "refuse"


class LeaseStore(Protocol):
    """The lease half of a run store (``core.store.base.RunStore`` has it)."""

    async def acquire_lease(
        self, run_id: str, owner: str, ttl_s: float, *, fresh: bool, steal_from: str | None = None
    ) -> Lease: ...

    async def renew_lease(self, run_id: str, owner: str, ttl_s: float) -> bool: ...

    async def release_lease(self, run_id: str, owner: str, *, finished: bool) -> None: ...

    async def get_lease(self, run_id: str) -> Lease | None: ...


class LeaseKeeper:
    """Holds one run's lease for one execution: ``take``, renewal in the background, ``release``.

    A store that fails or does not answer within ``LEASE_CALL_TIMEOUT_S`` degrades to running
    without a lease (``on_degraded("store")``): the question is still answered.

    >>> keeper = LeaseKeeper(None, "r1", "host:1")  # no store: a no-op keeper
    """

    def __init__(
        self,
        store: Any,
        run_id: str,
        owner: str,
        *,
        ttl_s: float = LEASE_TTL_S,
        on_degraded: Callable[[str], None] | None = None,
    ) -> None:
        self.store, self.run_id, self.owner, self.ttl_s = store, run_id, owner, ttl_s
        self.on_degraded = on_degraded
        self.lease: Lease | None = None
        self._renewer: asyncio.Task[None] | None = None

    @property
    def attempt(self) -> int:
        return self.lease.attempt if self.lease is not None else 1

    def _degraded(self, what: str, exc: BaseException) -> None:
        log.warning("run %s: lease %s failed (%s); running without a lease", self.run_id, what, exc)
        if self.on_degraded is not None:
            with contextlib.suppress(Exception):
                self.on_degraded("store")

    async def take(self, *, fresh: bool, steal_from: str | None = None) -> Lease | None:
        """Take the lease or raise ``RunOwned``; None when the store is unavailable (degraded)."""
        if self.store is None or not hasattr(self.store, "acquire_lease"):
            return None
        try:
            async with asyncio.timeout(LEASE_CALL_TIMEOUT_S):
                lease: Lease = await self.store.acquire_lease(
                    self.run_id, self.owner, self.ttl_s, fresh=fresh, steal_from=steal_from
                )
        except (ResearchOpsError, OSError, TimeoutError) as exc:
            self._degraded("take", exc)
            return None
        if not lease.held:
            raise RunOwned(self.run_id, lease.owner, finished=lease.finished)
        self.lease = lease
        task = asyncio.current_task()
        self._renewer = asyncio.create_task(self._renew(task), name=f"lease-{self.run_id}")
        return lease

    async def _renew(self, execution: asyncio.Task[Any] | None) -> None:
        while True:
            await asyncio.sleep(self.ttl_s / 3)
            try:
                # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow release()'s cancel
                async with asyncio.timeout(LEASE_CALL_TIMEOUT_S):
                    ok = await self.store.renew_lease(self.run_id, self.owner, self.ttl_s)
            except (ResearchOpsError, OSError, TimeoutError) as exc:
                self._degraded("renewal", exc)
                continue  # the store is down: nobody else can take it from there either
            if not ok:  # we stalled past the expiry and someone took over: stop executing
                log.warning("run %s: lease lost to another owner; cancelling this execution", self.run_id)
                if execution is not None:
                    execution.cancel()
                return

    async def release(self, *, finished: bool) -> None:
        """Stop renewing and release: ``finished`` keeps the run from ever executing again."""
        if self._renewer is not None:
            self._renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._renewer
            self._renewer = None
        if self.lease is None:
            return
        self.lease = None
        try:
            async with asyncio.timeout(LEASE_CALL_TIMEOUT_S):
                await self.store.release_lease(self.run_id, self.owner, finished=finished)
        except (ResearchOpsError, OSError, TimeoutError) as exc:
            self._degraded("release", exc)  # it expires by itself
