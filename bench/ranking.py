"""Ranking only, fast: which finding comes first, for sweeping a ranking constant in seconds.

``bench/quality.py`` runs the whole engine per question (~25 s a pass). This replays only what
decides the order of the findings, with the engine's own functions: every source's hybrid search
(``CorpusIndex.search``, ``nodes.search_k`` hits), ``merge.shortlist`` and the offline model's
``extract.relevance``; no graph, no summaries, no caches. A pass over the tune, validate and
held-out sets takes about a second once the indexes are loaded, and prints the hit@1, hit@3 and
MRR@10 that ``bench/quality.py`` prints for the same sets (it stays the figure of record).

``--sweep`` sets a module constant to each value in turn, side by side with the current value:

    .venv/bin/python bench/ranking.py --sweep core.sources.rank.W_SEM=0.25,0.35,0.45

Keep a change only when validate moves with tune: re-tuning the ten blend weights by coordinate
ascent on the tune half lifted it 75% -> 81% hit@1 while validate fell 75% -> 70%.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import bench_settings, open_engine
from bench.quality import rank_of
from bench.quality_questions import HELD_OUT, OWN
from core.config import EngineSettings
from core.llm import extract
from core.workflow import merge
from core.workflow.nodes import search_k

MAX_SOURCES = 10
SETS = {"tune": OWN[0::2], "validate": OWN[1::2], "held-out": HELD_OUT}


def indexes(engine: Any) -> dict[str, Any]:
    """Each source's ``CorpusIndex`` (under any resilience wrapper)."""
    return {name: getattr(s, "inner", s).index for name, s in engine.c.sources.items()}


def findings(idx: dict[str, Any], question: str) -> list[tuple[str, str]]:
    """(title, location) of the findings in the order the engine's analyze node gives them."""
    terms = extract.key_terms(question)
    query = extract.search_query(terms)
    k = search_k(MAX_SOURCES)
    hits = [{**h.to_dict(), "source": name} for name, ix in idx.items() for h in ix.search(query, k)]
    cands = merge.shortlist(hits, limit=max(3 * MAX_SOURCES, 10))
    rel = extract.relevance(question, terms, [{**c, "score": c["norm_score"]} for c in cands])
    ranked = sorted(zip(rel, cands, strict=True), key=lambda p: p[0], reverse=True)
    return [(c["title"], c["location"]) for _, c in ranked[:MAX_SOURCES]]


def measure(idx: dict[str, Any], verbose: bool = False) -> dict[str, tuple[float, float, float]]:
    """Per set: hit@1, hit@3, MRR@10."""
    out = {}
    for name, items in SETS.items():
        ranks = []
        for question, pattern in items:
            rows = findings(idx, question)
            r = rank_of(pattern, rows)
            ranks.append(r)
            if verbose and r != 1:
                print(f"  [{name}: {r or '-'}] {question} -> {' | '.join(t for t, _ in rows[:3])}")
        n = len(ranks) or 1
        out[name] = (
            sum(r == 1 for r in ranks) / n,
            sum(r is not None and r <= 3 for r in ranks) / n,
            sum(1 / r for r in ranks if r) / n,
        )
    return out


def line(label: str, got: dict[str, tuple[float, float, float]]) -> str:
    cells = "".join(f"  {h1:>5.0%} {h3:>5.0%} {mrr:>6.3f}" for h1, h3, mrr in got.values())
    return f"{label:<34}{cells}"


def header() -> str:
    top = "".join(f"  {name:^18}" for name in SETS)
    return f"{'':<34}{top}\n{'':<34}" + "  hit@1 hit@3    MRR" * len(SETS)


def sweep(spec: str) -> tuple[Any, str, list[float]]:
    """``pkg.module.NAME=v1,v2`` -> (module, NAME, values)."""
    target, _, values = spec.partition("=")
    module, _, name = target.rpartition(".")
    mod = importlib.import_module(module)
    if not hasattr(mod, name):
        raise SystemExit(f"--sweep: {module} has no constant {name}")
    return mod, name, [float(v) for v in values.split(",") if v]


async def main(verbose: bool, specs: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        engine = await open_engine(bench_settings(Path(tmp)), EngineSettings().updated(cache="off"))
        try:
            idx = indexes(engine)
            print(header())
            print(line("current", measure(idx, verbose)))
            for spec in specs:
                mod, name, values = sweep(spec)
                current = getattr(mod, name)
                try:
                    for v in values:
                        setattr(mod, name, v)
                        print(line(f"{name}={v:g} (now {current:g})", measure(idx)))
                finally:
                    setattr(mod, name, current)
        finally:
            await engine.aclose()


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--verbose", action="store_true", help="print the questions whose right API is not first")
    ap.add_argument("--sweep", action="append", default=[], metavar="MODULE.NAME=V1,V2", help="values to try")
    args = ap.parse_args()
    asyncio.run(main(args.verbose, args.sweep))
