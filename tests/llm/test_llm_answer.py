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


def test_an_example_keeps_its_indentation() -> None:
    code = "class C(metaclass=ABCMeta):\n    @abstractmethod\n    def run(self):\n        ..."
    finding = {
        "title": "abc.abstractmethod",
        "snippet": f"A decorator indicating abstract methods.\n\nUsage:\n\n```python\n{code}\n```",
        "relevance": 0.9,
    }
    text = extract.summarize("How do I declare an abstract method?", [finding])["text"]
    assert f"```python\n{code}\n```" in text


def test_flattened_code_and_version_notes_are_not_summary_sentences() -> None:
    finding = {
        "title": "itertools.chain.from_iterable",
        "snippet": "Changed in version 3.11: The chain is now lazy. Alternative chain() constructor taking a "
        "single iterable argument. def from_iterable(iterables): # chain.from_iterable(['ABC']) --> A B C "
        "for it in iterables: yield from it. It evaluates the iterable argument lazily.",
        "relevance": 0.9,
    }
    text = extract.summarize("How do I chain several iterables into one?", [finding])["text"]
    assert text.startswith("Use `itertools.chain.from_iterable`: Alternative chain() constructor")
    assert "def from_iterable" not in text and "Changed in version" not in text


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


def test_a_sentence_cut_at_the_word_limit_ends_with_an_ellipsis() -> None:
    long = "Return the " + " ".join(["parsed"] * 60) + " value at last."
    text = extract.summarize("parsed value", [{**ISO, "snippet": long}])["text"]
    assert text.endswith(
        f"the {' '.join(['parsed'] * (extract.MAX_SENTENCE_WORDS - 2))} {extract.ELLIPSIS} [1]."
    )


def test_page_headers_and_labels_are_never_summary_sentences() -> None:
    """A man page's running header and the label introducing an appended section name things;
    they say nothing, and a section opening on one opens on its sentence about the question."""
    section = {
        "title": "CREATE_INDEX.txt / Notes",
        "location": "postgresql/CREATE_INDEX.txt#notes",
        "snippet": "CREATE INDEX(7) PostgreSQL 15.20 Documentation CREATE INDEX(7)\n\n"
        "Library reference (Indexes — building them):\n\n"
        "fillfactor (integer) Sets the storage parameter of the table.\n\n"
        "Normally PostgreSQL locks the table against writes while the index is built. "
        "CONCURRENTLY builds the index without locking writes.",
        "relevance": 0.9,
    }
    text = extract.summarize("How do I build an index without locking writes?", [section])["text"]
    assert "Documentation" not in text and "Library reference" not in text
    assert text.startswith("See CREATE_INDEX.txt / Notes: CONCURRENTLY builds the index without locking")


def test_another_findings_sentence_must_be_about_the_question_not_mention_its_words() -> None:
    """A long sentence of another finding that uses the question's words in passing (curses on
    terminal sizes, for environment variables with a default) stays out of the answer."""
    getenv = {
        "title": "os.getenv",
        "location": "os.getenv",
        "snippet": "Get an environment variable, return None if it doesn't exist. "
        "Return the value of the environment variable key if it exists, or default if it doesn't.",
        "relevance": 0.6,
    }
    curses = {
        "title": "curses.use_env",
        "location": "curses.use_env",
        "snippet": "Use environment variables. When flag is False, the values of lines and columns specified "
        "in the terminfo database will be used, even if environment variables LINES and COLUMNS (used "
        "by default) are set, or if curses is running in a window, in which case the default behavior "
        "would be to use the window size if LINES and COLUMNS are not set at all by the user.",
        "relevance": 0.55,
    }
    text = extract.summarize("How do I read environment variables with a default value?", [getenv, curses])[
        "text"
    ]
    assert "terminfo" not in text
    assert text.startswith("Use `os.getenv`")


def test_a_sections_answer_opens_on_its_sentence_most_about_the_question() -> None:
    """A chunk of a manual page runs over several topics: it opens on the sentence that shares
    most of the question's terms, and its sentences about another topic (DISTINCT, after a
    question on sorting) stay out, although they share a term or two."""
    section = {
        "title": "SELECT.txt / Parameters",
        "location": "postgresql/SELECT.txt#parameters",
        "snippet": "Note that versions before 9.6 did not say when output expressions are evaluated. "
        "DISTINCT Clause If SELECT DISTINCT is specified, all duplicate rows are removed from the "
        "result set. "
        "ORDER BY Clause The ORDER BY clause causes the result rows of a query to be sorted.",
        "relevance": 0.7,
    }
    text = extract.summarize("How do I sort the rows of a PostgreSQL query result?", [section])["text"]
    assert text.startswith("See SELECT.txt / Parameters: ORDER BY Clause The ORDER BY clause causes")
    assert "DISTINCT" not in text and "9.6" not in text


def test_numpydoc_headings_and_version_notes_are_not_summary_sentences() -> None:
    """A numpydoc section's heading and underline never run into a sentence ("----------
    a : array_like ..."), and a version note is the API's history, not how to use it."""
    finding = {
        "title": "numpy.mean",
        "location": "numpy.mean",
        "snippet": "Compute the arithmetic mean along the specified axis.\n\nParameters\n----------\n"
        "a : array_like\n    Array containing numbers whose mean is desired.\n\n"
        "Changed in version 1.2: The mean along an axis of an array is computed in float64.",
        "relevance": 0.8,
    }
    text = extract.summarize("How do I compute the mean of an array along an axis?", [finding])["text"]
    assert text.startswith("Use `numpy.mean`: Compute the arithmetic mean along the specified axis [1].")
    assert "---" not in text and "Parameters" not in text and "Changed in version" not in text
    assert "`a`: Array containing numbers whose mean is desired [1]" in text


def test_a_manual_pages_headings_and_synopsis_are_not_summary_sentences() -> None:
    """A PDF page of a manual keeps its lines: ``NAME`` / ``SYNOPSIS`` headings alone on a line
    end a sentence, and a synopsis line (``FULL [ boolean ]``) is syntax, not prose."""
    page = {
        "title": "VACUUM - garbage-collect and optionally analyze a database / page=1",
        "location": "postgresql/VACUUM.pdf#page=1",
        "snippet": "VACUUM(7) PostgreSQL 15.20 Documentation VACUUM(7)\nNAME\n"
        "VACUUM - garbage-collect and optionally analyze a database\nSYNOPSIS\n"
        "VACUUM [ ( option [, ...] ) ] [ table_and_columns [, ...] ]\nwhere option can be one of:\n"
        "FULL [ boolean ]\nFREEZE [ boolean ]\nVERBOSE [ boolean ]",
        "relevance": 0.9,
    }
    text = extract.summarize("What does VACUUM FULL do?", [page])["text"]
    assert text == f"See {page['title']}: VACUUM - garbage-collect and optionally analyze a database [1]."


def test_a_numpydoc_parameter_reads_as_its_name_and_text_and_usage_lines_are_code() -> None:
    finding = {
        "title": "numpy.mean",
        "snippet": "Compute the arithmetic mean along the specified axis.\n\n"
        "axis : None or int or tuple of ints, optional\n"
        "    Axis or axes along which the means are computed.\n\n"
        "Timeout(5.0)                # 5s timeout on all operations.",
        "relevance": 0.9,
    }
    text = extract.summarize("How do I compute the mean of an array along an axis?", [finding])["text"]
    assert "`axis`: Axis or axes along which the means are computed [1]." in text
    assert "optional" not in text and "Timeout(5.0)" not in text


def test_private_attribute_entries_are_not_summary_sentences() -> None:
    finding = {
        "title": "pydantic.BaseModel",
        "snippet": "A base class for creating Pydantic models.\n\nAttributes:\n"
        "    __pydantic_fields__: A dictionary of field names and their corresponding objects.\n"
        "    model_config: Configuration for the model, a dictionary of settings.",
        "relevance": 0.9,
    }
    text = extract.summarize("How do I turn a pydantic model into a dictionary?", [finding])["text"]
    assert "__pydantic_fields__" not in text and text.startswith("Use `pydantic.BaseModel`: A base class")


def test_an_examples_brackets_are_code_not_citations() -> None:
    """``sys.argv[0].`` in a shown example once read as a citation of finding 0 (bench/engine.py
    failed: "citations [0] do not exist")."""
    from core.llm.checks import check_summary
    from core.llm.outputs import Summary

    finding = {
        "title": "sys.argv",
        "snippet": "The list of command line arguments passed to a Python script.\n\n"
        "```python\nname = sys.argv[0].upper()\nrest = sys.argv[1:]\n```",
        "relevance": 0.9,
    }
    out = extract.summarize("How do I read the command line arguments of a script?", [finding])
    assert "sys.argv[0].upper()" in out["text"] and out["cited"] == [1]
    assert check_summary(1, Summary(**out)).cited == [1]
