"""Workloads: mix specs, seeded replay, question files, the pool generated from the corpus."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from core.errors import InvalidInput
from core.load.workload import Mix, Workload, corpus_pool, load_question_file, parse_mix, parse_questions

POOL = [f"Question number {i} about the standard library?" for i in range(100)]


@pytest.mark.parametrize(
    ("spec", "mix"),
    [
        ("zipf:1.1:1000", Mix(kind="zipf", s=1.1, n=1000)),
        ("uniform:500", Mix(kind="uniform", n=500)),
        ("uniform", Mix(kind="uniform", n=None)),
        (" ZIPF:2 ", Mix(kind="zipf", s=2.0, n=None)),
    ],
)
def test_mix_specs_parse(spec: str, mix: Mix) -> None:
    assert parse_mix(spec) == mix


@pytest.mark.parametrize(
    "spec", ["zipf", "zipf:x:10", "uniform:-3", "pareto:1:2", "zipf:0:10", "uniform:1:2:3"]
)
def test_bad_mix_specs_name_the_field(spec: str) -> None:
    with pytest.raises(InvalidInput) as err:
        parse_mix(spec)
    assert err.value.errors[0]["field"] == "mix"
    assert spec in str(err.value)


def test_seeded_workload_replays_the_same_sequence() -> None:
    a = Workload(POOL, parse_mix("zipf:1.1:100"), seed=42).sampler().take(3000)
    b = Workload(POOL, parse_mix("zipf:1.1:100"), seed=42).sampler().take(3000)
    c = Workload(POOL, parse_mix("zipf:1.1:100"), seed=43).sampler().take(3000)
    assert a == b
    assert a != c


def test_sequence_does_not_depend_on_how_it_is_consumed() -> None:
    w = Workload(POOL, parse_mix("uniform:50"), seed=1)
    one = w.sampler()
    split = [one.next() for _ in range(700)] + one.take(1500)
    assert split == w.sampler().take(2200)
    assert set(split) <= set(POOL[:50])


def test_zipf_makes_the_first_questions_most_popular() -> None:
    counts = Counter(Workload(POOL, parse_mix("zipf:1.1:100"), seed=0).sampler().take(20_000))
    ranked = [q for q, _ in counts.most_common()]
    assert ranked[0] == POOL[0]
    assert counts[POOL[0]] > 5 * counts[POOL[50]]


def test_mix_larger_than_the_pool_is_refused() -> None:
    with pytest.raises(InvalidInput, match="only 100"):
        Workload(POOL, parse_mix("zipf:1.1:1000"))


def test_question_file_reports_bad_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "q.txt"
    path.write_text(
        "How do I use asyncio.gather?\nshort\n\n# a comment\n" + "x" * 501 + "\nWhat is json.loads?\n"
    )
    with pytest.raises(InvalidInput) as err:
        load_question_file(path)
    assert err.value.errors[0]["field"] == "questions"
    assert "line(s) 2, 5" in str(err.value)


def test_csv_question_column_is_read(tmp_path: Path) -> None:
    path = tmp_path / "q.csv"
    path.write_text('id,question\n1,"How do I use asyncio.gather, with timeouts?"\n2,What is json.loads?\n')
    assert load_question_file(path) == ["How do I use asyncio.gather, with timeouts?", "What is json.loads?"]


def test_csv_without_question_column_is_refused() -> None:
    with pytest.raises(InvalidInput, match="'question' column"):
        parse_questions("id,text\n1,hello there\n", csv_format=True)


async def test_corpus_pool_is_large_distinct_and_deterministic(engine: object, tmp_path: Path) -> None:
    """At least 500 distinct questions, made from documented names, the same when regenerated."""
    sources = engine.c.sources  # type: ignore[attr-defined]
    first = corpus_pool(sources, tmp_path / "a")
    again = corpus_pool(sources, tmp_path / "b")  # a different cache dir: generated again
    assert first == again
    assert len(first) >= 500 and len(set(first)) == len(first)
    assert all(10 <= len(q) <= 500 for q in first)
    assert any(q.startswith("How do I use ") for q in first) and any(
        q.startswith("What does ") for q in first
    )
    assert (tmp_path / "a" / "workloads").is_dir()
    # a name from the corpus actually answers its own question
    question = next(q for q in first if q.startswith("What does ") and "json" in q)
    name = question.removeprefix("What does ").removesuffix(" do?")
    result = await engine.run(question)  # type: ignore[attr-defined]
    assert any(name in f.title or name in f.location for f in result.findings)
