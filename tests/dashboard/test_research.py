"""Research page: a question produces a cited answer; bad input shows the field's error beside it."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from core.errors import InvalidInput
from dashboard import services
from tests.dashboard.apphelpers import texts

QUESTION = "How do I run coroutines concurrently and wait for all of them?"


def ask(at: AppTest, question: str, max_sources: int = 5) -> AppTest:
    at.text_area(key="question").input(question)
    at.number_input(key="max_sources").set_value(max_sources)
    next(b for b in at.button if b.label == "Run research").click()
    return at.run()


def test_question_gives_a_cited_answer_with_findings_and_waterfall(app: AppTest) -> None:
    ask(app, QUESTION)
    assert not app.exception
    answer = next(m.value for m in app.markdown if "(#finding-1)" in m.value)
    assert "[\\[1\\]](#finding-1)" in answer  # the [1] citation links to finding 1
    headings = [m.value for m in app.markdown if m.value.startswith("##### [")]
    assert headings and headings[0].startswith("##### [1] ")
    assert len(headings) <= 5
    assert any("relevance" in c.value for c in app.caption)  # each finding shows location + relevance
    assert app.session_state["last_result"].findings
    assert app.session_state["session_questions"][0]["question"] == QUESTION


def test_too_short_question_shows_the_field_error(app: AppTest) -> None:
    ask(app, "short?")
    errors = [e.value for e in app.error]
    assert any("10 characters" in e for e in errors), errors
    assert "last_result" not in app.session_state


def test_unknown_source_choice_is_impossible_and_one_source_limits_findings(app: AppTest) -> None:
    names = app.multiselect(key="sources").options
    assert names and names == services.source_names(), "the multiselect lists exactly the engine's sources"
    # impossible in the widget: a value outside the options is dropped before it reaches the engine ...
    app.multiselect(key="sources").set_value(["wikipedia"])
    ask(app, QUESTION, max_sources=3)
    assert "wikipedia" not in app.multiselect(key="sources").value
    assert not app.exception and "research_errors" not in app.session_state
    assert set(app.session_state["last_result"].sources_used) <= set(names)
    # ... and refused by the service, naming the field, should anything send one anyway
    with pytest.raises(InvalidInput) as info:
        services.ask(QUESTION, sources=["wikipedia"], max_sources=3)
    assert [e["field"] for e in info.value.errors] == ["domains"]
    app.multiselect(key="sources").set_value([names[0]])
    ask(app, QUESTION, max_sources=3)
    result = app.session_state["last_result"]
    assert result.findings, "one source still answers the question"
    assert {f.source for f in result.findings} == {names[0]}
    assert len(result.findings) <= 3
    assert "Cache hits" in texts(app)


def test_the_answer_restates_its_question(app: AppTest) -> None:
    ask(app, QUESTION)
    with_answer = [m.value for m in app.markdown if m.value.startswith("**Question:**")]
    assert with_answer == [f"**Question:** {QUESTION}"]


def test_an_over_long_paste_is_refused_naming_the_limit_and_kept_in_the_box(app: AppTest) -> None:
    pasted = "Why does my coroutine never finish? " * 30  # 1,080 characters
    ask(app, pasted)
    errors = [e.value for e in app.error]
    assert any("limit is 500 characters" in e and "1,079 characters" in e for e in errors), errors
    assert app.text_area(key="question").value == pasted  # not truncated, not emptied
    assert "last_result" not in app.session_state


def test_a_blocked_submit_says_why_and_folds_the_previous_answer(app: AppTest) -> None:
    ask(app, QUESTION)
    assert any(m.value.startswith("**Question:**") for m in app.markdown)
    ask(app, "How do I read a CSV file into dictionaries?", max_sources=99)
    assert any("between 1 and 50" in e.value for e in app.error), [e.value for e in app.error]
    folded = [x for x in app.expander if x.label.startswith("Previous answer (to: “How do I run")]
    assert folded, "the old answer is folded away under its own question"
    ask(app, "How do I read a CSV file into dictionaries?", max_sources=3)
    assert not app.error and not [x for x in app.expander if x.label.startswith("Previous answer")]
    assert app.session_state["last_result"].question.startswith("How do I read a CSV")


def test_a_cached_answer_says_so_with_the_time_saved(app: AppTest) -> None:
    services.update_settings(preset="optimized")
    services.purge_cache()
    ask(app, QUESTION, max_sources=4)
    first = app.session_state["last_result"]
    assert not first.cached
    ask(app, QUESTION, max_sources=4)
    again = app.session_state["last_result"]
    assert again.cached
    notes = [s.value for s in app.success if s.value.startswith("From cache")]
    assert notes and "the original run took" in notes[0] and "saved" in notes[0], notes
    assert app.session_state["last_original_s"] == first.processing_time_s
