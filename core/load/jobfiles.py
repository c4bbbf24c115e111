"""Small, atomic file helpers for burst and experiment directories (blocking; tiny files)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import orjson


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as JSON atomically (readers never see half a file).

    >>> # write_json(folder / "status.json", {"state": "running"})
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-")
    with os.fdopen(fd, "wb") as fh:
        fh.write(orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY))
    os.replace(tmp, path)


def read_json(path: Path) -> Any | None:
    """The JSON in ``path``, or None if it is missing or unreadable."""
    try:
        return orjson.loads(path.read_bytes())
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
