"""The offline summary: an answer first, then how/why, cited, diverse, with a meaningful confidence."""

from __future__ import annotations

import re

from core.llm import extract

Q = "How do I parse an ISO 8601 string into a datetime object?"
ISO = {
    "title": "datetime.datetime.fromisoformat",
    "location": "datetime.datetime.fromisoformat",
    "snippet": "Construct a datetime from a string in ISO 8601 format. Most ISO 8601 strings are parsed. "
    "Time zone offsets are parsed too.\n\n```python\ndatetime.fromisoformat('2011-11-04')\n```",
    "relevance": 0.9,
}
STRPTIME = {
    "title": "datetime.datetime.strptime",
    "location": "datetime.datetime.strptime",
    "snippet": "Parse a datetime string according to a format string. Most ISO 8601 strings are parsed.",
    "relevance": 0.8,
}


def _parts(text: str) -> list[str]:
    prose = re.sub(r"```.*?```", " ", text, flags=re.S)
    return [p.strip() for p in re.split(r"(?<=\]\.)\s+", prose) if p.strip()]


def test_the_first_sentence_names_what_to_use_and_cites_it() -> None:
    out = extract.summarize(Q, [ISO, STRPTIME])
    assert out["text"].startswith("Use `datetime.datetime.fromisoformat`: Construct a datetime")
    assert _parts(out["text"])[0].endswith("[1].")
    assert all(re.search(r"\[\d\]\.$", p) for p in _parts(out["text"]))


def test_a_code_example_from_the_evidence_is_fenced() -> None:
    out = extract.summarize(Q, [ISO, STRPTIME])
    assert "```python\ndatetime.fromisoformat('2011-11-04')\n```" in out["text"]


def test_no_sentence_is_repeated_even_when_findings_repeat_it() -> None:
    out = extract.summarize(Q, [ISO, {**ISO, "title": "other.fromisoformat"}, STRPTIME])
    norm = [re.sub(r"\s*\[\d+\]\.?", "", p).lower() for p in _parts(out["text"])]
    assert len(norm) == len(set(norm)) and len(norm) <= extract.MAX_SENTENCES


def test_markdown_links_survive_and_numbers_in_brackets_do_not_read_as_citations() -> None:
    finding = {
        **ISO,
        "snippet": "Parse ISO 8601 strings, see [the docs](https://docs.python.org) and [2] there.",
    }
    text = extract.summarize(Q, [finding])["text"]
    assert "[the docs](https://docs.python.org)" in text and "(2) there" in text
    assert set(re.findall(r"\[(\d+)\]", text)) == {"1"}


def test_weak_evidence_gets_low_confidence_and_says_no_strong_match() -> None:
    weak = [
        {
            "title": "curses.window.overlay",
            "snippet": "Overlay the window on top of destwin.",
            "relevance": 0.2,
        }
    ]
    out = extract.summarize("florp zindle quaxx?", weak)
    assert out["confidence"] < extract.NO_MATCH_CONFIDENCE
    assert out["text"].startswith("No strong match")
    strong = extract.summarize(Q, [ISO, STRPTIME])
    assert strong["confidence"] > out["confidence"] + 0.3
