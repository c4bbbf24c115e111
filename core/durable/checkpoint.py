"""Checkpoint storage: the run-following serde (``RunCodecSerde``) and the SQLite / PostgreSQL savers.

Why one serde that follows the run (not one saver per codec): the codec is a live setting, a saver
holds one serde, and a thread must stay readable whatever the codec is now. ``RunCodecSerde``
encodes with the codec of the run being executed (``core.runctx.current_run``) and decodes by the
tag each value was written with (``LangGraphSerde`` tags ``ro.<codec>``), so one connection serves
every codec and old checkpoints load after a change. Pickle is only read back from the embedded
SQLite file (this user's own data); on PostgreSQL, a shared server, pickle runs are checkpointed
with the safe default codec instead, as the shared L2 cache does.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from core.codecs import LangGraphSerde, get_codec
from core.config import Settings
from core.runctx import current_run
from core.store.factory import database_location

DEFAULT_CODEC = "ormsgpack"
SQLITE_FILE = "checkpoints.sqlite3"


class RunCodecSerde:
    """LangGraph ``SerializerProtocol`` that encodes with the current run's codec, decodes by tag.

    >>> serde = RunCodecSerde()
    >>> serde.dumps_typed({"a": 1})[0]  # no run in progress: the default codec
    'ro.ormsgpack'
    >>> serde.loads_typed(LangGraphSerde(get_codec("json")).dumps_typed({"a": 1}))
    {'a': 1}
    """

    def __init__(self, default: str = DEFAULT_CODEC, *, allow_pickle: bool = False) -> None:
        self.default, self.allow_pickle = default, allow_pickle
        self._serdes: dict[str, LangGraphSerde] = {}
        self._reader = self._serde(default)

    def _serde(self, name: str) -> LangGraphSerde:
        serde = self._serdes.get(name)
        if serde is None:
            serde = self._serdes[name] = LangGraphSerde(get_codec(name), allow_pickle=self.allow_pickle)
        return serde

    def codec_name(self) -> str:
        # Reading the run's settings from the context variable is deliberate: LangGraph calls the
        # saver's serde with the value only (no config, no run), so the contextvar the engine sets
        # around each run is the one hook through which the run's codec reaches the encoder.
        ctx = current_run.get()
        name = ctx.settings.codec if ctx is not None else self.default
        return name if get_codec(name).safe or self.allow_pickle else self.default

    def dumps_typed(self, obj: Any) -> tuple[str, bytes]:
        return self._serde(self.codec_name()).dumps_typed(obj)

    def loads_typed(self, data: tuple[str, bytes]) -> Any:
        return self._reader.loads_typed(data)


@dataclass
class Checkpointer:
    """An open checkpoint saver, what it runs on, and how to close it."""

    saver: Any
    kind: str
    """``sqlite`` or ``postgres``."""
    close: Callable[[], Awaitable[None]]


async def thread_ids(saver: Any) -> set[str]:
    """Every thread (run id) with checkpoints in ``saver`` (SQLite or PostgreSQL)."""
    from core.durable.sqlite_saver import ThreadedSqliteSaver

    if isinstance(saver, ThreadedSqliteSaver):
        return await saver.thread_ids()
    sql = "SELECT DISTINCT thread_id FROM checkpoints"
    async with saver._cursor() as cur:  # the saver's own connection handling (pool or conn)
        await cur.execute(sql)
        return {str(r["thread_id"]) for r in await cur.fetchall()}


async def open_checkpointer(settings: Settings, *, schema: str | None = None) -> Checkpointer:
    """Open (and create) the checkpoint tables next to the run store.

    ``schema`` (PostgreSQL only) keeps the tables in their own schema, created if missing.

    >>> # cp = await open_checkpointer(Settings()); engine components get cp.saver; await cp.close()
    """
    where = database_location(settings.database_url, settings.data_dir)
    if isinstance(where, str):
        return await _open_postgres(where, schema)
    from core.durable.sqlite_saver import ThreadedSqliteSaver

    path = where.with_name(SQLITE_FILE)  # beside the run store's file
    path.parent.mkdir(parents=True, exist_ok=True)
    saver = await ThreadedSqliteSaver.open(path, serde=RunCodecSerde(allow_pickle=True))
    return Checkpointer(saver, "sqlite", saver.aclose)


async def _open_postgres(url: str, schema: str | None) -> Checkpointer:
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
    from psycopg import AsyncConnection, sql
    from psycopg.rows import dict_row
    from psycopg_pool import AsyncConnectionPool

    kwargs: dict[str, Any] = {"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row}
    if schema:
        async with await AsyncConnection.connect(url, autocommit=True) as conn:
            await conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
        kwargs["options"] = f"-c search_path={schema}"
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        url, min_size=1, max_size=8, kwargs=kwargs, open=False
    )
    await pool.open(wait=True)
    saver = AsyncPostgresSaver(pool, serde=RunCodecSerde(allow_pickle=False))  # type: ignore[arg-type]
    await saver.setup()
    return Checkpointer(saver, "postgres", pool.close)
