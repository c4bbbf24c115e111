"""``researchops serve``: the HTTP API under uvicorn (the app itself is ``core.api``)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from core.config import Settings


def register(subparsers: Any) -> None:
    """Add ``serve`` to the ``researchops`` command."""
    p = subparsers.add_parser("serve", help="serve the HTTP API")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="uvicorn worker processes, each with its own engine (they share the L2 cache; with "
        "REDIS_URL also the live settings)",
    )
    p.set_defaults(func=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from core.api import create_app

    settings = Settings()
    # uvloop + httptools: the cheapest event loop and HTTP parser uvicorn offers (API CPU per hit)
    common: dict[str, Any] = {
        "host": args.host,
        "port": args.port,
        "loop": "uvloop",
        "http": "httptools",
        "timeout_graceful_shutdown": 30,
    }
    if args.workers > 1:
        if not settings.redis_url:
            print(
                "note: without REDIS_URL a settings change reaches only the worker that took it",
                file=sys.stderr,
            )
        # each worker process builds its app (and engine) from the environment
        uvicorn.run("core.api:app_factory", factory=True, workers=args.workers, **common)
    else:
        uvicorn.run(create_app(settings, serving=True), **common)
    return 0
