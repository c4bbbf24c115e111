"""The CLI's plain-text renderings: results, tables, burst timeline lines and summaries."""

from __future__ import annotations

from core.cli.render import result_text, summary_text, table, timeline_line
from core.models import FailedSource, Finding, NodeTiming, ResearchResult, RunStatus


def _result(**changes: object) -> ResearchResult:
    values: dict[str, object] = {
        "query_id": "q1",
        "question": "How do I gather coroutines?",
        "findings": [
            Finding(
                source="stdlib",
                doc_id="d1",
                title="asyncio.gather",
                location="asyncio.tasks.gather",
                snippet="Run awaitables concurrently.",
                relevance=0.9,
            )
        ],
        "summary": "Use asyncio.gather.",
        "confidence": 0.75,
        "sources_used": ["stdlib"],
        "processing_time_s": 0.0123,
        "timings": [
            NodeTiming(node="plan", start_s=0.0, duration_s=0.002),
            NodeTiming(node="search", start_s=0.002, duration_s=0.0, cache_hit=True),
        ],
    }
    return ResearchResult.model_validate(values | changes)


def test_result_text_shows_summary_numbered_findings_status_and_nodes() -> None:
    lines = result_text(_result()).splitlines()
    assert lines[0] == "Use asyncio.gather."
    assert lines[2] == "[1] asyncio.gather  (stdlib, relevance 0.90)"
    assert lines[3] == "    asyncio.tasks.gather"
    assert lines[5] == "status ok, confidence 0.75, 12.3 ms"
    assert lines[6] == "nodes: plan 2.0 ms, search cache hit"


def test_result_text_labels_cached_emulated_and_failed_sources() -> None:
    text = result_text(
        _result(
            cached=True,
            emulated=True,
            status=RunStatus.PARTIAL,
            failed_sources=[FailedSource(source="docs", reason="took 2 s", kind="timeout")],
            timings=[],
        )
    )
    assert "status partial" in text and ", from the result cache" in text
    assert ", EMULATED latency included" in text
    assert "source docs failed (timeout): took 2 s" in text
    assert "nodes:" not in text


def test_table_pads_columns_formats_floats_and_blanks_none() -> None:
    rows = [
        {"name": "stdlib", "hit_rate": 0.123456, "note": None},
        {"name": "docs", "hit_rate": 1.0, "note": "x"},
    ]
    assert table(rows).splitlines() == [
        "name    hit_rate  note",
        "stdlib  0.1235",
        "docs    1         x",
    ]
    assert table(rows, ["hit_rate"]).splitlines()[0] == "hit_rate"
    assert table([]) == "(none)"


def test_timeline_line_shows_users_or_rate_and_dashes_for_missing_latency() -> None:
    entry = {
        "t": 3,
        "phase": "run",
        "users": 10,
        "throughput": 42.0,
        "p50_ms": 1.5,
        "p95_ms": None,
        "p99_ms": 9.0,
        "errors": 1,
        "rejected": 0,
        "in_flight": 4,
        "hit_rate": 0.5,
        "rss_mb": 120.4,
    }
    line = timeline_line(entry)
    assert line.startswith("   3s run   users    10  thr     42.0/s")
    assert "p50 1.5  p95 -  p99 9.0 ms" in line and "hit 50%" in line and "rss 120 MB" in line
    open_loop = {k: v for k, v in entry.items() if k != "users"} | {
        "config": "naive",
        "config_t": 7,
        "rate": 5.0,
    }
    assert timeline_line(open_loop).startswith("[naive]    7s run   rate 5/s")


def test_summary_text_lists_known_keys_in_order_and_labels_emulation() -> None:
    text = summary_text({"p50_ms": 3.0, "state": "finished", "completed": 9, "emulated": True, "other": 1})
    assert text.splitlines() == [
        "summary:",
        "  state        finished",
        "  completed    9",
        "  p50_ms       3.0",
        "  emulated     True",
        "  (latency in this run was EMULATED)",
    ]
