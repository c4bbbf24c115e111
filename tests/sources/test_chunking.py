"""Chunks keep their text's form: a code block cut over several chunks is fenced in each, lines
stay lines; the query-biased snippet never repeats its start and closes a block it cuts."""

from __future__ import annotations

from core.sources.text import MAX_WORDS, chunk_text
from core.workflow.snippet import GAP, snippet

LINES = [f">>> p.cpu_percent(interval={i})  # sample {i}" for i in range(150)]
CODE = "```python\n" + "\n".join(LINES) + "\n```"


def test_a_long_code_block_is_fenced_in_every_chunk_with_its_lines() -> None:
    chunks = chunk_text("Process management\n\n" + CODE)
    code = [c for c in chunks if "cpu_percent" in c]
    assert len(code) >= 2
    for c in code:
        body = c[c.index("```python") :]
        assert body.startswith("```python\n") and body.endswith("\n```") and body.count("```") == 2
        assert all(ln.startswith(">>> p.cpu_percent") for ln in body.splitlines()[1:-1])
        assert len(c.split()) <= MAX_WORDS
    lines = [ln for c in code for ln in c.splitlines() if ln.startswith(">>>")]
    assert lines == LINES  # every line once, in order


def test_a_pdf_pages_lines_are_kept_and_their_spacing_runs_collapsed() -> None:
    page = "\n".join(f"VACUUM       option {i}       reclaims storage" for i in range(120))
    chunks = chunk_text(page)
    assert len(chunks) >= 2 and all("\n" in c and "  " not in c for c in chunks)


def test_a_snippet_never_repeats_its_start_and_closes_a_code_block_it_cuts() -> None:
    text = CODE + "\n\nThe interval argument blocks for that many seconds while it samples."
    out = snippet(text, ["interval", "seconds", "blocks"], 600)
    head, _, tail = out.partition(f"\n\n{GAP}\n\n")
    assert head.startswith("```python") and head.endswith("\n```") and head.count("```") == 2
    assert tail.startswith("The interval argument blocks")
    only_code = snippet(CODE, ["interval", "sample"], 600)
    assert GAP not in only_code and only_code.count(">>> p.cpu_percent(interval=0)") == 1


def test_a_code_only_text_brings_the_lines_about_the_question_into_its_snippet() -> None:
    """A README section that is one long doctest (psutil's "Process management"): the snippet
    keeps its import and the lines with the question's missing terms, the rest marked."""
    body = [">>> import psutil", *LINES[:60], ">>> p.memory_percent()", "0.7823", *LINES[60:]]
    text = "```python\n" + "\n".join(body) + "\n```"
    out = snippet(text, ["memory", "percent"], 600)
    lines = out.splitlines()
    assert lines[:3] == ["```python", ">>> import psutil", "# …"] and lines[-1] == "```"
    assert ">>> p.memory_percent()" in lines and "0.7823" in lines
