"""Settings: the process configuration (from env, built once) and the live engine modes.

``Settings`` is read once at the entry point (CLI, API, dashboard, worker) and passed down.
``EngineSettings`` is the frozen, versioned value of every live optimization mode; an operator
change produces a new version, which workflows pick up at their next start.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.errors import InvalidInput

CacheMode = Literal["off", "l1", "l1+l2"]
CodecName = Literal["json", "orjson", "msgpack", "ormsgpack", "pickle"]
ValidationMode = Literal["strict", "boundary", "trusted"]
ExecutionMode = Literal["parallel", "sequential"]
StateHandling = Literal["reference", "copy"]
PresetName = Literal["naive", "optimized"]
AgentsMode = Literal["pydantic_ai", "direct"]


def _env(name: str) -> Any:
    return AliasChoices(name, f"RESEARCHOPS_{name}")


SECRET_PREFIX = "RESEARCHOPS_SECRET_"
_SECRET_REF = re.compile(r"\$\{(" + SECRET_PREFIX + r"[0-9A-F]{16})\}")
DEFAULT_CONCURRENCY = 64
"""Default ``max_concurrent`` (see the field for what it trades)."""


def resolve_secrets(text: str) -> str:
    """Replace ``${RESEARCHOPS_SECRET_<id>}`` references (how job files carry a password, see
    ``core.load.jobfiles``) by their value from the environment; unknown references stay.

    >>> resolve_secrets("redis://127.0.0.1:6379/0")
    'redis://127.0.0.1:6379/0'
    """
    if "${" + SECRET_PREFIX not in text:
        return text
    return _SECRET_REF.sub(lambda m: os.environ.get(m.group(1), m.group(0)), text)


class Settings(BaseSettings):
    """Process settings, from the environment (``RESEARCHOPS_*``; ``REDIS_URL`` etc. as is)."""

    model_config = SettingsConfigDict(env_prefix="RESEARCHOPS_", extra="ignore", frozen=True)

    data_dir: Path = Path(".data")
    """Where indexes, the SQLite L2 cache and the SQLite run store live."""
    index_dir: Path | None = None
    """Where the search indexes live; default ``<data_dir>/index``. Several data dirs may share one."""
    docs_dir: Path | None = None
    """The user's own documents (.md .txt .rst .html .pdf); default: the bundled sample folder."""
    redis_url: str | None = Field(None, validation_alias=_env("REDIS_URL"))
    """L2 cache (and worker queue) on Redis; unset = embedded SQLite L2."""
    async_runs: Literal["engine", "workers"] = "engine"
    """Where ``POST /research?async=true`` runs: the API's own engine, or the worker pool through the
    queue (``workers``; needs ``REDIS_URL`` and running ``researchops worker`` processes)."""
    database_url: str | None = Field(None, validation_alias=_env("DATABASE_URL"))
    """Run store and checkpoints on PostgreSQL; unset = embedded SQLite."""
    prometheus_url: str | None = Field(None, validation_alias=_env("PROMETHEUS_URL"))
    """Read metrics from this Prometheus server; unset = in-process snapshot."""
    metrics_port: int | None = None
    """Serve ``/metrics`` on this port while the engine runs (0 = any free port, None = off)."""
    metrics_addr: str = "127.0.0.1"
    """Address ``/metrics`` binds to (``0.0.0.0`` in containers, so Prometheus can scrape it)."""
    model: str = "offline"
    """``offline`` or any Pydantic AI model string, e.g. ``openai:gpt-4o-mini``."""
    model_base_url: str | None = None
    """OpenAI-compatible base URL (Ollama, vLLM) for ``openai:`` models."""
    operator_password_hash: str | None = None
    operator_token: str | None = None
    """Bearer token required to change settings through the HTTP API."""
    l1_max_entries: int = 10_000
    l1_max_bytes: int = 64 * 1024 * 1024
    source_timeout_s: float = 5.0
    source_retries: int = 2
    """Retries after the first attempt, with exponential backoff and jitter."""
    sources: tuple[str, ...] = ("stdlib", "packages", "docs")
    event_log: Literal["full", "summary", "sampled"] = "full"
    """Run events kept in the store: every event, only started+completed, or full for a sample."""
    event_sample_rate: float = Field(0.05, ge=0, le=1)
    retention_max_runs: int | None = 100_000
    retention_max_age_s: float | None = 30 * 86400
    checkpoints: bool = True
    """LangGraph checkpoints per superstep (SQLite file, or PostgreSQL with ``DATABASE_URL``): runs
    can be resumed after a crash, replayed and forked. A process setting: the checkpointer is a
    connection opened at start-up, and durability is not an optimization mode to toggle live."""

    @field_validator("redis_url", "database_url")
    @classmethod
    def _secrets(cls, value: str | None) -> str | None:
        return None if value is None else resolve_secrets(value)

    @property
    def resolved_index_dir(self) -> Path:
        return self.index_dir or self.data_dir / "index"

    @property
    def resolved_docs_dir(self) -> Path:
        return self.docs_dir or Path(__file__).resolve().parent.parent / "samples" / "docs"


class LatencyProfile(BaseModel):
    """An emulated latency distribution (lognormal) with a failure rate. Always labelled emulated."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    median_ms: float = Field(300.0, ge=0, le=60_000)
    """Median latency in milliseconds."""
    sigma: float = Field(0.5, ge=0, le=3)
    """Lognormal shape: 0 = constant, 0.5 = moderate tail, 1+ = heavy tail."""
    failure_rate: float = Field(0.0, ge=0, le=1)
    """Probability that one call fails (after the latency)."""


class EngineSettings(BaseModel):
    """The live optimization modes. Frozen; ``updated()`` returns the next version."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: int = 1
    preset: str | None = "optimized"
    """The preset these settings equal, or None once changed by hand."""
    cache: CacheMode = "l1+l2"
    codec: CodecName = "ormsgpack"
    validation: ValidationMode = "boundary"
    lazy_validation: bool = True
    """Validate large source documents' fields on first access instead of eagerly."""
    execution: ExecutionMode = "parallel"
    state_handling: StateHandling = "reference"
    agents: AgentsMode = "direct"
    """How the offline model is called: ``pydantic_ai`` (its agents, the framework's cost included) or
    ``direct`` (its functions straight: same prompts, outputs and answers). Any other model always
    runs through Pydantic AI; an explicit ``direct`` for one is refused."""
    max_concurrent: int = Field(DEFAULT_CONCURRENCY, ge=1, le=100_000)
    """Workflows running at once; more wait in the queue. It trades two things (measured, 10,000
    users zipf, 300 ms emulated model): fewer slots finish the first runs of a cold cache sooner
    (64: p95 1.2 s, 128: 1.9 s, 256: 3.8 s; runs share the CPU, so more at once each take longer),
    but a run holds its slot while it waits on the model, so N slots cap a process at N / run
    latency (64 slots at 3 s per run: ~21 runs/s; 256 slots served 1.5x the throughput there).
    Raise it for slow models."""
    queue_limit: int | None = Field(None, ge=0, le=1_000_000)
    """Workflows allowed to wait; beyond this a run is refused with Overloaded. None (default) =
    4 x ``max_concurrent``, so overload is refused by default instead of queued for minutes."""
    queue_deadline_s: float | None = Field(10.0, gt=0, le=3600, allow_inf_nan=False)
    """Longest a run waits for a slot before it is refused with Overloaded (None = no deadline)."""
    result_ttl_s: int = Field(3600, ge=1)
    node_ttl_s: int = Field(3600, ge=1)
    model_latency: LatencyProfile | None = None
    """Emulated model-call latency (None = off)."""
    source_latency: LatencyProfile | None = None
    """Emulated remote-source latency and failures for every source (None = off)."""

    @property
    def emulated(self) -> bool:
        return self.model_latency is not None or self.source_latency is not None

    def updated(self, **changes: Any) -> EngineSettings:
        """Validate ``changes`` and return the next version (raises InvalidInput)."""
        data = self.model_dump()
        preset = changes.pop("preset", None)
        if preset is not None:
            data.update(PRESETS[_check_preset(preset)])
            data["preset"] = preset
        if changes:
            data.update(changes)
            data["preset"] = None
        data["version"] = self.version + 1
        try:
            new = EngineSettings.model_validate(data)
        except ValidationError as exc:
            raise InvalidInput.from_validation_error(exc) from None
        return new.model_copy(update={"preset": new.matching_preset()})

    def matching_preset(self) -> str | None:
        for name, values in PRESETS.items():
            if all(getattr(self, k) == v for k, v in values.items()):
                return name
        return None

    def modes(self) -> dict[str, Any]:
        """The mode fields only (no version), for display and comparison."""
        return self.model_dump(exclude={"version", "preset"})


def _check_preset(name: str) -> str:
    if name not in PRESETS:
        raise InvalidInput(
            [{"field": "preset", "message": f"unknown preset {name!r}; one of {sorted(PRESETS)}"}]
        )
    return name


PRESETS: dict[str, dict[str, Any]] = {
    "naive": {
        "cache": "off",
        "codec": "json",
        "validation": "strict",
        "lazy_validation": False,
        "execution": "sequential",
        "state_handling": "copy",
        "agents": "pydantic_ai",
        # the prototype answers one request at a time: no two model calls ever overlap
        "max_concurrent": 1,
    },
    "optimized": {
        "cache": "l1+l2",
        "codec": "ormsgpack",
        "validation": "boundary",
        "lazy_validation": True,
        "execution": "parallel",
        "state_handling": "reference",
        "agents": "direct",
        "max_concurrent": DEFAULT_CONCURRENCY,
    },
}


def preset(name: str, **overrides: Any) -> EngineSettings:
    """The settings of a preset, e.g. ``preset("naive", model_latency=LatencyProfile())``."""
    return EngineSettings(version=1).updated(preset=name, **overrides).model_copy(update={"version": 1})


def split_assignments(pairs: list[str], expected: str = "key=value") -> list[tuple[str, str]]:
    """``key=value`` strings (CLI ``--set``) split into stripped keys and raw values.

    >>> split_assignments(["a = 1", "b=x=y"])
    [('a', ' 1'), ('b', 'x=y')]
    """
    out: list[tuple[str, str]] = []
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InvalidInput([{"field": "set", "message": f"expected {expected}, got {pair!r}"}])
        out.append((key.strip(), value))
    return out


def parse_assignments(pairs: list[str]) -> dict[str, Any]:
    """Parse ``key=value`` strings (CLI ``--set``) into a dict of raw values.

    >>> parse_assignments(["cache=off", "max_concurrent=8"])
    {'cache': 'off', 'max_concurrent': '8'}
    """
    out: dict[str, Any] = {}
    for key, value in split_assignments(pairs):
        if key not in EngineSettings.model_fields or key == "version":
            raise InvalidInput([{"field": key, "message": "unknown setting"}])
        out[key] = (
            None if value.strip().lower() in {"none", "off"} and key.endswith("latency") else value.strip()
        )
    return out
