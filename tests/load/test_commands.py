"""The CLI functions: argument wiring, live timeline and summary printing."""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import pytest

from core.config import Settings
from core.errors import InvalidInput
from core.load.commands import build_spec, load, parse_rate_steps, register


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
        build_spec(users=0, duration=1, think_time=0, mix="uniform")
    with pytest.raises(InvalidInput, match="mix"):
        build_spec(users=1, duration=1, think_time=0, mix="zipf")


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
