"""``researchops load``/``experiment``: argument wiring, spec building, live timeline and summary."""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import pytest

from core.cli.load import load, register, spec_from_args
from core.config import Settings
from core.errors import InvalidInput
from core.load.spec import build_spec, parse_rate_steps


def test_register_adds_load_and_experiment() -> None:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        [
            "load",
            "--users",
            "7",
            "--duration",
            "3",
            "--mix",
            "zipf:1.1:1000",
            "--set",
            "cache=off",
            "--preset",
            "naive",
        ]
    )
    assert (args.users, args.duration, args.mix, args.set, args.preset) == (
        7,
        3.0,
        "zipf:1.1:1000",
        ["cache=off"],
        "naive",
    )
    args = parser.parse_args(
        ["experiment", "--configs", "naive,optimized", "--report", "out/", "--warmup", "5"]
    )
    assert (args.configs, args.report, args.warmup) == ("naive,optimized", "out/", 5.0)


def test_bad_values_name_their_field() -> None:
    with pytest.raises(InvalidInput, match="rate_steps"):
        parse_rate_steps("0:50,oops")
    with pytest.raises(InvalidInput, match="users"):
        spec_from_args(users=0, duration=1, think_time=0, mix="uniform")
    with pytest.raises(InvalidInput, match="mix"):
        spec_from_args(users=1, duration=1, think_time=0, mix="zipf")
    with pytest.raises(InvalidInput, match="users"):
        build_spec(users=0, duration_s=1, think_time_s=0, mix="uniform")


def test_command_options_become_the_spec_fields() -> None:
    spec = spec_from_args(
        users=4,
        duration=2.5,
        think_time=0.1,
        mix="uniform:10",
        set_overrides=["cache=off"],
        mode="open",
        rate_steps="5:20,0:10",
        url="http://127.0.0.1:8000",
        target="http",
        emulate_model=120.0,
        drain=3.0,
    )
    assert (spec.users, spec.duration_s, spec.think_time_s, spec.mix) == (4, 2.5, 0.1, "uniform:10")
    assert spec.overrides == {"cache": "off"} and spec.mode == "open"
    assert [(s.at_s, s.rate) for s in spec.rate_steps] == [(0.0, 10.0), (5.0, 20.0)]
    assert (spec.target, spec.http_url, spec.drain_s) == ("http", "http://127.0.0.1:8000", 3.0)
    assert spec.emulate_model and spec.model_latency.median_ms == 120.0
    assert not spec_from_args(users=1, duration=1, think_time=0, mix="uniform").emulate_model


def test_load_prints_the_live_timeline_and_the_summary(settings: Settings, pool_file: Path) -> None:
    out = io.StringIO()
    code = load(
        3,
        1.5,
        0.01,
        "uniform",
        None,
        ["max_concurrent=8"],
        settings=settings,
        out=out,
        questions=str(pool_file),
    )
    text = out.getvalue()
    assert code == 0, text
    assert "   1s run " in text and "summary:" in text and "completed" in text
