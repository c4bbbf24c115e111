"""The API's error rendering: typed errors to status codes, short safe bodies, the body size limit.

Bodies never echo the input (FastAPI's default did: a 10 MB question came back whole, and a lone
surrogate or an inf in it made rendering the 422 itself fail with a 500): location, message and
type only, each short and always encodable. A body over the limit is refused with 413 before
the app reads it.
"""

from __future__ import annotations

import math
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.api.schema import MAX_BODY_BYTES
from core.errors import (
    CacheBackendError,
    InvalidInput,
    ModelError,
    Overloaded,
    ResearchOpsError,
    RunNotFound,
    RunOwned,
    StoreError,
    Unavailable,
)

MSG_MAX = 200
"""Longest error message returned: messages never carry more than a short prefix of the input."""


class BodyLimit:
    """ASGI middleware: refuse a body over ``max_bytes`` with 413 before the app reads it.

    A declared ``Content-Length`` is checked before anything is received; a chunked body is
    buffered only up to the limit."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def _refuse(self, send: Send) -> None:
        body = orjson.dumps({"detail": f"request body over {self.max_bytes} bytes"})
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"connection", b"close")],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = None
        for key, value in scope["headers"]:  # a scan, not dict(headers): no dict per request
            if key == b"content-length":
                length = value  # the last one wins, as dict() had it
        if length is not None:
            if not length.isdigit() or int(length) > self.max_bytes:
                await self._refuse(send)
                return
            await self.app(scope, receive, send)
            return
        if scope.get("method") in ("GET", "HEAD", "DELETE", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                await self._refuse(send)
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        replay: list[Message] = [{"type": "http.request", "body": b"".join(chunks), "more_body": False}]

        async def replayed() -> Message:
            return replay.pop() if replay else await receive()

        await self.app(scope, replayed, send)


def safe_text(text: Any, limit: int = MSG_MAX) -> str:
    """A short, always-encodable version of ``text`` (lone surrogates escaped)."""
    out = str(text).encode("utf-8", "backslashreplace").decode("utf-8")
    return out if len(out) <= limit else out[: limit - 1] + "…"


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON response rendered by orjson (several times faster than the stdlib on results)."""
    return Response(orjson.dumps(body), status, headers=headers, media_type="application/json")


class HttpError(Exception):
    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
        self.status, self.detail, self.headers = status, detail, headers


def install_errors(app: FastAPI) -> None:
    @app.exception_handler(HttpError)
    async def http(_r: Request, exc: HttpError) -> Response:
        return json_response({"detail": exc.detail}, exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def bad_body(_r: Request, exc: RequestValidationError) -> Response:
        # FastAPI's default echoes the input: a 10 MB question came back whole, and a lone
        # surrogate or inf in it made rendering the 422 itself fail (a 500). Location, message
        # and type only, each short and encodable.
        detail = [
            {
                "loc": [p if isinstance(p, int) else safe_text(p, 64) for p in e.get("loc", ())],
                "msg": safe_text(e.get("msg", "invalid")),
                "type": safe_text(e.get("type", "value_error"), 64),
            }
            for e in list(exc.errors())[:20]
        ]
        return json_response({"detail": detail}, 422)

    @app.exception_handler(InvalidInput)
    async def invalid(_r: Request, exc: InvalidInput) -> Response:
        detail = [
            {
                "loc": ["body", *safe_text(e["field"], 64).split(".")],
                "msg": safe_text(e["message"]),
                "type": "value_error",
            }
            for e in exc.errors[:20]
        ]
        return json_response({"detail": detail}, 422)

    @app.exception_handler(Overloaded)
    async def overloaded(_r: Request, exc: Overloaded) -> Response:
        retry = str(max(1, math.ceil(exc.retry_after)))
        return json_response({"detail": str(exc)}, 429, headers={"Retry-After": retry})

    @app.exception_handler(Unavailable)
    async def unavailable(_r: Request, exc: Unavailable) -> Response:
        retry = str(max(1, math.ceil(exc.retry_after)))
        return json_response({"detail": safe_text(exc)}, 503, headers={"Retry-After": retry})

    @app.exception_handler(RunNotFound)
    async def not_found(_r: Request, exc: RunNotFound) -> Response:
        return json_response({"detail": safe_text(exc)}, 404)

    @app.exception_handler(RunOwned)
    async def owned(_r: Request, exc: RunOwned) -> Response:
        return json_response({"detail": safe_text(exc)}, 409)

    @app.exception_handler(ResearchOpsError)
    async def failed(_r: Request, exc: ResearchOpsError) -> Response:
        status = (
            502
            if isinstance(exc, ModelError)
            else 503
            if isinstance(exc, StoreError | CacheBackendError)
            else 500
        )
        headers = {"Retry-After": "1"} if status == 503 else None
        return json_response({"detail": safe_text(exc)}, status, headers=headers)
