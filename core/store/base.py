"""The run store protocol, shared by every backend, and the pure helpers the backends share.

Backends: ``SQLiteRunStore`` (embedded default, ``core.store.sqlite``) and ``PostgresRunStore``
(``DATABASE_URL``, ``core.store.postgres``); ``open_store`` picks one. A store keeps two things:
the append-only event log, keyed by ``(run_id, seq)``, and one summary row per run that
``append`` maintains (created on the first event, filled by ``started``, closed by
``completed``/``error``) so history listings never scan events. A third table holds run leases
(``core.store.lease``): one owner executes a run at a time, and every execution's events follow
the stored ones (``Lease.next_seq``), so none is dropped as a duplicate ``(run_id, seq)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, Self, runtime_checkable

import orjson

from core.errors import CodecError, InvalidInput
from core.models import RunStatus
from core.store.events import (
    SUMMARY_ONLY_KEY,
    TERMINAL_TYPES,
    RunEvent,
    RunSummary,
    as_utc,
    terminal_status,
)
from core.store.lease import Lease


@runtime_checkable
class RunStore(Protocol):
    """Append-only run events plus run history. Every method is safe to call concurrently."""

    async def open(self) -> None:
        """Connect and create the schema. Optional: the first other call opens the store too."""
        ...

    async def append(self, events: Sequence[RunEvent]) -> int:
        """Store a batch of events atomically; ``(run_id, seq)`` already stored are ignored.

        Returns how many events were new. ``store.append(policy.filter(events))`` applies an
        ``EventPolicy``.
        """
        ...

    async def events(self, run_id: str) -> list[RunEvent]:
        """Every stored event of a run, by ``seq``. Raises ``RunNotFound`` if it has none."""
        ...

    async def list_runs(
        self,
        *,
        text: str | None = None,
        status: RunStatus | str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        settings_version: int | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[RunSummary]:
        """Run history, newest first. ``text``: case-insensitive substring of the question;
        ``since`` (inclusive) / ``until`` (exclusive) bound ``created_at``."""
        ...

    async def get_summary(self, run_id: str) -> RunSummary:
        """One run's history row. Raises ``RunNotFound``."""
        ...

    async def prune(self, *, max_age_s: float | None = None, max_runs: int | None = None) -> int:
        """Delete whole runs (events and row) older than ``max_age_s`` or beyond the newest
        ``max_runs``; returns how many runs were deleted."""
        ...

    async def count(self) -> int:
        """How many runs are stored."""
        ...

    async def acquire_lease(
        self, run_id: str, owner: str, ttl_s: float, *, fresh: bool, steal_from: str | None = None
    ) -> Lease:
        """Take the run's lease for ``owner`` if ``core.store.lease.decide`` allows it, atomically;
        the returned ``Lease.held`` says whether it did (else it describes the current holder)."""
        ...

    async def renew_lease(self, run_id: str, owner: str, ttl_s: float) -> bool:
        """Extend ``owner``'s lease by ``ttl_s`` from now; False when ``owner`` no longer holds it."""
        ...

    async def release_lease(self, run_id: str, owner: str, *, finished: bool) -> None:
        """Let the lease go: ``finished`` marks the run done for good, else it is free to take."""
        ...

    async def get_lease(self, run_id: str) -> Lease | None:
        """The run's lease (None when it was never leased), with the next free ``seq``."""
        ...

    async def close(self) -> None:
        """Release connections and threads; idempotent."""
        ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(self, *exc: object) -> None: ...


@dataclass
class RunBatch:
    """The events of one run within an ``append`` batch, with what they do to the summary row."""

    run_id: str
    events: list[RunEvent] = field(default_factory=list)
    started: RunEvent | None = None
    terminal: RunEvent | None = None

    @property
    def first_at(self) -> datetime:
        return min(e.at for e in self.events)

    @property
    def question(self) -> str:
        assert self.started is not None
        return str((self.started.data.get("query") or {}).get("question", ""))

    @property
    def settings_version(self) -> int:
        assert self.started is not None
        return int(self.started.data.get("settings_version") or 0)

    @property
    def summary_only(self) -> bool:
        assert self.started is not None
        return bool(self.started.data.get(SUMMARY_ONLY_KEY, False))

    @property
    def status(self) -> RunStatus:
        assert self.terminal is not None
        return terminal_status(self.terminal)


def group_batch(events: Sequence[RunEvent]) -> list[RunBatch]:
    """Split a batch by run, each run's events in ``seq`` order, runs sorted by id.

    Sorting by run id makes concurrent multi-run batches lock rows in one order (no deadlocks).
    Duplicates inside the batch keep their first occurrence.

    >>> [b.run_id for b in group_batch([RunEvent(run_id="b", seq=0, type="started"),
    ...                                  RunEvent(run_id="a", seq=0, type="started")])]
    ['a', 'b']
    """
    runs: dict[str, dict[int, RunEvent]] = {}
    for event in events:
        runs.setdefault(event.run_id, {}).setdefault(event.seq, event)
    out = []
    for run_id in sorted(runs):
        batch = RunBatch(run_id, [runs[run_id][s] for s in sorted(runs[run_id])])
        for event in batch.events:
            if event.type == "started":
                batch.started = event
            elif event.type in TERMINAL_TYPES:
                batch.terminal = event  # the last one by seq wins
        out.append(batch)
    return out


def casefold(text: str) -> str:
    """The folded form used for case-insensitive search (Unicode-aware, unlike SQL lower())."""
    return text.casefold()


def check_page(limit: int, offset: int) -> None:
    """Reject a page request outside the limits, naming the field."""
    if not 1 <= limit <= 10_000:
        raise InvalidInput([{"field": "limit", "message": "must be between 1 and 10000"}])
    if offset < 0:
        raise InvalidInput([{"field": "offset", "message": "must be >= 0"}])


def parse_status(status: RunStatus | str) -> str:
    """The status filter's value, or InvalidInput naming the field and the allowed values."""
    try:
        return RunStatus(status).value
    except ValueError:
        allowed = ", ".join(s.value for s in RunStatus)
        raise InvalidInput(
            [{"field": "status", "message": f"unknown status {status!r}; one of {allowed}"}]
        ) from None


def utc_or_none(value: datetime | None) -> datetime | None:
    return None if value is None else as_utc(value)


@dataclass(frozen=True, slots=True)
class SqlDialect:
    """What differs between the SQL backends in the queries they share."""

    placeholder: str
    """``?`` (sqlite3) or ``%s`` (psycopg)."""
    find: str
    """The substring-position function: ``instr`` or ``strpos``."""
    created: str
    """The runs table's creation-time column."""
    instant: Callable[[datetime], Any]
    """A UTC datetime as that column stores it."""


def run_filter(
    dialect: SqlDialect,
    *,
    text: str | None = None,
    status: RunStatus | str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    settings_version: int | None = None,
) -> tuple[str, list[Any]]:
    """``list_runs``'s WHERE clause (``""`` when unfiltered) and its arguments, checked.

    >>> run_filter(SqlDialect("?", "instr", "created_us", str), text="Gather", settings_version=3)
    (' WHERE instr(question_fold, ?) > 0 AND settings_version = ?', ['gather', 3])
    """
    ph = dialect.placeholder
    where: list[str] = []
    args: list[Any] = []
    if text:
        where.append(f"{dialect.find}(question_fold, {ph}) > 0")
        args.append(casefold(text))
    if status is not None:
        where.append(f"status = {ph}")
        args.append(parse_status(status))
    if (s := utc_or_none(since)) is not None:
        where.append(f"{dialect.created} >= {ph}")
        args.append(dialect.instant(s))
    if (u := utc_or_none(until)) is not None:
        where.append(f"{dialect.created} < {ph}")
        args.append(dialect.instant(u))
    if settings_version is not None:
        where.append(f"settings_version = {ph}")
        args.append(settings_version)
    return (" WHERE " + " AND ".join(where) if where else ""), args


def encode_data(event: RunEvent) -> str:
    """The event's data as JSON text; raises ``CodecError`` if it is not plain JSON data."""
    try:
        return orjson.dumps(event.data).decode()
    except TypeError as exc:
        raise CodecError(f"event {event.run_id}/{event.seq} data is not plain JSON: {exc}") from exc
