"""The offline model's extractive work, as pure functions (no agent around them)."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from core.llm import extract
from core.llm.offline import answer, approx_tokens
from core.llm.prompts import parse_payload, relevance_prompt, summary_prompt

GATHER_Q = "How does asyncio.gather run coroutines concurrently?"
GATHER_DOC = {
    "title": "asyncio.gather",
    "source": "stdlib",
    "location": "asyncio.tasks.gather",
    "text": "Run awaitable objects in the aws sequence concurrently. If any awaitable in aws is a coroutine, "
    "it is automatically scheduled as a Task. The order of result values corresponds to the order of "
    "awaitables in aws.",
    "score": 7.0,
}
JSON_DOC = {
    "title": "json.dumps",
    "source": "stdlib",
    "location": "json.dumps",
    "text": "Serialize obj to a JSON formatted str using this conversion table.",
    "score": 5.0,
}
# A whole summary is a run of "<sentence> [n]." pieces and nothing else.
CITED_SENTENCES = re.compile(r"(?:[^\[\]]+ \[\d+\]\.\s*)+")


def test_key_terms_drop_stopwords_and_keep_identifiers() -> None:
    terms = extract.key_terms("What is the difference between asyncio.TaskGroup and gather in Python?")
    assert terms[0] == "asyncio.TaskGroup"
    assert "gather" in terms
    assert not {"what", "is", "the", "between", "and", "in", "difference", "python"} & {
        t.lower() for t in terms
    }


def test_key_terms_of_the_gather_question() -> None:
    terms = extract.key_terms(GATHER_Q)
    assert {"coroutines", "concurrently", "asyncio.gather"} <= set(terms)
    assert extract.search_query(terms).split() == terms


def test_key_terms_dedupe_by_stem() -> None:
    assert extract.key_terms("coroutine coroutines Coroutine scheduling") == ["coroutine", "scheduling"]


def test_on_topic_candidate_scores_above_unrelated_one() -> None:
    on, off = extract.relevance(GATHER_Q, extract.key_terms(GATHER_Q), [GATHER_DOC, JSON_DOC])
    assert 0.0 <= off < on <= 1.0
    assert on > 0.6 and off < 0.3


def test_bm25_is_normalized_per_source() -> None:
    """A source with huge raw BM25 values does not outrank an equally matching one with small values."""
    a = {**GATHER_DOC, "source": "stdlib", "score": 40.0}
    b = {**GATHER_DOC, "source": "docs", "score": 2.0}
    assert extract.relevance(GATHER_Q, [], [a, b]) == [extract.relevance(GATHER_Q, [], [a])[0]] * 2


def test_summary_sentences_each_cite_an_existing_finding() -> None:
    findings = [
        {**JSON_DOC, "snippet": JSON_DOC["text"], "relevance": 0.05},
        {**GATHER_DOC, "snippet": GATHER_DOC["text"], "relevance": 0.9},
    ]
    out = extract.summarize(GATHER_Q, findings)
    assert CITED_SENTENCES.fullmatch(out["text"])
    used = {int(n) for n in re.findall(r"\[(\d+)\]", out["text"])}
    assert used == set(out["cited"]) == {2}  # the JSON finding says nothing about the question
    assert 2 <= out["text"].count("[2].") <= 5
    assert 0.5 < out["confidence"] <= 1.0


def test_summary_without_usable_sentences_still_cites_the_top_finding() -> None:
    findings = [{"title": "asyncio.run", "snippet": ">>> asyncio.run(main())", "relevance": 0.4}]
    out = extract.summarize(GATHER_Q, findings)
    assert out["cited"] == [1] and out["text"].endswith("[1].") and "asyncio.run" in out["text"]


def test_offline_answer_reads_the_same_json_a_real_model_gets() -> None:
    prompt = relevance_prompt(GATHER_Q, ["gather"], [GATHER_DOC, JSON_DOC])
    assert answer(parse_payload(prompt))["scores"] == extract.relevance(
        GATHER_Q, ["gather"], [GATHER_DOC, JSON_DOC]
    )
    findings = [{**GATHER_DOC, "snippet": GATHER_DOC["text"], "relevance": 0.8}]
    assert answer(parse_payload(summary_prompt(GATHER_Q, findings)))["cited"] == [1]


def test_token_approximation_is_one_per_4_characters() -> None:
    assert approx_tokens("") == 0
    assert approx_tokens("one two three four five six seven eight nine ten") == 12  # 48 characters
    assert approx_tokens("x" * 4000) == 1000


_text = st.text(alphabet=st.characters(categories=["L", "N", "P", "Zs"]), max_size=300)


@settings(max_examples=60, deadline=None)
@given(
    question=st.text(min_size=1, max_size=120),
    docs=st.lists(
        st.fixed_dictionaries(
            {"title": _text, "text": _text, "source": st.sampled_from(["a", "b"]), "score": st.floats(0, 50)}
        ),
        max_size=8,
    ),
)
def test_relevance_is_one_unit_score_per_candidate(question: str, docs: list[dict]) -> None:
    scores = extract.relevance(question, [], docs)
    assert len(scores) == len(docs)
    assert all(0.0 <= s <= 1.0 for s in scores)


@settings(max_examples=60, deadline=None)
@given(
    question=st.text(min_size=1, max_size=120),
    findings=st.lists(
        st.fixed_dictionaries({"title": _text, "snippet": _text, "relevance": st.floats(0, 1)}),
        min_size=1,
        max_size=8,
    ),
)
def test_summary_cites_only_findings_that_exist(question: str, findings: list[dict]) -> None:
    out = extract.summarize(question, findings)
    cited = {int(n) for n in re.findall(r"\[(\d+)\]", out["text"])}
    assert cited and cited <= set(range(1, len(findings) + 1))
    assert set(out["cited"]) == cited
    assert 0.0 <= out["confidence"] <= 1.0
