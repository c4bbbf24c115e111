"""Experiments: ratios come from their runs, answers are compared, reports are written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from core.errors import InvalidInput
from core.load.bursts import BurstManager
from core.load.experiment import ExperimentConfig, ExperimentSpec, run_experiment
from core.load.report import write_report
from core.load.spec import BurstSpec
from core.load.workload import Workload, parse_mix
from tests.load.conftest import QUESTIONS


async def test_experiment_ratios_are_computed_from_its_runs(engine: Any, tmp_path: Path) -> None:
    spec = ExperimentSpec(
        configs=(
            ExperimentConfig(name="naive", preset="naive"),
            ExperimentConfig(name="optimized", preset="optimized"),
        ),
        load=BurstSpec(users=4, duration_s=2.0, questions=QUESTIONS, mix="uniform", drain_s=5),
        schedule="interleaved",
        rounds=2,
    )
    result = await run_experiment(engine, spec, Workload(QUESTIONS, parse_mix("uniform")), n_boot=200)
    naive, opt = result.per_config["naive"], result.per_config["optimized"]
    ratios = result.ratios["optimized"]
    assert ratios["throughput"] == pytest.approx(opt["throughput"] / naive["throughput"], rel=1e-2)
    assert ratios["p50_speedup"] == pytest.approx(naive["p50_ms"] / opt["p50_ms"], rel=1e-2)
    for run in result.runs:  # two turns each, every request accounted for
        assert len(run.reports) == 2
        assert all(
            r.summary["completed"] + r.summary["errors"] + r.summary["rejected"] == r.summary["issued"]
            for r in run.reports
        )
    assert naive["hit_rate"] == 0.0 and opt["hit_rate"] > 0.5  # cache off vs on, same questions
    assert naive["settings"]["cache"] == "off" and opt["settings"]["cache"] == "l1+l2"
    lo, hi = naive["p95_ci_ms"]
    assert lo <= naive["p95_ms"] <= hi
    eq = result.equivalence["optimized"]
    assert eq["compared"] == len(QUESTIONS) and eq["equal"] + eq["different"] == eq["compared"]
    assert set(ratios["nodes_speedup"]) >= {"parse_query", "generate_summary"}

    paths = write_report(result.to_dict(), tmp_path / "report", charts=False)
    md = paths["markdown"].read_text()
    assert "optimized vs naive" in md and "| naive |" in md
    assert paths["json"].exists() and "<table>" in paths["html"].read_text()


async def test_report_charts_render_to_png(tmp_path: Path) -> None:
    data = {
        "spec": ExperimentSpec.from_names(["naive", "optimized"], BurstSpec()).model_dump(mode="json"),
        "baseline": "naive",
        "emulated": True,
        "ratios": {},
        "equivalence": {},
        "per_config": {
            n: {
                "throughput": t,
                "p50_ms": 1.0,
                "p95_ms": 2.0,
                "p99_ms": 3.0,
                "p50_ci_ms": [0.9, 1.1],
                "phases_mean_ms": {"llm": 1.0},
                "phases_s": {"llm": 1.0},
                "nodes_mean_ms": {},
                "error_rate": 0.0,
                "hit_rate": 0.5,
                "peak_rss_mb": 100.0,
                "completed": 10,
            }
            for n, t in (("naive", 5.0), ("optimized", 50.0))
        },
        "timelines": {"naive": [{"t": 1, "throughput": 5.0, "p95_ms": 2.0}]},
    }
    paths = write_report(data, tmp_path, charts=True)
    png = paths["latency"].read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert (
        "latency.png" in paths["markdown"].read_text() and "Emulated latency" in paths["markdown"].read_text()
    )


def test_experiment_specs_are_validated(manager: BurstManager) -> None:
    with pytest.raises(InvalidInput, match="operator limit of 60"):
        manager.start_experiment(ExperimentSpec.from_names(["naive", "optimized"], BurstSpec(duration_s=40)))
    with pytest.raises(InvalidInput, match="unknown setting"):
        ExperimentSpec.from_names(["optimized+bogus=1"], BurstSpec())
    with pytest.raises(ValueError, match="unique"):
        ExperimentSpec.from_names(["naive", "naive"], BurstSpec())
