"""Durable runs: LangGraph checkpoints, crash recovery, time travel (replay / fork) and ``runs`` CLI.

Every run is one checkpoint thread (``thread_id = run_id``), written by the engine per superstep.

- ``open_checkpointer(settings)``: an ``AsyncSqliteSaver`` (embedded) or ``AsyncPostgresSaver``
  (``DATABASE_URL``) whose serde is ``RunCodecSerde``.
- ``recover(engine)``: runs left ``running`` by a dead process on this host resume from their last
  checkpoint (completed nodes are not run again).
- ``history`` / ``replay`` / ``fork``: checkpoints of a run; a new run seeded from one of them.
- ``prune``: retention over run history and the checkpoints of pruned runs.

Why one serde that follows the run (not one saver per codec): the codec is a live setting, a saver
holds one serde, and a thread must stay readable whatever the codec is now. ``RunCodecSerde``
encodes with the codec of the run being executed (``core.runctx.current_run``) and decodes by the
tag each value was written with (``LangGraphSerde`` tags ``ro.<codec>``), so one connection serves
every codec and old checkpoints load after a change. Pickle is only read back from the embedded
SQLite file (this user's own data); on PostgreSQL, a shared server, pickle runs are checkpointed
with the safe default codec instead, as the shared L2 cache does.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import socket
import typing
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psutil
from pydantic import BaseModel, ValidationError, create_model

from core.codecs import LangGraphSerde, get_codec
from core.config import EngineSettings, Settings
from core.engine import Continuation, Engine, process_owner
from core.errors import ConfigError, InvalidInput, RunNotFound
from core.models import ResearchQuery, RunRecord, RunStatus, new_id
from core.runctx import current_run
from core.store import RunEvent, RunStore
from core.store.events import TERMINAL_TYPES, as_utc
from core.workflow.graph import NODES
from core.workflow.state import ResearchState

DEFAULT_CODEC = "ormsgpack"
SQLITE_FILE = "checkpoints.sqlite3"
PREDECESSOR = {
    "search_sources": "parse_query",
    "analyze_findings": "search_sources",
    "generate_summary": "analyze_findings",
}
"""The node whose writes lead to each node: a fork seeds its thread ``as_node`` the predecessor."""


@functools.cache
def _state_model() -> type[BaseModel]:
    # pydantic refuses typing.TypedDict on 3.11; a model over the same hints checks edits instead
    hints = typing.get_type_hints(ResearchState)
    return create_model("StateEdits", **{k: (v | None, None) for k, v in hints.items()})  # type: ignore[call-overload]


# ---- serde and checkpointer -----------------------------------------------------------------
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
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    sql = "SELECT DISTINCT thread_id FROM checkpoints"
    if isinstance(saver, AsyncSqliteSaver):
        async with saver.lock, saver.conn.execute(sql) as cur:
            return {str(r[0]) for r in await cur.fetchall()}
    async with saver._cursor() as cur:  # the saver's own connection handling (pool or conn)
        await cur.execute(sql)
        return {str(r["thread_id"]) for r in await cur.fetchall()}


async def open_checkpointer(settings: Settings, *, schema: str | None = None) -> Checkpointer:
    """Open (and create) the checkpoint tables next to the run store.

    ``schema`` (PostgreSQL only) keeps the tables in their own schema, created if missing.

    >>> # cp = await open_checkpointer(Settings()); engine components get cp.saver; await cp.close()
    """
    url = settings.database_url
    if url and url.startswith(("postgresql://", "postgres://")):
        return await _open_postgres(url, schema)
    if url and not url.startswith("sqlite:///"):
        raise ConfigError(f"DATABASE_URL: unsupported scheme in {url.split('://')[0]!r} for checkpoints")
    import aiosqlite
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    path = settings.data_dir / SQLITE_FILE
    if url:  # sqlite:///path/runs.sqlite3 -> checkpoints beside it
        path = settings.data_dir.__class__(url.removeprefix("sqlite:///")).with_name(SQLITE_FILE)
    path.parent.mkdir(parents=True, exist_ok=True)
    # several local processes share the file: WAL lets readers run beside the one writer
    conn = await aiosqlite.connect(path, timeout=30.0)
    await conn.execute("PRAGMA journal_mode=WAL")
    await conn.execute("PRAGMA synchronous=NORMAL")
    saver = AsyncSqliteSaver(conn, serde=RunCodecSerde(allow_pickle=True))
    await saver.setup()
    return Checkpointer(saver, "sqlite", conn.close)


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


# ---- the source of a run ----------------------------------------------------------------------
@dataclass
class RunSource:
    """What a stored run started from: its events, latest ``started`` event, query and settings."""

    run_id: str
    events: list[RunEvent]
    started: RunEvent
    query: ResearchQuery
    settings: EngineSettings

    @property
    def config(self) -> dict[str, Any]:
        return {"configurable": {"thread_id": self.run_id, "checkpoint_ns": ""}}


def settings_of(started: RunEvent, fallback: EngineSettings) -> EngineSettings:
    """The EngineSettings a run started under (``fallback`` if they no longer validate)."""
    try:
        s = EngineSettings.model_validate(
            {**started.data.get("settings", {}), "version": started.data.get("settings_version", 1)}
        )
    except ValidationError:
        return fallback
    return s.model_copy(update={"preset": s.matching_preset()})


async def load_source(engine: Engine, run_id: str) -> RunSource:
    """The stored start of ``run_id`` (raises RunNotFound / ConfigError)."""
    if engine.c.checkpointer is None or engine.c.store is None:
        raise ConfigError("checkpoints are off (Settings.checkpoints=False or no run store)")
    if engine.c.events is not None:
        await engine.c.events.flush()  # the run may have just finished in this process
    events = await engine.c.store.events(run_id)
    starts = [e for e in events if e.type == "started"]
    if not starts:
        raise RunNotFound(f"run {run_id!r} has no started event")
    started = max(starts, key=lambda e: e.seq)
    query = ResearchQuery.model_validate(started.data["query"])
    return RunSource(run_id, events, started, query, settings_of(started, engine.settings))


# ---- crash recovery ---------------------------------------------------------------------------
def owner_is_dead(owner: str, since: datetime, host: str | None = None) -> bool:
    """True when ``owner`` (``host:pid``) ran on this host and that process is gone.

    A live pid created after ``since`` (the run's start) is a reused pid: the owner is dead.

    >>> owner_is_dead("elsewhere:1", datetime.now(), host="here")
    False
    """
    owner_host, _, pid = owner.rpartition(":")
    if owner_host != (host or socket.gethostname()) or not pid.isdigit():
        return False
    try:
        created = psutil.Process(int(pid)).create_time()
    except psutil.NoSuchProcess:
        return True
    except psutil.Error:
        return False
    return created > as_utc(since).timestamp() + 1.0


async def _running_runs(store: RunStore) -> list[str]:
    ids: list[str] = []
    while True:
        page = await store.list_runs(status=RunStatus.RUNNING, limit=1000, offset=len(ids))
        ids += [r.run_id for r in page]
        if len(page) < 1000:
            return ids


async def recover(engine: Engine) -> list[str]:
    """Claim and resume every run left ``running`` by a dead process on this host.

    A claim is a new ``started`` event at the next ``seq``: the store keeps one event per
    ``(run_id, seq)``, so when several processes start together exactly one wins each run.
    Resumed runs continue from their last checkpoint and complete normally (result event, record,
    cache). Returns the ids claimed; their runs go on in the background.
    """
    store, saver = engine.c.store, engine.c.checkpointer
    if store is None or saver is None:
        return []
    claimed: list[str] = []
    for run_id in await _running_runs(store):
        events = await store.events(run_id)
        starts = [e for e in events if e.type == "started"]
        if not starts or any(e.type in TERMINAL_TYPES for e in events):
            continue
        last, first = max(starts, key=lambda e: e.seq), min(starts, key=lambda e: e.seq)
        if not owner_is_dead(str(last.data.get("owner", "")), last.at):
            continue
        seq = max(e.seq for e in events) + 1
        data = {**last.data, "owner": process_owner(), "resumed_from": last.data.get("owner")}
        # the claim keeps the first start's time, so the history row's created_at stays put
        if (
            await store.append([RunEvent(run_id=run_id, seq=seq, type="started", at=first.at, data=data)])
            != 1
        ):
            continue  # another process claimed it first
        query = ResearchQuery.model_validate(last.data["query"])
        settings = settings_of(last, engine.settings)
        has_checkpoint = await saver.aget_tuple({"configurable": {"thread_id": run_id, "checkpoint_ns": ""}})
        cont = Continuation(
            start_seq=seq + 1,
            # killed before its first checkpoint: nothing ran, so start from the query
            input=None if has_checkpoint else {"query": query.model_dump(mode="json")},
            cacheable=True,
        )
        engine._track(
            asyncio.ensure_future(engine.continue_run(query, run_id, settings, cont, raise_errors=False))
        )
        claimed.append(run_id)
    return claimed


# ---- time travel -------------------------------------------------------------------------------
@dataclass(frozen=True)
class CheckpointInfo:
    """One checkpoint of a run: after ``wrote`` ran, before ``next`` runs."""

    checkpoint_id: str
    step: int
    source: str
    wrote: list[str]
    next: list[str]
    created_at: str | None

    def row(self) -> dict[str, Any]:
        return {**self.__dict__, "wrote": ",".join(self.wrote), "next": ",".join(self.next)}


async def history(engine: Engine, run_id: str) -> list[CheckpointInfo]:
    """The checkpoints of a run, oldest first, with the nodes that produced each.

    >>> # [c.wrote for c in await history(engine, run_id)] -> [[], ['__start__'], ['parse_query'], ...]
    """
    src = await load_source(engine, run_id)
    graph = engine._graph(src.settings)
    snaps = [s async for s in graph.aget_state_history(src.config)]
    snaps.reverse()
    out: list[CheckpointInfo] = []
    for i, snap in enumerate(snaps):
        wrote = [t.name for t in snaps[i - 1].tasks] if i else []
        out.append(
            CheckpointInfo(
                checkpoint_id=str(snap.config["configurable"]["checkpoint_id"]),
                step=int((snap.metadata or {}).get("step", -1)),
                source=str((snap.metadata or {}).get("source", "")),
                wrote=wrote,
                next=list(snap.next),
                created_at=snap.created_at,
            )
        )
    return out


def _seed(values: dict[str, Any], as_node: str) -> Callable[[Any, dict[str, Any]], Awaitable[Any]]:
    async def seed(graph: Any, config: dict[str, Any]) -> Any:
        return await graph.aupdate_state(config, values, as_node=as_node)

    return seed


async def _continue_from(
    engine: Engine, src: RunSource, snapshot: Any, edits: dict[str, Any], started: dict[str, Any]
) -> RunRecord:
    values = {**snapshot.values, **edits}
    query = ResearchQuery.model_validate(values["query"]) if "query" in edits else src.query
    first = next((n for n in snapshot.next if n in NODES), None)
    if first is None or first == "parse_query" or not snapshot.values:
        # before the first node (or at the start): the new run starts from its (edited) input
        cont = Continuation(
            input={"query": values.get("query", src.query.model_dump(mode="json"))}, started=started
        )
    else:
        cont = Continuation(seed=_seed(values, PREDECESSOR[first]), started=started)
    return await engine.continue_run(query, new_id(), src.settings, cont)


async def replay(engine: Engine, run_id: str, checkpoint_id: str | None = None) -> RunRecord:
    """Re-run a stored run as a new run, from its start or from one of its checkpoints.

    The new run (own id and checkpoint thread) records ``replay_of`` in its ``started`` event; the
    per-node cache still applies, the whole-result cache does not.

    >>> # rec = await replay(engine, run_id, checkpoint_id=history[3].checkpoint_id)
    """
    src = await load_source(engine, run_id)
    graph = engine._graph(src.settings)
    started: dict[str, Any] = {"replay_of": run_id, "checkpoint_id": checkpoint_id}
    if checkpoint_id is None:
        cont = Continuation(input={"query": src.query.model_dump(mode="json")}, started=started)
        return await engine.continue_run(src.query, new_id(), src.settings, cont)
    cfg = {"configurable": {**src.config["configurable"], "checkpoint_id": checkpoint_id}}
    snapshot = await graph.aget_state(cfg)
    if snapshot.config is None or snapshot.created_at is None:
        raise InvalidInput(
            [{"field": "checkpoint", "message": f"run {run_id!r} has no checkpoint {checkpoint_id!r}"}]
        )
    return await _continue_from(engine, src, snapshot, {}, started)


def check_edits(engine: Engine, edits: dict[str, Any]) -> dict[str, Any]:
    """Validated state edits (InvalidInput names the field); ``query`` is a full ResearchQuery."""
    known = set(ResearchState.__annotations__)
    for key in edits:
        if key not in known:
            raise InvalidInput([{"field": key, "message": f"not a state key; one of {sorted(known)}"}])
    out = dict(edits)
    if "query" in out:
        out["query"] = engine.parse_query(out["query"]).model_dump(mode="json")
    try:
        _state_model().model_validate(out)
    except ValidationError as exc:
        raise InvalidInput.from_validation_error(exc) from None
    return out


async def fork(engine: Engine, run_id: str, node: str, edits: dict[str, Any]) -> RunRecord:
    """Run ``node`` and what follows again, on the state it saw in ``run_id`` with ``edits`` applied.

    Recorded as a new run whose ``started`` event has ``forked_from``, ``fork_node`` and ``edits``.

    >>> # rec = await fork(engine, run_id, "generate_summary", {"findings": []})
    """
    if node not in NODES:
        raise InvalidInput([{"field": "node", "message": f"unknown node {node!r}; one of {list(NODES)}"}])
    edits = check_edits(engine, edits)
    src = await load_source(engine, run_id)
    graph = engine._graph(src.settings)
    snapshot = None
    async for snap in graph.aget_state_history(src.config):  # newest first: keep the earliest match
        if node in snap.next:
            snapshot = snap
    if snapshot is None:
        raise InvalidInput(
            [{"field": "node", "message": f"run {run_id!r} has no checkpoint before {node!r}"}]
        )
    started = {
        "forked_from": run_id,
        "fork_node": node,
        "checkpoint_id": snapshot.config["configurable"]["checkpoint_id"],
        "edits": edits,
    }
    return await _continue_from(engine, src, snapshot, edits, started)


# ---- retention ---------------------------------------------------------------------------------
async def prune(
    store: RunStore,
    saver: Any | None,
    *,
    max_age_s: float | None = None,
    max_runs: int | None = None,
) -> dict[str, int]:
    """Prune run history, then delete the checkpoint threads of runs no longer in the store.

    >>> # await prune(store, engine.c.checkpointer, max_runs=1000) -> {"runs": 12, "checkpoint_threads": 12}
    """
    runs = await store.prune(max_age_s=max_age_s, max_runs=max_runs)
    threads = 0
    if saver is not None:
        kept: set[str] = set()
        while True:
            page = await store.list_runs(limit=10_000, offset=len(kept))
            kept.update(r.run_id for r in page)
            if len(page) < 10_000:
                break
        for thread_id in await thread_ids(saver) - kept:
            await saver.adelete_thread(thread_id)
            threads += 1
    return {"runs": runs, "checkpoint_threads": threads}


# ---- CLI ---------------------------------------------------------------------------------------
def register(subparsers: Any) -> None:
    """Add ``runs list|show|history|replay|fork|prune`` to the ``researchops`` parser."""
    runs = subparsers.add_parser("runs", help="run history, time travel and retention")
    sub = runs.add_subparsers(dest="runs_command", required=True)
    p = sub.add_parser("list", help="recent runs, newest first")
    p.add_argument("--text", help="case-insensitive substring of the question")
    p.add_argument("--status", help="ok, partial, error, running, ...")
    p.add_argument("--limit", type=int, default=20)
    p.set_defaults(func=cmd_list)
    p = sub.add_parser("show", help="a run's summary, events and node timings")
    p.add_argument("run_id")
    p.set_defaults(func=cmd_show)
    p = sub.add_parser("history", help="a run's checkpoints (ids for replay)")
    p.add_argument("run_id")
    p.set_defaults(func=cmd_history)
    p = sub.add_parser("replay", help="re-run a run as a new run, from its start or a checkpoint")
    p.add_argument("run_id")
    p.add_argument("--checkpoint", help="checkpoint id (see `runs history`)")
    p.set_defaults(func=cmd_replay)
    p = sub.add_parser("fork", help="re-run from a node with edited state, as a new run")
    p.add_argument("run_id")
    p.add_argument("--node", required=True, choices=list(NODES))
    p.add_argument("--set", action="append", default=[], metavar="KEY=JSON", help="state edit (repeatable)")
    p.set_defaults(func=cmd_fork)
    p = sub.add_parser("prune", help="delete old runs and their checkpoints")
    p.add_argument("--max-age-days", type=float)
    p.add_argument("--max-runs", type=int)
    p.set_defaults(func=cmd_prune)


def parse_edits(pairs: list[str]) -> dict[str, Any]:
    """``key=json`` pairs to a dict; a value that is not JSON is taken as a string.

    >>> parse_edits(['confidence=0.5', 'search_query=asyncio gather'])
    {'confidence': 0.5, 'search_query': 'asyncio gather'}
    """
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InvalidInput([{"field": "set", "message": f"expected key=json_value, got {pair!r}"}])
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
    return out


def _with_store(fn: Callable[[RunStore], Awaitable[int]]) -> int:
    from core.store import open_store

    settings = Settings()

    async def main() -> int:
        store = open_store(settings.database_url, settings.data_dir)
        try:
            return await fn(store)
        finally:
            await store.close()

    return asyncio.run(main())


def _with_engine(fn: Callable[[Engine], Awaitable[int]]) -> int:
    from core.factory import run_with_engine

    return run_with_engine(fn, Settings())


def _print_record(record: RunRecord) -> int:
    from core.render import table

    print(table([{"run_id": record.run_id, "status": record.status.value, "error": record.error or ""}]))
    if record.result is not None:
        print(record.result.summary)
    return 0 if record.status in (RunStatus.OK, RunStatus.PARTIAL) else 1


def cmd_list(args: argparse.Namespace) -> int:
    from core.render import table

    async def go(store: RunStore) -> int:
        rows = await store.list_runs(text=args.text, status=args.status, limit=args.limit)
        cols = ["run_id", "status", "created_at", "duration_s", "settings_version", "question"]
        print(table([r.model_dump() for r in rows], cols))
        return 0

    return _with_store(go)


def cmd_show(args: argparse.Namespace) -> int:
    from core.render import table
    from core.store import rebuild_result

    async def go(store: RunStore) -> int:
        summary = await store.get_summary(args.run_id)
        events = await store.events(args.run_id)
        print(table([summary.model_dump()]))
        rows = [
            {
                "seq": e.seq,
                "type": e.type,
                "at": e.at,
                "node": e.data.get("node", ""),
                "duration_s": e.data.get("duration_s", ""),
                "cache_hit": e.data.get("cache_hit", ""),
            }
            for e in events
        ]
        print(table(rows))
        result = rebuild_result(events)
        if result is not None:
            print(table([t.model_dump() for t in result.timings]))
            print(result.summary)
        return 0

    return _with_store(go)


def cmd_history(args: argparse.Namespace) -> int:
    from core.render import table

    async def go(engine: Engine) -> int:
        print(table([c.row() for c in await history(engine, args.run_id)]))
        return 0

    return _with_engine(go)


def cmd_replay(args: argparse.Namespace) -> int:
    async def go(engine: Engine) -> int:
        return _print_record(await replay(engine, args.run_id, args.checkpoint))

    return _with_engine(go)


def cmd_fork(args: argparse.Namespace) -> int:
    edits = parse_edits(args.set)

    async def go(engine: Engine) -> int:
        return _print_record(await fork(engine, args.run_id, args.node, edits))

    return _with_engine(go)


def cmd_prune(args: argparse.Namespace) -> int:
    from core.render import table

    settings = Settings()
    max_age_s = args.max_age_days * 86400 if args.max_age_days is not None else settings.retention_max_age_s
    max_runs = args.max_runs if args.max_runs is not None else settings.retention_max_runs

    async def go(store: RunStore) -> int:
        cp = await open_checkpointer(settings) if settings.checkpoints else None
        try:
            saver = cp.saver if cp is not None else None
            print(table([await prune(store, saver, max_age_s=max_age_s, max_runs=max_runs)]))
        finally:
            if cp is not None:
                await cp.close()
        return 0

    return _with_store(go)
