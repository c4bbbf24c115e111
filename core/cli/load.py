"""``researchops load`` and ``researchops experiment``: translate arguments, start the job in its own
process (``BurstManager``), print the live timeline and the summary. No load logic lives here.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from core.cli.render import summary_text, table, timeline_line
from core.config import Settings, parse_assignments
from core.errors import InvalidInput
from core.load.bursts import FINAL_STATES, BurstManager
from core.load.spec import BurstCaps, BurstSpec, build_spec, parse_rate_steps

# The CLI is run by the operator: caps only guard against typos, not against the operator.
CLI_CAPS = BurstCaps(max_users=1_000_000, max_duration_s=86_400, max_rate=1_000_000)


def spec_from_args(
    *,
    users: int,
    duration: float,
    think_time: float,
    mix: str,
    preset: str | None = None,
    set_overrides: list[str] | None = None,
    think: str = "constant",
    ramp_up: float = 0.0,
    seed: int = 0,
    mode: str = "closed",
    rate: float = 10.0,
    rate_steps: str | None = None,
    questions: str | None = None,
    target: str = "engine",
    url: str | None = None,
    emulate_model: float | None = None,
    drain: float = 10.0,
    max_sources: int = 10,
    label: str = "",
    processes: int | None = None,
) -> BurstSpec:
    """A ``BurstSpec`` from the command's option values (raises InvalidInput naming the field)."""
    return build_spec(
        users=users,
        duration_s=duration,
        think_time_s=think_time,
        think=think,
        ramp_up_s=ramp_up,
        mix=mix,
        seed=seed,
        preset=preset,
        overrides=parse_assignments(set_overrides or []),
        mode=mode,
        rate=rate,
        rate_steps=parse_rate_steps(rate_steps),
        questions_file=questions,
        target=target,
        http_url=url,
        drain_s=drain,
        max_sources=max_sources,
        label=label,
        model_ms=emulate_model,
        processes=processes,
    )


def follow(
    manager: BurstManager,
    burst_id: str,
    *,
    out: TextIO = sys.stdout,
    poll_s: float = 0.25,
    fmt: Callable[[dict[str, Any]], str] = timeline_line,
) -> dict[str, Any]:
    """Print timeline entries as they appear until the job ends; Ctrl-C cancels it. Returns its status."""
    last = 0
    try:
        while True:
            status = manager.status(burst_id)
            for entry in manager.timeline(burst_id, since=last):
                print(fmt(entry), file=out, flush=True)
                last = entry["t"]
            if status["state"] in FINAL_STATES:
                return manager.wait(burst_id, 1)
            time.sleep(poll_s)
    except KeyboardInterrupt:
        print("cancelling...", file=out, flush=True)
        return manager.cancel(burst_id)


def load(
    users: int,
    duration: float,
    think_time: float,
    mix: str,
    preset: str | None = None,
    set_overrides: list[str] | None = None,
    *,
    settings: Settings | None = None,
    json_out: bool = False,
    out: TextIO = sys.stdout,
    **kw: Any,
) -> int:
    """Run one burst in its own process, printing the timeline and the summary. Returns an exit code.

    >>> # load(users=50, duration=30, think_time=1.0, mix="zipf:1.1:1000", preset="optimized")
    """
    settings = settings or Settings()
    # with --json, stdout carries the summary alone (pipe it to jq); progress goes to stderr
    progress = sys.stderr if json_out and out is sys.stdout else out
    spec = spec_from_args(
        users=users,
        duration=duration,
        think_time=think_time,
        mix=mix,
        preset=preset,
        set_overrides=set_overrides,
        **kw,
    )
    manager = BurstManager(settings.data_dir, CLI_CAPS, process_settings=settings)
    burst_id = manager.start(spec)
    print(
        f"burst {burst_id} started (data: {manager.root / burst_id}); preparing the engine...",
        file=progress,
        flush=True,
    )
    status = follow(manager, burst_id, out=progress)
    summary = manager.summary(burst_id)
    if summary is None:
        print(
            f"burst {status['state']}: {status.get('error', '')}\n{status.get('log_tail', '')}", file=progress
        )
        return 1
    if json_out:
        import json

        print(json.dumps(summary, indent=2), file=out)
    else:
        print(summary_text(summary), file=out)
    return 0 if status["state"] == "finished" else 1


def experiment(
    configs: str,
    users: int,
    duration: float,
    think_time: float,
    mix: str,
    report: str | None,
    *,
    schedule: str = "interleaved",
    rounds: int = 2,
    warmup: float = 0.0,
    settings: Settings | None = None,
    out: TextIO = sys.stdout,
    **kw: Any,
) -> int:
    """Run an experiment in its own process; print progress, the comparison and where the report is.

    >>> # experiment("naive,optimized", users=50, duration=20, think_time=0, mix="zipf:1.1:1000",
    >>> #            report="out/")
    """
    from pydantic import ValidationError

    from core.load.experiment import ExperimentSpec
    from core.load.report import ratio_rows, summary_rows

    settings = settings or Settings()
    load_spec = spec_from_args(users=users, duration=duration, think_time=think_time, mix=mix, **kw)
    try:
        spec = ExperimentSpec.from_names(
            [c.strip() for c in configs.split(",") if c.strip()],
            load_spec,
            schedule=schedule,
            rounds=rounds,
            warmup_s=warmup,
        )
    except ValidationError as exc:
        raise InvalidInput.from_validation_error(exc) from None
    manager = BurstManager(settings.data_dir, CLI_CAPS, process_settings=settings)
    burst_id = manager.start_experiment(spec, Path(report).resolve() if report else None)
    print(f"experiment {burst_id} started; preparing the engine...", file=out, flush=True)
    status = follow(manager, burst_id, out=out)
    summary = manager.summary(burst_id)
    if summary is None:
        print(
            f"experiment {status['state']}: {status.get('error', '')}\n{status.get('log_tail', '')}", file=out
        )
        return 1
    print(table(summary_rows(summary)), file=out)
    print(table(ratio_rows(summary)), file=out)
    for name, eq in summary["equivalence"].items():
        print(f"answers {name} vs {summary['baseline']}: {eq['equal']}/{eq['compared']} equal", file=out)
    if summary.get("emulated"):
        print("(latency in this experiment was EMULATED)", file=out)
    print(f"report: {summary['report'].get('markdown')}", file=out)
    return 0 if status["state"] == "finished" else 1


# ---- argparse wiring ---------------------------------------------------------------------------
def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--users", type=int, default=10, help="simulated users (closed loop)")
    p.add_argument("--duration", type=float, default=10.0, help="seconds of load (per configuration)")
    p.add_argument("--think-time", type=float, default=0.0, help="seconds between a user's questions (mean)")
    p.add_argument("--think", choices=["constant", "exponential"], default="constant")
    p.add_argument("--ramp-up", type=float, default=0.0, help="start users evenly over this many seconds")
    p.add_argument("--mix", default="zipf:1.1:1000", help="zipf:S:N or uniform:N over the question pool")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--mode", choices=["closed", "open"], default="closed")
    p.add_argument("--rate", type=float, default=10.0, help="arrivals per second (open loop)")
    p.add_argument("--rate-steps", help="open loop steps AT_S:RATE,... e.g. 0:50,10:500")
    p.add_argument("--questions", help="question file (one per line, or CSV with a 'question' column)")
    p.add_argument(
        "--emulate-model",
        type=float,
        metavar="MEDIAN_MS",
        help="emulate model latency with this median (labelled emulated)",
    )
    p.add_argument(
        "--drain", type=float, default=10.0, help="seconds to wait for requests in flight at the end"
    )


def _run_load(args: argparse.Namespace) -> int:
    return load(
        args.users,
        args.duration,
        args.think_time,
        args.mix,
        args.preset,
        args.set,
        json_out=args.json,
        think=args.think,
        ramp_up=args.ramp_up,
        seed=args.seed,
        mode=args.mode,
        rate=args.rate,
        rate_steps=args.rate_steps,
        questions=args.questions,
        target=args.target,
        url=args.url,
        emulate_model=args.emulate_model,
        drain=args.drain,
        processes=args.processes,
    )


def _run_experiment(args: argparse.Namespace) -> int:
    return experiment(
        args.configs,
        args.users,
        args.duration,
        args.think_time,
        args.mix,
        args.report,
        schedule=args.schedule,
        rounds=args.rounds,
        warmup=args.warmup,
        think=args.think,
        ramp_up=args.ramp_up,
        seed=args.seed,
        mode=args.mode,
        rate=args.rate,
        rate_steps=args.rate_steps,
        questions=args.questions,
        emulate_model=args.emulate_model,
        drain=args.drain,
    )


def register(sub: Any) -> None:
    """Add the ``load`` and ``experiment`` subcommands to an ``add_subparsers()`` object."""
    p = sub.add_parser("load", help="run a load burst (in its own process) and print its timeline")
    _common(p)
    p.add_argument("--preset", choices=["naive", "optimized"], help="start from a preset of modes")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override one mode, e.g. cache=off")
    p.add_argument(
        "--target",
        choices=["engine", "workers", "http"],
        default="engine",
        help="engine: an engine in each load process; workers: the worker pool through the queue "
        "(REDIS_URL); http: Locust against --url",
    )
    p.add_argument(
        "--processes",
        type=int,
        help="load processes, each with its share of users and its own engine (default: one per core; "
        "1 = all in one process, the zero-transport baseline; http: Locust --processes)",
    )
    p.add_argument("--url", help="API base URL for --target http (Locust), e.g. http://127.0.0.1:8000")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=_run_load)

    e = sub.add_parser("experiment", help="compare configurations on the same seeded workload")
    _common(e)
    e.add_argument(
        "--configs",
        default="naive,optimized",
        help="comma-separated presets, each optionally +key=value, e.g. optimized,optimized+cache=off",
    )
    e.add_argument("--schedule", choices=["interleaved", "back_to_back"], default="interleaved")
    e.add_argument("--rounds", type=int, default=2, help="turns per configuration when interleaved")
    e.add_argument(
        "--warmup",
        type=float,
        default=0.0,
        help="seconds of unmeasured load at the start of each turn (compare steady states)",
    )
    e.add_argument("--report", help="write report.md/.html/.json and PNG charts into this folder")
    e.set_defaults(func=_run_experiment)
