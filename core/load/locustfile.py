"""Locust users for the HTTP target. Runs ONLY inside ``python -m locust`` (its own process).

Locust monkeypatches the standard library through gevent, so nothing in the engine's, the API's or
the dashboard's process may import this module; ``core.load.locust_target`` starts it in a
subprocess. Configuration comes from the JSON file named by ``RESEARCHOPS_LOCUST_CONFIG``::

    {"questions": [...], "mix": {...}, "seed": 0, "think": "constant", "think_time_s": 1.0,
     "path": "/research", "max_sources": 10, "events_path": ".../events.jsonl"}

Every finished request is appended to ``events_path`` as one JSON line
``{"t", "lat", "status": ok|error|rejected, "cached", "node_hit", "err"}`` (flushed every 0.2 s),
which the parent turns into the same per-second timeline as the in-process runner.
"""

from __future__ import annotations

import json
import os
import random
import time
from typing import Any

import gevent
from locust import HttpUser, events, task

from core.load.workload import Mix, Workload

_CONFIG: dict[str, Any] = json.loads(open(os.environ["RESEARCHOPS_LOCUST_CONFIG"], encoding="utf-8").read())
_SAMPLER = Workload(_CONFIG["questions"], Mix(**_CONFIG["mix"]), _CONFIG["seed"]).sampler()
_THINK_RNG = random.Random(_CONFIG["seed"] + 1_000_003)
_BUFFER: list[str] = []
# With ``--processes`` several forked Locust workers append to this file: one O_APPEND write per
# flush keeps each flush's lines whole and unmixed.
_EVENTS_FD = os.open(_CONFIG["events_path"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)


def _flush() -> None:
    if _BUFFER:
        lines, _BUFFER[:] = list(_BUFFER), []
        os.write(_EVENTS_FD, "".join(lines).encode("utf-8"))


def _flusher() -> None:
    while True:
        gevent.sleep(0.2)
        _flush()


@events.init.add_listener
def _on_init(environment: Any, **_kw: Any) -> None:
    global _SAMPLER, _THINK_RNG
    index = getattr(environment.runner, "worker_index", None)
    if index:  # a forked worker (--processes): its own seeded question sequence, not a copy of 0's
        seed = _CONFIG["seed"] + 7919 * int(index)
        _SAMPLER = Workload(_CONFIG["questions"], Mix(**_CONFIG["mix"]), seed).sampler()
        _THINK_RNG = random.Random(seed + 1_000_003)
    gevent.spawn(_flusher)


@events.quitting.add_listener
def _on_quit(environment: Any, **_kw: Any) -> None:
    _flush()


def _wait(user: Any) -> float:
    mean = float(_CONFIG["think_time_s"])
    if mean <= 0:
        return 0.0
    return _THINK_RNG.expovariate(1.0 / mean) if _CONFIG["think"] == "exponential" else mean


class ResearchUser(HttpUser):
    """Asks the next question of the seeded workload, waits for the answer, thinks, repeats."""

    wait_time = _wait

    @task
    def ask(self) -> None:
        question = _SAMPLER.next()
        path = _CONFIG["path"]
        t0 = time.perf_counter()
        with self.client.post(
            path,
            json={"question": question, "max_sources": _CONFIG["max_sources"]},
            name=path,
            catch_response=True,
        ) as resp:
            lat = time.perf_counter() - t0
            cached = node_hit = False
            err = None
            if resp.status_code == 200:
                status = "ok"
                try:
                    body = resp.json()
                    cached = bool(body.get("cached"))
                    node_hit = any(t.get("cache_hit") for t in body.get("timings", []))
                    if body.get("status") == "error":
                        status, err = "error", "run failed"
                except ValueError:
                    status, err = "error", "invalid JSON"
                resp.success() if status == "ok" else resp.failure(err)
            elif resp.status_code == 429:
                status, err = "rejected", "429 overloaded"
                resp.failure(err)
            else:
                status, err = "error", f"HTTP {resp.status_code}"
                resp.failure(err)
        _BUFFER.append(
            json.dumps(
                {
                    "t": time.time(),
                    "lat": lat,
                    "status": status,
                    "cached": cached,
                    "node_hit": node_hit,
                    "err": err,
                }
            )
            + "\n"
        )
