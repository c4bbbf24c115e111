"""The ``researchops`` parser and its own commands (query, sources, cache, metrics).

Bad input exits with status 2 and one line naming the field and its limit.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from core.config import EngineSettings, Settings, parse_assignments, preset
from core.errors import InvalidInput, Overloaded, ResearchOpsError

EXIT_INPUT = 2
DEFAULT_METRICS_PORT = 9464


def _engine_settings(args: argparse.Namespace) -> EngineSettings:
    base = preset(args.preset) if getattr(args, "preset", None) else EngineSettings()
    changes = parse_assignments(getattr(args, "set", None) or [])
    return base.updated(**changes).model_copy(update={"version": 1}) if changes else base


def _run_engine(args: argparse.Namespace, fn: Callable[[Any], Awaitable[int]]) -> int:
    """Open an engine with the command's modes, run ``fn(engine)``, close it."""
    from core.factory import run_with_engine

    return run_with_engine(fn, Settings(), _engine_settings(args), progress=_progress)


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def cmd_query(args: argparse.Namespace) -> int:
    from core.cli.render import result_text
    from core.models import parse_query

    payload: dict[str, Any] = {"question": args.question, "max_sources": args.max_sources}
    if args.source:
        payload["domains"] = tuple(args.source)
    # validated before anything is opened, so bad input costs nothing and prints one line
    query = parse_query(payload, Settings().sources)
    _engine_settings(args)

    async def go(engine: Any) -> int:
        result = await engine.run(query)
        print(result.model_dump_json(indent=2) if args.json else result_text(result))
        return 0

    return _run_engine(args, go)


def cmd_sources(args: argparse.Namespace) -> int:
    from core.cli.render import table
    from core.sources.registry import describe

    async def go(engine: Any) -> int:
        print(table(describe(engine.c.sources), ["name", "doc_count", "version", "description"]))
        return 0

    return _run_engine(args, go)


def cmd_cache(args: argparse.Namespace) -> int:
    from core.cli.render import table

    async def go(engine: Any) -> int:
        if engine.c.cache is None:
            print("the cache is not available in this configuration")
            return 1
        if args.action == "purge":
            removed = await engine.purge_cache(node=args.node, question=args.query)
            print(f"purged {removed} entries")
        else:
            # A new process's own counters are all zero: report what the shared level holds.
            cache = engine.c.cache
            counts = await cache.l2_counts()
            if counts is None:
                backend = cache.l2.name if cache.l2 is not None else "none"
                print(f"shared cache level ({backend}): no counts available (not configured or unreachable)")
                return 1 if cache.l2 is not None else 0
            rows = [{"namespace": ns, "entries": n, "bytes": b} for ns, (n, b) in sorted(counts.items())]
            rows.append(
                {
                    "namespace": "total",
                    "entries": sum(n for n, _ in counts.values()),
                    "bytes": sum(b for _, b in counts.values()),
                }
            )
            assert cache.l2 is not None
            print(f"shared cache level: {cache.l2.name}, codec {cache.codec.name}")
            print(table(rows, ["namespace", "entries", "bytes"]))
        return 0

    return _run_engine(args, go)


def cmd_metrics(args: argparse.Namespace) -> int:
    import httpx

    from core.cli.render import table
    from core.metrics.exposition import prometheus_summary, summarize_exposition

    settings = Settings()
    if args.prometheus:
        from core.metrics.promclient import PromClient

        if not settings.prometheus_url:
            print("error: PROMETHEUS_URL is not set", file=sys.stderr)
            return 1
        summary = prometheus_summary(PromClient(settings.prometheus_url))
        if not summary["ok"]:
            print(summary["message"], file=sys.stderr)
            return 1
        origin = f"Prometheus at {settings.prometheus_url}"
    else:
        url = args.url or f"http://127.0.0.1:{settings.metrics_port or DEFAULT_METRICS_PORT}/metrics"
        try:
            text = httpx.get(url, timeout=2.0).raise_for_status().text
        except httpx.HTTPError as exc:
            print(f"no engine serves metrics at {url}: {exc}", file=sys.stderr)
            return 1
        summary, origin = summarize_exposition(text), url
    print(f"metrics from {origin}")
    print(table([{"status": k, "runs": v} for k, v in summary.get("runs", {}).items()]))
    print(table([{"node": n, **v} for n, v in summary.get("nodes", {}).items()]))
    print(table([{"level": k, "hit_rate": v} for k, v in summary.get("cache_hit_rate", {}).items()]))
    extras = {k: v for k, v in summary.items() if isinstance(v, int | float) and not isinstance(v, bool)}
    if extras:
        print(table([extras]))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="researchops", description="ResearchOps research workflow engine")
    sub = p.add_subparsers(dest="command", required=True)

    def modes(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--preset", choices=["naive", "optimized"], help="start from a preset of modes")
        sp.add_argument(
            "--set", action="append", metavar="KEY=VALUE", help="override one mode, e.g. cache=off"
        )

    q = sub.add_parser("query", help="answer a research question")
    q.add_argument("question")
    q.add_argument("--max-sources", type=int, default=10, help="findings to cite (1-50)")
    q.add_argument("--source", action="append", help="search only this source (repeatable)")
    q.add_argument("--json", action="store_true", help="print the ResearchResult as JSON")
    modes(q)
    q.set_defaults(func=cmd_query)

    s = sub.add_parser("sources", help="list sources with document counts and corpus versions")
    s.set_defaults(func=cmd_sources)

    c = sub.add_parser("cache", help="cache statistics and purge")
    c.add_argument("action", choices=["stats", "purge"])
    c.add_argument("--node", help="purge only this node's entries (or 'result')")
    c.add_argument("--query", help="purge only the entries of this question")
    c.set_defaults(func=cmd_cache)

    m = sub.add_parser("metrics", help="print the metrics of a running engine (or from Prometheus)")
    m.add_argument(
        "--url", help=f"a /metrics endpoint (default: http://127.0.0.1:{DEFAULT_METRICS_PORT}/metrics)"
    )
    m.add_argument(
        "--prometheus", action="store_true", help="read from the Prometheus server at PROMETHEUS_URL"
    )
    m.set_defaults(func=cmd_metrics)

    # the other subcommands, one module each (each module's register() adds its own parsers)
    from core.cli import load, runs, serve, worker

    for module in (serve, worker, load, runs):
        module.register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except InvalidInput as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except Overloaded as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    except ResearchOpsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
