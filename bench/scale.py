"""Scale-out figures: worker-pool throughput with 1 and 2 workers, and API cache-hit latency.

    .venv/bin/python bench/scale.py [--runs 300] [--requests 500]

1. Throughput on a CPU-bound workload: cache off, no emulated latency, distinct questions, every
   source; a private redis-server on a free port; worker processes ``python -m core.cli.worker``; the
   client keeps enough runs in flight that no worker waits. Target on 2 cores: 2 workers >= 1.8x one.
2. API cache-hit latency over HTTP: uvicorn in a subprocess, one question asked repeatedly
   (the first answer fills the result cache), p50/p99 of the client-side round trip.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import redis

REPO = Path(__file__).resolve().parent.parent
# Build the indexes once (first run) before starting workers that share them.
INDEX_DIR = Path(os.environ.get("RESEARCHOPS_INDEX_DIR", REPO / ".data" / "test-index"))
sys.path.insert(0, str(REPO))

from core.config import EngineSettings  # noqa: E402
from core.errors import ResearchOpsError  # noqa: E402
from core.queue import WorkerPool  # noqa: E402
from core.settings_sync import SettingsSync  # noqa: E402

TOPICS = [
    "coroutines",
    "tasks",
    "queues",
    "locks",
    "subprocesses",
    "sockets",
    "threads",
    "timeouts",
    "pydantic models",
    "validators",
    "json files",
    "paths",
    "dataclasses",
    "logging",
    "caching",
]
VERBS = ["run", "cancel", "inspect", "test", "configure", "serialize", "limit", "combine", "retry", "profile"]


def questions(n: int, tag: str) -> list[str]:
    return [
        f"How do I {VERBS[i % len(VERBS)]} {TOPICS[(i // len(VERBS)) % len(TOPICS)]} ({tag} {i})?"
        for i in range(n)
    ]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait(cond: object, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise TimeoutError(what)


def env_for(data_dir: Path, redis_url: str | None) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"REDIS_URL", "DATABASE_URL", "RESEARCHOPS_METRICS_PORT"}
    }
    env.update(RESEARCHOPS_DATA_DIR=str(data_dir), RESEARCHOPS_INDEX_DIR=str(INDEX_DIR), PYTHONUNBUFFERED="1")
    if redis_url:
        env["RESEARCHOPS_REDIS_URL"] = redis_url
    return env


async def pool_throughput(redis_url: str, n_runs: int, in_flight: int, tag: str) -> float:
    async with WorkerPool(redis_url, poll_interval_s=0.01) as pool:
        await asyncio.gather(*[pool.run(q) for q in questions(8, f"warm {tag}")])
        qs = iter(questions(n_runs, tag))

        errors: list[str] = []

        async def client() -> None:
            for q in qs:
                try:
                    await pool.run(q)
                except ResearchOpsError as exc:  # counted and shown: a failed run is still a run done
                    errors.append(f"{q}: {exc}")

        t0 = time.perf_counter()
        await asyncio.gather(*[client() for _ in range(in_flight)])
        rate = n_runs / (time.perf_counter() - t0)
        if errors:
            print(f"  ({len(errors)} of {n_runs} runs failed, e.g. {errors[0]})")
        return rate


def throughput(n_runs: int, tmp: Path) -> dict[int, float]:
    port = free_port()
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL
    )
    url = f"redis://127.0.0.1:{port}/0"
    wait(lambda: _ping(port), 10, "redis")
    results: dict[int, float] = {}
    try:
        seed = EngineSettings(cache="off")
        asyncio.run(_publish(url, seed))
        workers: list[subprocess.Popen[bytes]] = []
        logs: list[Path] = []
        for n in (1, 2):
            while len(workers) < n:
                log = tmp / f"worker{len(workers)}.log"
                logs.append(log)
                workers.append(
                    subprocess.Popen(
                        [
                            sys.executable,
                            "-m",
                            "core.cli.worker",
                            "--concurrency",
                            "2",
                            "--worker-id",
                            f"bench{len(workers)}",
                        ],
                        cwd=REPO,
                        env=env_for(tmp / "data", url),
                        stdout=log.open("wb"),
                        stderr=subprocess.STDOUT,
                    )
                )
            for log in logs:
                wait(lambda log=log: ": ready (" in log.read_text(errors="replace"), 300, "worker ready")
            results[n] = asyncio.run(pool_throughput(url, n_runs, in_flight=4 * n, tag=f"{n}w"))
            # other processes on the machine take cores from the workers: show how busy it was
            load = os.getloadavg()[0]
            print(f"  {n} worker(s): {results[n]:.1f} runs/s (1-min load average {load:.1f})", flush=True)
        for w in workers:
            w.send_signal(signal.SIGTERM)
        for w in workers:
            w.wait(60)
    finally:
        server.terminate()
        server.wait(10)
    return results


def _ping(port: int) -> bool:
    try:
        return bool(redis.Redis(port=port, socket_timeout=0.2).ping())
    except redis.RedisError:
        return False


async def _publish(url: str, settings: EngineSettings) -> None:
    sync = SettingsSync.from_url(url)
    await sync.publish(settings)
    await sync.aclose()


def api_latency(n_requests: int, tmp: Path) -> tuple[float, float]:
    port = free_port()
    log = tmp / "api.log"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "core.api:app_factory",
            "--factory",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        cwd=REPO,
        env=env_for(tmp / "api-data", None),
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait(lambda: _up(base), 300, "the API")
        body = {"question": "How do I run coroutines concurrently and wait for all of them?"}
        with httpx.Client(base_url=base, timeout=30) as client:
            first = client.post("/research", json=body).json()
            assert not first["cached"]
            samples = []
            for _ in range(n_requests):
                t0 = time.perf_counter()
                r = client.post("/research", json=body)
                samples.append(time.perf_counter() - t0)
                assert r.status_code == 200 and r.json()["cached"], r.text
        arr = np.array(samples) * 1000
        return float(np.percentile(arr, 50)), float(np.percentile(arr, 99))
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)


def _up(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=300, help="runs per throughput measurement")
    parser.add_argument("--requests", type=int, default=500, help="cache-hit requests to the API")
    args = parser.parse_args()
    if shutil.which("redis-server") is None:
        raise SystemExit("redis-server is required")
    tmp = Path(tempfile.mkdtemp(prefix="researchops-scale-"))
    try:
        print(
            f"worker-pool throughput, CPU-bound (cache off, {args.runs} distinct questions, "
            f"{os.cpu_count()} cores)"
        )
        tp = throughput(args.runs, tmp)
        print(f"  speed-up 2 workers / 1 worker: {tp[2] / tp[1]:.2f}x (target >= 1.8x)")
        p50, p99 = api_latency(args.requests, tmp)
        print(
            f"API cache-hit latency over HTTP ({args.requests} requests): p50 {p50:.2f} ms, p99 {p99:.2f} ms"
        )
        print(
            json.dumps(
                {
                    "throughput_runs_per_s": tp,
                    "speedup": tp[2] / tp[1],
                    "api_hit_p50_ms": p50,
                    "api_hit_p99_ms": p99,
                }
            )
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
