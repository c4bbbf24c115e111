"""The ``runs`` CLI subcommands over a real SQLite store: list, show, prune."""

from __future__ import annotations

import argparse
from typing import Any

import pytest

from core import durable

GATHER = "How do I run coroutines concurrently and wait for all of them?"


def _cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    durable.register(parser.add_subparsers(dest="command", required=True))
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
    assert durable.parse_edits(["findings=[]", "summary=plain text"]) == {
        "findings": [],
        "summary": "plain text",
    }


async def _in_thread(argv: list[str]) -> int:
    import asyncio

    return await asyncio.to_thread(_cli, argv)  # the CLI runs its own event loop
