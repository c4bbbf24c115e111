"""Small, atomic file helpers for burst and experiment directories (blocking; tiny files).

Job files never hold a secret: a URL with a password (``redis://:pw@host``, a PostgreSQL DSN) is
written with the password replaced by ``${RESEARCHOPS_SECRET_<id>}``, and the password is put in
this process's environment under that name, which the burst/experiment child inherits (it is
spawned right after its job file is written). ``read_json`` puts the password back from the
environment, so the child connects as the parent did while the file on disk stays clean.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import orjson
import xxhash

from core.config import SECRET_PREFIX, resolve_secrets


def _redact_url(text: str) -> str:
    if "://" not in text or "@" not in text:
        return text
    try:
        parts = urlsplit(text)
        password = parts.password
    except ValueError:
        return text
    if not password:
        return text
    user = parts.username or ""
    host = parts.netloc.rsplit("@", 1)[1]
    name = SECRET_PREFIX + xxhash.xxh3_64_hexdigest(f"{parts.scheme}://{user}@{host}".encode()).upper()
    os.environ[name] = password  # inherited by the child spawned for this job, never on disk
    return urlunsplit(parts._replace(netloc=f"{user}:${{{name}}}@{host}"))


def redact(data: Any) -> Any:
    """``data`` with every password in a URL replaced by an environment reference.

    >>> redact({"redis_url": "redis://:s3cret@10.0.0.5:6379/0"})["redis_url"]  # doctest: +ELLIPSIS
    'redis://:${RESEARCHOPS_SECRET_...}@10.0.0.5:6379/0'
    """
    if isinstance(data, str):
        return _redact_url(data)
    if isinstance(data, dict):
        return {k: redact(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [redact(v) for v in data]
    return data


def restore(data: Any) -> Any:
    """``redact`` undone from this process's environment (references without a value stay).

    ``Settings`` resolves the references in its URL fields by itself, so a job read without
    ``read_json`` still connects."""
    if isinstance(data, str):
        return resolve_secrets(data)
    if isinstance(data, dict):
        return {k: restore(v) for k, v in data.items()}
    if isinstance(data, list):
        return [restore(v) for v in data]
    return data


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as JSON atomically (readers never see half a file).

    >>> # write_json(folder / "status.json", {"state": "running"})
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-")
    with os.fdopen(fd, "wb") as fh:
        fh.write(orjson.dumps(redact(data), option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY))
    os.replace(tmp, path)


def read_json(path: Path) -> Any | None:
    """The JSON in ``path``, or None if it is missing or unreadable."""
    try:
        return restore(orjson.loads(path.read_bytes()))
    except (OSError, ValueError):
        return None


def read_jsonl(path: Path, since: int = 0) -> list[dict[str, Any]]:
    """Complete JSON lines of ``path`` with ``t`` > ``since`` (a partial last line is skipped)."""
    try:
        data = path.read_bytes()
    except OSError:
        return []
    out = []
    for line in data[: data.rfind(b"\n") + 1].splitlines():
        try:
            entry = orjson.loads(line)
        except ValueError:
            continue
        if entry.get("t", 0) > since:
            out.append(entry)
    return out
