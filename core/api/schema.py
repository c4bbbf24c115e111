"""The API's documented bodies: responses, the settings-change model and the error responses."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, create_model

from core.config import EngineSettings, LatencyProfile, PresetName

EMULATED_HEADER = "X-ResearchOps-Emulated"
MAX_BODY_BYTES = 64 * 1024
"""Largest request body read (a question is at most 500 characters; settings changes are small)."""


class RunAccepted(BaseModel):
    run_id: str
    """Poll ``GET /runs/{run_id}`` for the record."""


class ErrorBody(BaseModel):
    detail: str


class FieldError(BaseModel):
    loc: list[str | int]
    msg: str
    type: str = "value_error"


class ValidationErrorBody(BaseModel):
    detail: list[FieldError]


class Check(BaseModel):
    ok: bool
    detail: str = ""


class Readiness(BaseModel):
    status: Literal["ready", "degraded", "not ready"]
    """``degraded``: a shared backend is down and this process runs on its fallback (still 200)."""
    checks: dict[str, Check]
    degraded: list[str] = []
    """The components running on a fallback: settings, cache, queue, store."""


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class StoredEvent(BaseModel):
    run_id: str
    seq: int
    type: str
    at: str
    data: dict[str, Any]


def _numbers_only(value: Any) -> Any:
    """Strict numbers in a change (recursively, for latency profiles): a bool is not a number,
    and inf/NaN (``1e400`` parses as inf) are not settings."""
    if isinstance(value, bool):
        raise ValueError("expected a number, got a boolean")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("expected a finite number")
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(v, bool | float):
                try:
                    _numbers_only(v)
                except ValueError as exc:
                    raise ValueError(f"{k}: {exc}") from None
    return value


_NUMERIC = (int, float, int | None, float | None, LatencyProfile | None)


def _change_model() -> type[BaseModel]:
    """Every live mode, optional: a PUT /settings body is a partial change (or a preset)."""
    fields: dict[str, Any] = {
        "preset": (PresetName, Field(None, description="Switch every mode to this preset first"))
    }
    for name, info in EngineSettings.model_fields.items():
        if name in {"version", "preset"}:
            continue
        extra = (BeforeValidator(_numbers_only),) if info.annotation in _NUMERIC else ()
        metadata = (*info.metadata, *extra)
        annotation = Annotated[(info.annotation, *metadata)] if metadata else info.annotation
        # default None = "unchanged"; null is accepted only where the mode itself allows None
        fields[name] = (annotation, Field(None, description=info.description))
    config = ConfigDict(extra="forbid", json_schema_extra={"minProperties": 1})
    return create_model("SettingsChange", __config__=config, **fields)


SettingsChange = _change_model()

E422: dict[int | str, dict[str, Any]] = {422: {"model": ValidationErrorBody, "description": "Invalid input"}}
E404: dict[int | str, dict[str, Any]] = {404: {"model": ErrorBody, "description": "Unknown run"}}
E429: dict[int | str, dict[str, Any]] = {
    429: {
        "model": ErrorBody,
        "description": "Overloaded: retry later",
        "headers": {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}},
    },
}
E50x: dict[int | str, dict[str, Any]] = {
    502: {"model": ErrorBody, "description": "The model call failed"},
    503: {
        "model": ErrorBody,
        "description": "A backend this call needs (queue, store) is unavailable: retry later",
        "headers": {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}},
    },
}
E413: dict[int | str, dict[str, Any]] = {
    413: {"model": ErrorBody, "description": f"Body over {MAX_BODY_BYTES} bytes"}
}
EMULATED = {
    EMULATED_HEADER: {
        "description": "`true` when latency in this run was emulated",
        "schema": {"type": "string"},
    }
}
