"""Near-duplicate hits become one finding that lists where else the text appears."""

from __future__ import annotations

from core.workflow.merge import shortlist

README = (
    "This module provides various memoizing collections and decorators, including variants of the "
    "Python Standard Library's lru_cache function decorator. For the purpose of this module, a cache "
    "is a mutable mapping of a fixed maximum size."
)


def _hit(source: str, location: str, score: float, text: str) -> dict:
    return {
        "source": source,
        "doc_id": location,
        "title": location,
        "location": location,
        "text": text,
        "score": score,
    }


def test_the_same_text_from_two_sources_is_one_finding_with_also_in() -> None:
    hits = [
        _hit("packages", "pypi:cachetools#cachetools", 0.7, README),
        _hit("docs", "python-packages/cachetools.rst#cachetools", 0.8, "cachetools\n\n" + README),
        _hit("stdlib", "functools.lru_cache", 0.6, "Decorator to wrap a function with a memoizing callable."),
    ]
    out = shortlist(hits, 10)
    assert [h["location"] for h in out] == [
        "python-packages/cachetools.rst#cachetools",
        "functools.lru_cache",
    ]
    assert out[0]["also_in"] == ["pypi:cachetools#cachetools"] and out[1]["also_in"] == []


def test_a_one_line_docstring_shared_by_a_class_and_its_mixin_is_merged() -> None:
    text = "Display a date input widget."
    out = shortlist([_hit("p", "st.date_input", 0.6, text), _hit("p", "st.Mixin.date_input", 0.5, text)], 10)
    assert len(out) == 1 and out[0]["also_in"] == ["st.Mixin.date_input"]


def test_different_texts_stay_apart_and_the_limit_holds() -> None:
    hits = [
        _hit("s", f"m.f{i}", 0.9 - i / 100, f"Function number {i} does task {i} on input {i}.")
        for i in range(8)
    ]
    out = shortlist(hits, 5)
    assert [h["location"] for h in out] == [f"m.f{i}" for i in range(5)]


def test_raw_scores_of_a_source_are_normalized_by_its_best() -> None:
    out = shortlist(
        [_hit("raw", "a", 12.0, "alpha beta gamma"), _hit("unit", "b", 0.9, "delta epsilon zeta")], 5
    )
    assert [(h["location"], h["norm_score"]) for h in out] == [("a", 1.0), ("b", 0.9)]


def test_sibling_methods_sharing_a_signature_and_reference_are_not_duplicates() -> None:
    shared = "Library reference (Regular Expression Objects): Compiled regular expression objects."
    sig = "(self, /, string, pos=0, endpos=9223372036854775807)\n\n"
    out = shortlist(
        [
            _hit(
                "s",
                "re.Pattern.match",
                0.7,
                f"match{sig}Matches zero or more characters at the start. {shared}",
            ),
            _hit(
                "s", "re.Pattern.fullmatch", 0.6, f"fullmatch{sig}Matches against all of the string. {shared}"
            ),
        ],
        5,
    )
    assert [h["location"] for h in out] == ["re.Pattern.match", "re.Pattern.fullmatch"]


def test_a_function_re_exported_under_another_signature_is_one_finding() -> None:
    doc = "Join two or more pathname components, inserting '/' as needed. An empty last part ends in '/'."
    out = shortlist(
        [
            _hit("s", "posixpath.join", 0.7, f"join(a, *p)\n\n{doc}"),
            _hit("s", "os.path.join", 0.6, f"os.path.join(path, *paths)\n\n{doc}"),
        ],
        5,
    )
    assert len(out) == 1 and out[0]["also_in"] == ["os.path.join"]
