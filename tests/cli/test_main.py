"""The ``researchops`` command as a user runs it: a subprocess with the real corpus."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from core.config import Settings

GATHER = "How do I run coroutines concurrently and wait for all of them?"


def _cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "RESEARCHOPS_DATA_DIR": str(settings.data_dir),
        "RESEARCHOPS_INDEX_DIR": str(settings.resolved_index_dir),
    }
    return subprocess.run(
        [sys.executable, "-m", "core.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        cwd=Path(__file__).resolve().parents[2],
    )


def test_query_prints_a_cited_summary_and_findings(settings: Settings) -> None:
    out = _cli(settings, "query", GATHER, "--max-sources", "5")
    assert out.returncode == 0, out.stderr
    assert "[1]" in out.stdout and "asyncio" in out.stdout
    assert "status ok" in out.stdout


def test_query_json_is_a_research_result(settings: Settings) -> None:
    from core.models import ResearchResult

    out = _cli(
        settings, "query", GATHER, "--json", "--source", "stdlib", "--preset", "naive", "--set", "cache=l1"
    )
    assert out.returncode == 0, out.stderr
    result = ResearchResult.model_validate_json(out.stdout)
    assert result.sources_used == ["stdlib"] and result.findings


def test_bad_input_exits_2_with_one_line_naming_field_and_limit(settings: Settings) -> None:
    out = _cli(settings, "query", "too short")
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "question" in lines[0] and "10" in lines[0]
    assert "Traceback" not in out.stderr

    out = _cli(settings, "query", GATHER, "--max-sources", "99")
    assert out.returncode == 2 and "max_sources" in out.stderr and "50" in out.stderr

    out = _cli(settings, "query", GATHER, "--set", "bogus=1")
    assert out.returncode == 2 and "bogus" in out.stderr


def test_sources_lists_counts_and_versions(settings: Settings) -> None:
    out = _cli(settings, "sources")
    assert out.returncode == 0, out.stderr
    for name in ("stdlib", "packages", "docs"):
        assert name in out.stdout
