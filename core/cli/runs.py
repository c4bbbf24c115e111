"""``researchops runs``: run history, time travel (history / replay / fork) and retention."""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from core.config import Settings, split_assignments
from core.models import RunRecord, RunStatus
from core.workflow.graph import NODES

if TYPE_CHECKING:
    from core.engine import Engine
    from core.store import RunStore


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
    p.add_argument("run_id", help="a run id (`runs list`, or `run_id` in `query --json`)")
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
    for key, value in split_assignments(pairs, expected="key=json_value"):
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
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
    from core.cli.render import table

    print(table([{"run_id": record.run_id, "status": record.status.value, "error": record.error or ""}]))
    if record.result is not None:
        print(record.result.summary)
    return 0 if record.status in (RunStatus.OK, RunStatus.PARTIAL) else 1


def cmd_list(args: argparse.Namespace) -> int:
    from core.cli.render import table

    async def go(store: RunStore) -> int:
        rows = await store.list_runs(text=args.text, status=args.status, limit=args.limit)
        cols = ["run_id", "status", "created_at", "duration_s", "settings_version", "question"]
        print(table([r.model_dump() for r in rows], cols))
        return 0

    return _with_store(go)


def cmd_show(args: argparse.Namespace) -> int:
    from core.cli.render import table
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
    from core.cli.render import table
    from core.durable.timetravel import history

    async def go(engine: Engine) -> int:
        print(table([c.row() for c in await history(engine, args.run_id)]))
        return 0

    return _with_engine(go)


def cmd_replay(args: argparse.Namespace) -> int:
    from core.durable.timetravel import replay

    async def go(engine: Engine) -> int:
        return _print_record(await replay(engine, args.run_id, args.checkpoint))

    return _with_engine(go)


def cmd_fork(args: argparse.Namespace) -> int:
    from core.durable.timetravel import fork

    edits = parse_edits(args.set)

    async def go(engine: Engine) -> int:
        return _print_record(await fork(engine, args.run_id, args.node, edits))

    return _with_engine(go)


def cmd_prune(args: argparse.Namespace) -> int:
    from core.cli.render import table
    from core.durable.checkpoint import open_checkpointer
    from core.durable.retention import prune

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
