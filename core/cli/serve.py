"""``researchops serve``: the HTTP API under uvicorn (the app itself is ``core.api``)."""

from __future__ import annotations

import argparse
from typing import Any

from core.config import Settings


def register(subparsers: Any) -> None:
    """Add ``serve`` to the ``researchops`` command."""
    p = subparsers.add_parser("serve", help="serve the HTTP API")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.set_defaults(func=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from core.api import create_app

    # one engine per process: scale the API with replicas, not uvicorn workers
    uvicorn.run(create_app(Settings()), host=args.host, port=args.port, timeout_graceful_shutdown=30)
    return 0
