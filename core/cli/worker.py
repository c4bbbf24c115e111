"""``researchops worker`` (also ``python -m core.cli.worker``): run a scale-out worker process."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from core.config import Settings


def register(subparsers: Any) -> None:
    """Add ``worker`` to the ``researchops`` command."""
    p = subparsers.add_parser("worker", help="run a scale-out worker (needs REDIS_URL)")
    p.add_argument("--concurrency", type=int, default=4, help="runs at once in this process")
    p.add_argument("--worker-id", help="name in results and in the consumer group (default host-pid)")
    p.add_argument("--shutdown-timeout", type=float, default=30.0, help="seconds to finish runs on SIGTERM")
    p.add_argument(
        "--idle-timeout",
        type=float,
        default=30.0,
        help="seconds of silence after which a dead worker's runs are taken over",
    )
    p.add_argument("--metrics-port", type=int, help="serve /metrics on this port (all interfaces)")
    p.set_defaults(func=cmd_worker)


def cmd_worker(args: argparse.Namespace) -> int:
    from core.worker import run_worker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("taskiq").setLevel(logging.WARNING)  # it logs two INFO lines per task
    run_worker(
        Settings(),
        args.concurrency,
        worker_id=args.worker_id,
        shutdown_timeout_s=args.shutdown_timeout,
        idle_timeout_s=args.idle_timeout,
        metrics_port=args.metrics_port,
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m core.cli.worker ARGS`` = ``researchops worker ARGS`` (what the containers run)."""
    parser = argparse.ArgumentParser(prog="python -m core.cli.worker")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["worker", *(sys.argv[1:] if argv is None else argv)])
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
