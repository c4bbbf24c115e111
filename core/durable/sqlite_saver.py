"""The embedded checkpoint saver: LangGraph's sync ``SqliteSaver``, awaited one call per thread hop.

Why not ``AsyncSqliteSaver``: it drives ``aiosqlite``, which hops to its thread and back for every
cursor step (create, execute, fetch, close, commit): ~100 hops per research run, each a queue put,
a wake-up and a ``call_soon_threadsafe``. Measured on an uncached run, checkpoints cost +6.3 ms of
CPU that way, more than the run itself (4 ms). Here each ``aput``/``aput_writes``/``aget_tuple`` is
one function on one dedicated thread (SQLite work, serialization and commit together), and the
writes (``aput``, ``aput_writes``) that queue up while one is under way go in the next batch as one
transaction: one commit, and one turn of the file's write lock, which worker processes sharing the
file contend for. Same tables, same rows: files written by either saver read back with the other.

The contextvars of the calling task are carried to the thread, because ``RunCodecSerde`` picks the
codec of the run being executed from ``core.runctx.current_run``.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from langgraph.checkpoint.base import ChannelVersions, Checkpoint, CheckpointMetadata, CheckpointTuple
from langgraph.checkpoint.serde.base import SerializerProtocol
from langgraph.checkpoint.sqlite import SqliteSaver

from core.group_commit import GroupCommit, Outcome

T = TypeVar("T")


class ThreadedSqliteSaver(SqliteSaver):
    """``SqliteSaver`` with the async API LangGraph's async graphs call, each call one thread hop.

    >>> # saver = await ThreadedSqliteSaver.open(Path(".data/checkpoints.sqlite3"), serde=...)
    """

    def __init__(self, conn: sqlite3.Connection, *, serde: SerializerProtocol | None = None) -> None:
        super().__init__(conn, serde=serde)
        # one thread: SQLite allows one writer per connection anyway, and calls keep their order
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="checkpoints-sqlite")
        self._writes = GroupCommit(self._thread, self._write_batch)
        self._batching = False
        """True while ``_write_batch`` runs: ``cursor`` leaves the commit to the batch's end."""

    @classmethod
    async def open(cls, path: Path, *, serde: SerializerProtocol | None = None) -> ThreadedSqliteSaver:
        def connect() -> sqlite3.Connection:
            # several local processes share the file: WAL lets readers run beside the one writer;
            # a writer waits up to 30 s for another process's transaction
            conn = sqlite3.connect(path, timeout=30.0, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            return conn

        saver = cls(await asyncio.to_thread(connect), serde=serde)
        await saver._call(saver.setup)
        return saver

    @contextmanager
    def cursor(self, transaction: bool = True) -> Iterator[sqlite3.Cursor]:
        with self.lock:
            self.setup()
            cur = self.conn.cursor()
            try:
                yield cur
            finally:
                if transaction and not self._batching:
                    self.conn.commit()
                cur.close()

    async def _write(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a write on the thread in the next batch (one transaction); returns its result."""
        result: T = await self._writes.submit((contextvars.copy_context(), functools.partial(fn, *args)))
        return result

    def _write_batch(self, batch: list[tuple[contextvars.Context, Callable[[], Any]]]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        self._batching = True
        try:
            for ctx, fn in batch:
                try:
                    outcomes.append((True, ctx.run(fn)))
                except Exception as exc:  # that write fails alone; the batch's others commit
                    outcomes.append((False, exc))
            self.conn.commit()
        except Exception as exc:  # the commit failed: no write of the batch is stored
            self.conn.rollback()
            outcomes = [(False, exc)] * len(batch)
        finally:
            self._batching = False
        return outcomes

    async def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        ctx = contextvars.copy_context()
        call = functools.partial(ctx.run, fn, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._thread, call)

    async def aget_tuple(self, config: Any) -> CheckpointTuple | None:
        return await self._call(self.get_tuple, config)

    async def alist(
        self,
        config: Any,
        *,
        filter: dict[str, Any] | None = None,
        before: Any = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        rows = await self._call(lambda: list(self.list(config, filter=filter, before=before, limit=limit)))
        for row in rows:
            yield row

    async def aput(
        self, config: Any, checkpoint: Checkpoint, metadata: CheckpointMetadata, new_versions: ChannelVersions
    ) -> Any:
        return await self._write(self.put, config, checkpoint, metadata, new_versions)

    async def aput_writes(
        self, config: Any, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str = ""
    ) -> None:
        await self._write(self.put_writes, config, writes, task_id, task_path)

    async def adelete_thread(self, thread_id: str) -> None:
        await self._call(self.delete_thread, thread_id)

    async def aget_delta_channel_history(self, *, config: Any, channels: Sequence[str]) -> Any:
        return await self._call(self.get_delta_channel_history, config=config, channels=channels)

    async def thread_ids(self) -> set[str]:
        """Every thread (run id) with checkpoints."""

        def read() -> set[str]:
            with self.cursor(transaction=False) as cur:
                cur.execute("SELECT DISTINCT thread_id FROM checkpoints")
                return {str(r[0]) for r in cur.fetchall()}

        return await self._call(read)

    async def aclose(self) -> None:
        await self._call(self.conn.close)
        self._thread.shutdown(wait=True)
