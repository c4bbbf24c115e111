"""The ``runs`` CLI over a real SQLite store: list, show, prune; ``query --json`` -> ``runs show``."""

from __future__ import annotations

import argparse
from typing import Any

import pytest

from core.cli import runs

GATHER = "How do I run coroutines concurrently and wait for all of them?"


def _cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    runs.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_runs_list_show_and_prune_print_the_store(
    dengine: Any, durable_env: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    settings, _ = durable_env
    for i in range(2):
        await dengine.run(GATHER, run_id=f"cli-{i}")
    await dengine.c.events.flush()
    monkeypatch.setenv("RESEARCHOPS_DATA_DIR", str(settings.data_dir))
    assert await _in_thread(["runs", "list", "--text", "coroutines"]) == 0
    out = capsys.readouterr().out
    assert "cli-0" in out and "cli-1" in out
    assert await _in_thread(["runs", "show", "cli-0"]) == 0
    out = capsys.readouterr().out
    assert "node_finished" in out and "completed" in out
    assert await _in_thread(["runs", "prune", "--max-runs", "1"]) == 0
    assert "1" in capsys.readouterr().out
    assert [r.run_id for r in await dengine.c.store.list_runs()] == ["cli-1"]
    assert runs.parse_edits(["findings=[]", "summary=plain text"]) == {
        "findings": [],
        "summary": "plain text",
    }


async def _in_thread(argv: list[str]) -> int:
    import asyncio

    return await asyncio.to_thread(_cli, argv)  # the CLI runs its own event loop


def test_query_json_prints_a_run_id_that_runs_show_accepts(
    settings: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``researchops query --json`` -> its ``run_id`` -> ``researchops runs show`` (one SQLite store)."""
    import json

    from core.cli.main import main

    monkeypatch.setenv("RESEARCHOPS_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("RESEARCHOPS_INDEX_DIR", str(settings.resolved_index_dir))
    assert main(["query", GATHER, "--json", "--source", "stdlib"]) == 0
    out = capsys.readouterr().out
    run_id = json.loads(out)["run_id"]
    assert run_id
    assert main(["runs", "show", run_id]) == 0
    shown = capsys.readouterr().out
    assert run_id in shown and "completed" in shown
    # a whole-result cache hit is a run of its own, with its own id in the store
    assert main(["query", GATHER, "--json", "--source", "stdlib", "--set", "cache=l1+l2"]) == 0
    hit = json.loads(capsys.readouterr().out)
    assert hit["cached"] and hit["run_id"] not in ("", None, run_id)
    assert main(["runs", "show", hit["run_id"]]) == 0
    assert hit["run_id"] in capsys.readouterr().out
