"""Answer quality: does the engine put the right API first, without duplicates, with a calibrated confidence?

For every question of ``bench/quality_questions.py`` (own set in tune and validate halves,
held-out set, unanswerable set) it
runs the whole engine (offline model, caches off) and, side by side, plain BM25 over the same
indexes (each source's BM25 top hits, normalized by the source's best, merged: the ranking the
engine had before hybrid retrieval). Prints hit@1, hit@3, MRR@10, duplicate findings in the top 5,
repeated summary sentences, unanswerable questions answered with confidence >= 0.5, and a
reliability table (confidence bucket -> share of answers whose [1] is right).

    .venv/bin/python bench/quality.py [--verbose]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import re
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import bench_settings, open_engine
from bench.quality_questions import HELD_OUT, OWN, UNANSWERABLE
from core.config import EngineSettings
from core.llm import extract
from core.workflow import merge

TOP = 10
BUCKETS = (0.0, 0.2, 0.4, 0.6, 0.8, 1.01)
_WORDS = re.compile(r"\w+")
_CITE = re.compile(r"\s*\[\d+\]")


def duplicates(hits: list[dict[str, Any]]) -> int:
    """Hits (of the top 5) that repeat an earlier one: the same text indexed twice, by the rule
    the merger uses (``core.workflow.merge.same_text``: the openings after any signature line
    share most word 3-grams; ``merge.may_merge``: a later chunk's shared boilerplate is not the
    same finding under another name). Sibling APIs whose own texts differ are not duplicates,
    even when they share a signature or an appended reference section. Each hit has ``text``,
    ``title``, ``location`` and ``doc_id``."""
    seen: list[tuple[frozenset[tuple[str, str, str]], dict[str, Any]]] = []
    dups = 0
    for h in hits[:5]:
        g = merge.opening(h["text"])
        if any(merge.same_text(g, o) and merge.may_merge(h, other) for o, other in seen):
            dups += 1
        seen.append((g, h))
    return dups


def repeated_sentences(summary: str) -> int:
    """Sentences of the summary that appear more than once (citations ignored)."""
    parts = [p for p in re.split(r"(?<=\])\.?\s+|(?<=[.!?])\s+(?=[A-Z`])", summary) if p.strip()]
    norm = [" ".join(_WORDS.findall(_CITE.sub("", p).lower())) for p in parts]
    norm = [n for n in norm if len(n.split()) >= 3]
    return len(norm) - len(set(norm))


def rank_of(pattern: str, rows: list[tuple[str, str]]) -> int | None:
    """1-based rank of the first (title, location) matching ``pattern``."""
    rx = re.compile(pattern)
    for i, (title, location) in enumerate(rows[:TOP], 1):
        if rx.search(title) or rx.search(location):
            return i
    return None


@dataclass
class Tally:
    ranks: list[int | None] = field(default_factory=list)
    dups: int = 0
    repeats: int = 0
    confident_unanswerable: int = 0
    unanswerable: int = 0
    said_no_match: int = 0
    calib: list[tuple[float, bool]] = field(default_factory=list)

    @staticmethod
    def sum(tallies: list[Tally]) -> Tally:
        out = Tally()
        for t in tallies:
            out.ranks += t.ranks
            out.calib += t.calib
            out.dups += t.dups
            out.repeats += t.repeats
        return out

    def line(self, name: str, with_summary: bool) -> str:
        n = len(self.ranks) or 1
        h1 = sum(r == 1 for r in self.ranks) / n
        h3 = sum(r is not None and r <= 3 for r in self.ranks) / n
        mrr = sum(1 / r for r in self.ranks if r) / n
        extra = (
            f"{self.repeats:>8} {self.confident_unanswerable:>3}/{self.unanswerable:<3}"
            f"{self.said_no_match:>5}/{self.unanswerable}"
            if with_summary
            else f"{'-':>8} {'-':>7}{'-':>7}"
        )
        count = len(self.ranks) or self.unanswerable
        return f"{name:<26} {count:>4} {h1:>7.0%} {h3:>7.0%} {mrr:>6.3f} {self.dups:>6} {extra}"


HEADER = (
    f"{'':<26} {'n':>4} {'hit@1':>7} {'hit@3':>7} {'MRR':>6} {'dups5':>6} {'repeats':>8}"
    f" {'conf>=.5':>7} {'no-match':>7}"
)


def bm25_rows(sources: dict[str, Any], question: str) -> list[dict[str, Any]]:
    """Plain BM25: each source's top hits for the key-terms query, normalized by its best, merged."""
    query = extract.search_query(extract.key_terms(question))
    merged: list[tuple[float, dict[str, Any]]] = []
    for s in sources.values():
        index = getattr(s, "inner", s).index
        search = getattr(index, "search_bm25", index.search)
        hits = search(query, 20)
        best = max((h.score for h in hits), default=0.0)
        merged += [(h.score / best if best else 0.0, h.to_dict()) for h in hits]
    merged.sort(key=lambda p: -p[0])
    return [h for _, h in merged[:TOP]]


def calibration(rows: list[tuple[float, bool]]) -> str:
    """Per confidence bucket: answers, share whose [1] is right, their mean confidence; then the
    expected calibration error (the answers' mean gap between the two, by bucket)."""
    out = [f"{'confidence':<12} {'n':>4} {'[1] right':>10} {'mean conf':>10}"]
    gap = 0.0
    for lo, hi in itertools.pairwise(BUCKETS):
        sel = [(c, ok) for c, ok in rows if lo <= c < hi]
        right = sum(ok for _, ok in sel)
        mean = sum(c for c, _ in sel)
        gap += abs(right - mean)
        share = f"{right / len(sel):.0%}" if sel else "-"
        avg = f"{mean / len(sel):.2f}" if sel else "-"
        out.append(f"{lo:.1f}-{min(hi, 1.0):.1f}{'':<5} {len(sel):>4} {share:>10} {avg:>10}")
    out.append(f"calibration error {gap / (len(rows) or 1):.3f}")
    return "\n".join(out)


async def run_set(engine: Any, items: list[tuple[str, str | None]], verbose: bool) -> tuple[Tally, Tally]:
    new, bm25 = Tally(), Tally()
    for question, pattern in items:
        result = await engine.run({"question": question, "max_sources": 10})
        rows = [(f.title, f.location) for f in result.findings]
        base = bm25_rows(engine.c.sources, question)
        base_rows = [(h["title"], h["location"]) for h in base]
        new.dups += duplicates(
            [
                {"text": f.snippet, "title": f.title, "location": f.location, "doc_id": f.doc_id}
                for f in result.findings
            ]
        )
        bm25.dups += duplicates(base)
        new.repeats += repeated_sentences(result.summary)
        if pattern is None:
            new.unanswerable += 1
            new.confident_unanswerable += result.confidence >= 0.5
            new.said_no_match += "no strong match" in result.summary.lower()
            new.calib.append((result.confidence, False))
        else:
            r = rank_of(pattern, rows)
            new.ranks.append(r)
            bm25.ranks.append(rank_of(pattern, base_rows))
            new.calib.append((result.confidence, r == 1))
        if verbose:
            mark = "-" if pattern is None else ("ok" if rank_of(pattern, rows) == 1 else "MISS")
            print(f"[{mark}] {question}  conf={result.confidence:.2f}")
            for t, loc in rows[:3]:
                print(f"      {t[:60]:<60} {loc[:50]}")
            print(f"      summary: {result.summary[:300]}")
    return new, bm25


async def main(verbose: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        engine = await open_engine(bench_settings(Path(tmp)), EngineSettings().updated(cache="off"))
        try:
            sets: dict[str, list[tuple[str, str | None]]] = {
                "own: tune": [(q, p) for q, p in OWN[0::2]],
                "own: validate": [(q, p) for q, p in OWN[1::2]],
                "held-out": [(q, p) for q, p in HELD_OUT],
                "unanswerable": [(q, None) for q in UNANSWERABLE],
            }
            results = {name: await run_set(engine, items, verbose) for name, items in sets.items()}
        finally:
            await engine.aclose()
    print(HEADER)
    for name in ("own: tune", "own: validate", "held-out"):
        new, bm25 = results[name]
        if name == "held-out":
            both = [results["own: tune"], results["own: validate"]]
            print(Tally.sum([t[0] for t in both]).line("own: engine", True))
            print(Tally.sum([t[1] for t in both]).line("own: plain BM25", False))
        print(new.line(f"{name}: engine", True))
        print(bm25.line(f"{name}: plain BM25", False))
    un = results["unanswerable"][0]
    print(un.line("unanswerable: engine", True).replace(" 0%", "  -").replace("0.000", "    -"))
    print()
    print("reliability, engine (own + held-out + unanswerable):")
    print(calibration([c for name in results for c in results[name][0].calib]))


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--verbose", action="store_true", help="print every question's top findings and summary")
    asyncio.run(main(ap.parse_args().verbose))
