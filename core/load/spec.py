"""What a burst is: ``BurstSpec`` (load shape + workload + settings + target) and operator ``BurstCaps``.

spec = build_spec(users=50, duration_s=30, think_time_s=1, mix="zipf:1.1:1000", preset="optimized")
BurstCaps(max_users=500).check(spec)     # InvalidInput naming the field and the limit
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from core.config import EngineSettings, LatencyProfile, PresetName
from core.errors import InvalidInput
from core.load.runner import LoadShape, RateStep
from core.load.workload import (
    Workload,
    corpus_pool,
    load_question_file,
    parse_mix,
    parse_questions,
    split_by_share,
)


class BurstSpec(LoadShape):
    """One load burst: how load is shaped (``LoadShape`` fields) plus what it runs against."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    label: str = Field("", max_length=200)
    """Free text shown beside the burst."""
    mix: str = "zipf:1.1:1000"
    """Popularity mix: ``zipf:S:N`` or ``uniform:N`` over the question pool."""
    questions: tuple[str, ...] = ()
    """Inline questions (e.g. an upload); empty = ``questions_file`` or the built-in corpus pool."""
    questions_file: str | None = None
    """A question file (one per line, or CSV with a ``question`` column)."""
    preset: PresetName | None = None
    """Start from this preset of modes instead of ``settings``."""
    settings: EngineSettings | None = None
    """The live settings in force when the burst was launched (None = defaults)."""
    overrides: dict[str, Any] = Field(default_factory=dict)
    """Mode changes on top, e.g. ``{"cache": "off"}``."""
    target: Literal["engine", "workers", "http"] = "engine"
    """``engine``: an engine in each burst process; ``workers``: the worker pool through the queue
    (needs Redis); ``http``: Locust against ``http_url``."""
    processes: int | None = Field(None, ge=1, le=256)
    """Load-generating processes, each with its share of users (and rate) and, for ``engine``, its
    own engine; None = one per core. 1 = everything in one process (the zero-transport baseline).
    For ``http`` it is Locust's ``--processes``."""
    routing: Literal["question", "even"] = "question"
    """How a multi-process burst splits its questions: ``question`` gives each process a part of
    the pool (sticky routing by question, as a cache-affinity load balancer does; users split by
    each part's share of requests), so identical questions meet in one engine and coalesce;
    ``even``: every process asks the whole pool with an even share of users."""
    http_url: str | None = None
    http_path: str = "/research"
    max_sources: int = Field(10, ge=1, le=50)
    emulate_model: bool = False
    """Emulate model-call latency with ``model_latency`` (labelled emulated in every output)."""
    model_latency: LatencyProfile = LatencyProfile()

    @field_validator("mix")
    @classmethod
    def _mix_ok(cls, v: str) -> str:
        parse_mix(v)
        return v

    def resolved_processes(self) -> int:
        """``processes``, or one per core this process may run on."""
        if self.processes is not None:
            return self.processes
        return default_processes()

    def share(self, index: int, count: int, shares: Sequence[float] | None = None) -> BurstSpec:
        """Process ``index`` of ``count``'s part: its share of users and of the arrival rate (even,
        or in proportion to ``shares``), its own seed (processes do not ask the same sequence), one
        process.

        >>> [BurstSpec(users=5).share(i, 2).users for i in range(2)]
        [3, 2]
        """
        weights = np.asarray(shares if shares is not None else [1.0] * count, dtype=np.float64)
        users = split_by_share(self.users, weights)[index]
        fraction = float(weights[index] / weights.sum())
        steps = tuple(RateStep(at_s=st.at_s, rate=st.rate * fraction) for st in self.rate_steps)
        return self.model_copy(
            update={
                "users": max(users, 1),
                "rate": self.rate * fraction,
                "rate_steps": steps,
                "seed": self.seed + 7919 * index,
                "processes": 1,
            }
        )

    def engine_settings(self) -> EngineSettings:
        """The settings the burst's engine runs under (raises InvalidInput for a bad override)."""
        base = self.settings or EngineSettings()
        if self.preset:
            base = base.updated(preset=self.preset)
        changes = dict(self.overrides)
        if self.emulate_model:
            changes["model_latency"] = self.model_latency
        return base.updated(**changes) if changes else base

    def workload(
        self, sources: dict[str, Any] | None, data_dir: Path, index_dir: Path | None = None
    ) -> Workload:
        """The seeded workload (blocking: may read a file or generate the corpus pool)."""
        if self.questions:
            pool = parse_questions("\n".join(self.questions), csv_format=False)
            name = "inline"
        elif self.questions_file:
            pool, name = load_question_file(Path(self.questions_file)), Path(self.questions_file).name
        else:
            if sources is None:
                from core.load.workload import open_corpus_pool

                pool = open_corpus_pool(data_dir, index_dir)
            else:
                pool = corpus_pool(sources, data_dir)
            name = "corpus"
        return Workload(pool, parse_mix(self.mix), self.seed, name=name)


def default_processes() -> int:
    """One per core this process may run on."""
    import os

    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


class BurstCaps(BaseModel):
    """Operator limits on what a burst may ask for."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_users: int = Field(20_000, ge=1)
    max_duration_s: float = Field(600.0, gt=0)
    max_rate: float = Field(2_000.0, gt=0)

    def check(self, spec: BurstSpec) -> None:
        """Raise InvalidInput listing every field over its limit.

        >>> BurstCaps(max_users=5).check(BurstSpec(users=10))
        Traceback (most recent call last):
        core.errors.InvalidInput: users: 10 users is over the operator limit of 5 (max_users)
        """
        errors = []
        if spec.mode == "closed" and spec.users > self.max_users:
            errors.append(
                {
                    "field": "users",
                    "message": f"{spec.users} users is over the operator limit of {self.max_users} "
                    "(max_users)",
                }
            )
        if spec.duration_s > self.max_duration_s:
            errors.append(
                {
                    "field": "duration_s",
                    "message": f"{spec.duration_s:g} s is over the operator limit "
                    f"of {self.max_duration_s:g} s (max_duration_s)",
                }
            )
        if spec.mode == "open":
            peak = max([spec.rate, *(s.rate for s in spec.rate_steps)])
            if peak > self.max_rate:
                errors.append(
                    {
                        "field": "rate",
                        "message": f"{peak:g}/s is over the operator limit of {self.max_rate:g}/s (max_rate)",
                    }
                )
        if spec.mode == "closed" and spec.processes is not None and spec.processes > spec.users:
            errors.append(
                {
                    "field": "processes",
                    "message": f"{spec.processes} processes for {spec.users} users: at most one per user",
                }
            )
        if spec.target == "http" and not spec.http_url:
            errors.append({"field": "http_url", "message": "required when target is http"})
        if errors:
            raise InvalidInput(errors)


def build_spec(*, model_ms: float | None = None, **fields: Any) -> BurstSpec:
    """The one way entry points (CLI, Load page, benches) build a ``BurstSpec``.

    Bad values raise InvalidInput naming the field; ``model_ms`` emulates model-call latency with
    that median (labelled emulated in every output).

    >>> build_spec(users=5, model_ms=250).model_latency.median_ms
    250.0
    >>> build_spec(users=0)
    Traceback (most recent call last):
    core.errors.InvalidInput: users: Input should be greater than or equal to 1
    """
    if model_ms:
        fields |= {"emulate_model": True, "model_latency": LatencyProfile(median_ms=model_ms)}
    try:
        return BurstSpec(**fields)
    except ValidationError as exc:
        raise InvalidInput.from_validation_error(exc) from None


def parse_rate_steps(text: str | None) -> tuple[RateStep, ...]:
    """``"0:50,10:500"`` -> 50/s from 0 s, 500/s from 10 s.

    >>> [(s.at_s, s.rate) for s in parse_rate_steps("0:50,10:500")]
    [(0.0, 50.0), (10.0, 500.0)]
    """
    if not text:
        return ()
    steps = []
    for part in text.split(","):
        at, sep, rate = part.partition(":")
        try:
            if not sep:
                raise ValueError(part)
            steps.append(RateStep(at_s=float(at), rate=float(rate)))
        except ValueError:
            raise InvalidInput(
                [{"field": "rate_steps", "message": f"expected AT_S:RATE[,AT_S:RATE...], got {text!r}"}]
            ) from None
    return tuple(sorted(steps, key=lambda s: s.at_s))
