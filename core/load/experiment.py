"""Before/after experiments: the same seeded workload under two or more settings, compared.

Each configuration runs the same load shape over the same seeded question sequence on one engine
(indexes loaded once). Before every turn the cache is purged, so no configuration inherits
another's warm cache. Schedules:

* ``back_to_back``: config A for the whole duration, then B, ...
* ``interleaved``: ``rounds`` turns of ``duration / rounds`` each, A B A B ..., turn r replaying the
  sequence of seed ``seed + r``: machine noise (other processes, thermal) hits every config alike.

    spec = ExperimentSpec(configs=(ExperimentConfig(name="naive", preset="naive"),
                                   ExperimentConfig(name="optimized", preset="optimized")),
                          load=BurstSpec(users=50, duration_s=20))
    result = await run_experiment(engine, spec, workload)
    result.ratios["optimized"]["throughput"]          # optimized / naive
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from core.config import EngineSettings, PresetName
from core.load.runner import LoadReport, LoadRunner
from core.load.spec import BurstSpec
from core.load.stats import bootstrap_ci, ratio
from core.load.targets import EngineTarget
from core.load.workload import Workload
from core.metrics.quantiles import percentile
from core.runctx import PHASES

MAX_DIFFS = 20


class ExperimentConfig(BaseModel):
    """One arm of an experiment: a preset and/or mode overrides on top of the base settings."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=60)
    preset: PresetName | None = None
    overrides: dict[str, Any] = Field(default_factory=dict)

    def settings(self, base: EngineSettings) -> EngineSettings:
        s = base.updated(preset=self.preset) if self.preset else base
        return s.updated(**self.overrides) if self.overrides else s


class ExperimentSpec(BaseModel):
    """Which configurations, under which load, in which order."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    configs: tuple[ExperimentConfig, ...] = Field(min_length=2, max_length=8)
    """The first one is the baseline every ratio is relative to."""
    load: BurstSpec = BurstSpec()
    """Load shape, workload (mix, questions, seed), emulated latency, base settings."""
    schedule: Literal["back_to_back", "interleaved"] = "interleaved"
    rounds: int = Field(2, ge=1, le=20)
    """Turns per configuration when interleaved."""
    purge_cache: bool = True
    """Purge the cache before each turn (cold start for every configuration)."""
    warmup_s: float = Field(0.0, ge=0, le=3600)
    """Unmeasured load run at the start of each turn (after the purge), to compare steady states."""
    label: str = ""

    @model_validator(mode="after")
    def _unique_names(self) -> ExperimentSpec:
        names = [c.name for c in self.configs]
        if len(set(names)) != len(names):
            raise ValueError(f"configuration names must be unique, got {names}")
        return self

    def settings_for(self, config: ExperimentConfig) -> EngineSettings:
        return config.settings(self.load.engine_settings())

    @classmethod
    def from_names(cls, names: list[str], load: BurstSpec, **kw: Any) -> ExperimentSpec:
        """``["naive", "optimized"]`` or ``["optimized", "optimized+cache=off"]`` (preset + overrides).

        >>> ExperimentSpec.from_names(["naive", "optimized+cache=off"], BurstSpec()).configs[1].overrides
        {'cache': 'off'}
        """
        from core.config import parse_assignments

        configs = []
        for name in names:
            head, *mods = name.split("+")
            configs.append(
                ExperimentConfig(name=name, preset=head or None, overrides=parse_assignments(mods))
            )
        return cls(configs=tuple(configs), load=load, **kw)


@dataclass
class ConfigRun:
    """What one configuration did over all its turns."""

    name: str
    settings: EngineSettings
    reports: list[LoadReport] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    phases: dict[str, float] = field(default_factory=lambda: dict.fromkeys(PHASES, 0.0))
    node_time: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    answers: dict[str, tuple[tuple[str, ...], str]] = field(default_factory=dict)
    results: int = 0

    def absorb(self, report: LoadReport) -> None:
        """Keep the numbers of a turn, drop its results (memory)."""
        for o in report.outcomes:
            if o.status == "ok":
                self.latencies.append(o.latency_s)
            if o.result is None:
                continue
            self.results += 1
            for phase, secs in o.result.phases.items():
                self.phases[phase] = self.phases.get(phase, 0.0) + secs
            for t in o.result.timings:
                if not t.cache_hit:
                    self.node_time[t.node.split("[")[0]].append(t.duration_s)
            self.answers.setdefault(
                o.question, (tuple(sorted(f.doc_id for f in o.result.findings)), o.result.summary)
            )
        report.outcomes = []
        self.reports.append(report)

    def metrics(self, n_boot: int = 1000) -> dict[str, Any]:
        s = [r.summary for r in self.reports]
        completed = sum(x["completed"] for x in s)
        issued = sum(x["issued"] for x in s)
        elapsed = sum(x["elapsed_s"] for x in s)
        hits = sum((x["hit_rate"] or 0) * x["completed"] for x in s)
        out: dict[str, Any] = {
            "name": self.name,
            "settings": self.settings.modes(),
            "issued": issued,
            "completed": completed,
            "errors": sum(x["errors"] for x in s),
            "rejected": sum(x["rejected"] for x in s),
            "elapsed_s": round(elapsed, 3),
            "throughput": round(completed / elapsed, 3) if elapsed else 0.0,
            "error_rate": round(sum(x["errors"] for x in s) / issued, 4) if issued else 0.0,
            "hit_rate": round(hits / completed, 4) if completed else None,
            "peak_rss_mb": max((x["peak_rss_mb"] for x in s), default=None),
            "emulated": any(x.get("emulated") for x in s),
            "phases_s": {k: round(v, 4) for k, v in self.phases.items()},
            "phases_mean_ms": {
                k: round(1000 * v / self.results, 3) if self.results else None for k, v in self.phases.items()
            },
            "nodes_mean_ms": {
                n: round(1000 * float(np.mean(v)), 3) for n, v in sorted(self.node_time.items())
            },
            "nodes_runs": {n: len(v) for n, v in sorted(self.node_time.items())},
        }
        per_second = [
            e["throughput"]
            for r in self.reports
            for e in r.timeline
            if e["span_s"] >= 0.5 and e.get("phase") == "run"
        ]
        out["throughput_ci"] = (
            _round_pair(bootstrap_ci(per_second, 50, n_boot=n_boot)) if per_second else None
        )
        for q in (50, 95, 99):
            p = percentile(self.latencies, q)
            out[f"p{q}_ms"] = round(1000 * p, 3) if p is not None else None
            ci = bootstrap_ci(self.latencies, q, n_boot=n_boot, seed=q)
            out[f"p{q}_ci_ms"] = _round_pair((1000 * ci[0], 1000 * ci[1])) if ci else None
        return out


def _round_pair(pair: tuple[float, float] | None) -> list[float] | None:
    return [round(pair[0], 3), round(pair[1], 3)] if pair else None


@dataclass
class ExperimentResult:
    spec: ExperimentSpec
    runs: list[ConfigRun]
    per_config: dict[str, dict[str, Any]]
    ratios: dict[str, dict[str, Any]]
    equivalence: dict[str, dict[str, Any]]
    timelines: dict[str, list[dict[str, Any]]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "spec": self.spec.model_dump(mode="json"),
            "baseline": self.runs[0].name,
            "emulated": any(m["emulated"] for m in self.per_config.values()),
            "per_config": self.per_config,
            "ratios": self.ratios,
            "equivalence": self.equivalence,
            "timelines": self.timelines,
        }


def compare(base: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
    """Ratios of ``other`` against the baseline: >1 always means ``other`` is better.

    >>> compare({"throughput": 10, "p50_ms": 40, "p95_ms": 80, "p99_ms": 90, "nodes_mean_ms": {},
    ...          "phases_mean_ms": {}}, {"throughput": 50, "p50_ms": 4, "p95_ms": 8, "p99_ms": 9,
    ...          "nodes_mean_ms": {}, "phases_mean_ms": {}})["throughput"]
    5.0
    """
    out: dict[str, Any] = {"throughput": _r(ratio(other["throughput"], base["throughput"]))}
    for q in ("p50_ms", "p95_ms", "p99_ms"):
        out[f"{q.removesuffix('_ms')}_speedup"] = _r(ratio(base[q], other[q]))
    out["nodes_speedup"] = {
        n: _r(ratio(base["nodes_mean_ms"].get(n), other["nodes_mean_ms"].get(n)))
        for n in sorted(set(base["nodes_mean_ms"]) | set(other["nodes_mean_ms"]))
    }
    out["phases_speedup"] = {
        p: _r(ratio(base["phases_mean_ms"].get(p), other["phases_mean_ms"].get(p)))
        for p in base["phases_mean_ms"]
    }
    return out


def _r(x: float | None) -> float | None:
    return round(x, 3) if x is not None else None


def equivalence(base: ConfigRun, other: ConfigRun) -> dict[str, Any]:
    """Same question, same answer? Compares finding doc_ids (as a set) and the summary text."""
    common = sorted(set(base.answers) & set(other.answers))
    diffs = []
    for q in common:
        (ids_a, sum_a), (ids_b, sum_b) = base.answers[q], other.answers[q]
        what = [w for w, same in (("findings", ids_a == ids_b), ("summary", sum_a == sum_b)) if not same]
        if what:
            diffs.append(
                {
                    "question": q,
                    "differs_in": what,
                    "only_in_baseline": sorted(set(ids_a) - set(ids_b))[:5],
                    "only_in_other": sorted(set(ids_b) - set(ids_a))[:5],
                }
            )
    return {
        "compared": len(common),
        "equal": len(common) - len(diffs),
        "different": len(diffs),
        "differences": diffs[:MAX_DIFFS],
    }


async def run_experiment(
    engine: Any,
    spec: ExperimentSpec,
    workload: Workload,
    *,
    on_tick: Callable[[str, dict[str, Any]], None] | None = None,
    stop: Any = None,
    n_boot: int = 1000,
) -> ExperimentResult:
    """Run every configuration of ``spec`` on ``engine`` and compare them (see the module doc)."""
    runs = [ConfigRun(c.name, spec.settings_for(c)) for c in spec.configs]
    rounds = spec.rounds if spec.schedule == "interleaved" else 1
    turn_shape = spec.load.model_copy(update={"duration_s": spec.load.duration_s / rounds})
    timelines: dict[str, list[dict[str, Any]]] = {r.name: [] for r in runs}
    for rnd in range(rounds):
        for run in runs:
            if stop is not None and stop.is_set():
                break
            engine.apply_settings(run.settings.model_copy(update={"version": engine.settings.version + 1}))
            if spec.purge_cache:
                await engine.purge_cache()
            if spec.warmup_s > 0:
                # same mix, another seed: warms the cache without replaying the measured sequence
                warm = turn_shape.model_copy(
                    update={"duration_s": spec.warmup_s, "seed": spec.load.seed + 7919}
                )
                wl_warm = Workload(workload.questions, workload.mix, spec.load.seed + 7919 + rnd)
                await LoadRunner(EngineTarget(engine), wl_warm, warm, stop=stop).run()
            shape = turn_shape.model_copy(update={"seed": spec.load.seed + rnd})
            wl = Workload(workload.questions, workload.mix, spec.load.seed + rnd, name=workload.name)
            offset = len(timelines[run.name])

            def tick(entry: dict[str, Any], name: str = run.name, base: int = offset, r: int = rnd) -> None:
                entry = {**entry, "t": base + entry["t"], "config": name, "round": r}
                timelines[name].append(entry)
                if on_tick is not None:
                    on_tick(name, entry)

            runner = LoadRunner(
                EngineTarget(engine, keep_results=True, max_sources=spec.load.max_sources),
                wl,
                shape,
                on_tick=tick,
                stop=stop,
                keep_outcomes=True,
            )
            run.absorb(await runner.run())
    per_config = {r.name: r.metrics(n_boot) for r in runs if r.reports}
    done = [r for r in runs if r.reports]
    base = done[0] if done else runs[0]
    ratios = {r.name: compare(per_config[base.name], per_config[r.name]) for r in done[1:]}
    equiv = {r.name: equivalence(base, r) for r in done[1:]}
    return ExperimentResult(spec, runs, per_config, ratios, equiv, timelines)
