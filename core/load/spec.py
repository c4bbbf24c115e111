"""What a burst is: ``BurstSpec`` (load shape + workload + settings + target) and operator ``BurstCaps``.

spec = build_spec(users=50, duration_s=30, think_time_s=1, mix="zipf:1.1:1000", preset="optimized")
BurstCaps(max_users=500).check(spec)     # InvalidInput naming the field and the limit
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from core.config import EngineSettings, LatencyProfile, PresetName
from core.errors import InvalidInput
from core.load.runner import LoadShape, RateStep
from core.load.workload import Workload, corpus_pool, load_question_file, parse_mix, parse_questions


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
    target: Literal["engine", "http"] = "engine"
    """``engine``: an engine inside the burst process; ``http``: Locust against ``http_url``."""
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


class BurstCaps(BaseModel):
    """Operator limits on what a burst may ask for."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_users: int = Field(2_000, ge=1)
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
