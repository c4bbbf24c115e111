"""Source markup reaches findings as clean Markdown."""

from __future__ import annotations

from core.sources.markup import clean_markdown, docstring_to_markdown, rst_to_markdown


def test_rst_links_roles_and_literals_become_markdown() -> None:
    text = "Read `the guide <https://x.org/g>`_, call :func:`asyncio.gather` with ``return_exceptions``."
    assert rst_to_markdown(text) == (
        "Read [the guide](https://x.org/g), call `asyncio.gather` with `return_exceptions`."
    )


def test_named_rst_references_resolve_to_their_targets() -> None:
    text = "Install from PyPI_ or see `Change log`_.\n\n.. _PyPI: https://pypi.org/p/\n.. _Change log: https://x/c\n"
    out = rst_to_markdown(text)
    assert "[PyPI](https://pypi.org/p/)" in out and "[Change log](https://x/c)" in out
    assert ".. _" not in out


def test_literal_blocks_and_doctests_are_fenced() -> None:
    out = docstring_to_markdown("Example::\n\n    x = 1\n\n    y = 2\n\nThen:\n\n>>> f(1)\n2\n")
    assert "```\nx = 1\n\ny = 2\n```" in out
    assert "```python\n>>> f(1)\n2\n```" in out
    assert "Example:" in out and "Example::" not in out


def test_an_indented_block_under_an_example_label_is_fenced_a_definition_list_is_not() -> None:
    """numpydoc / Google style: "Usage:" and "For example:" introduce code; "Args:" introduces a list."""
    doc = (
        "Wait for tasks.\n\nUsage:\n\n    done, pending = await asyncio.wait(fs)\n\n"
        "Args:\n\n    fs: the tasks\n\nRoughly equivalent to:\n\n    for x in it:\n        yield x\n"
    )
    out = docstring_to_markdown(doc)
    assert "Usage:\n\n```python\ndone, pending = await asyncio.wait(fs)\n```" in out
    assert "```python\nfor x in it:\n    yield x\n```" in out
    assert "Args:\n\n    fs: the tasks" in out


def test_badges_images_and_mkdocs_references_are_dropped() -> None:
    text = "[![ci](https://b/x.svg)](https://ci) <!-- note --> See [`Agent`][pydantic_ai.Agent] and [docs](https://d)."
    assert clean_markdown(text) == "See `Agent` and [docs](https://d)."


def test_clean_markdown_is_idempotent_on_clean_text() -> None:
    text = "Use [httpx](https://www.python-httpx.org) and `Client`.\n\n```python\nhttpx.get(url)\n```"
    assert clean_markdown(text) == text
    assert clean_markdown(clean_markdown(text)) == text


def test_an_example_label_over_unindented_code_lines_fences_them() -> None:
    """httpx's "**Usage**:" block is not indented; its lines are calls with comments."""
    out = docstring_to_markdown(
        "Timeout configuration.\n\n**Usage**:\n\nTimeout(None)   # No timeouts.\n"
        "Timeout(5.0)    # 5s timeout on all operations.\n\nNotes follow here."
    )
    assert (
        "```python\nTimeout(None)   # No timeouts.\nTimeout(5.0)    # 5s timeout on all operations.\n```"
        in out
    )
    prose = docstring_to_markdown("For example:\n\nThis is a sentence about it.\n")
    assert "```" not in prose


def test_an_admonition_becomes_a_quote_and_is_not_the_apis_lead() -> None:
    """pydantic opens docstrings with ``!!! abstract "Usage Documentation"``: the page shows it
    as a quote, and the lead (what the API is) is the sentence after it."""
    from core.sources.signals import lead_text

    doc = '!!! abstract "Usage Documentation"\n    [`model_dump`](../concepts/s.md)\n\nGenerate a dict.'
    out = docstring_to_markdown(doc)
    assert out.startswith("> **Usage Documentation:** [`model_dump`](../concepts/s.md)\n\n")
    assert "!!!" not in out
    assert lead_text(f"model_dump(self)\n\n{out}") == "Generate a dict."
    note = docstring_to_markdown(
        "Build it.\n\n!!! note\n    First line.\n\n    ```python\n    x = 1\n    ```\n"
    )
    assert "> **Note:**\n> First line.\n>\n> ```python\n> x = 1\n> ```" in note
