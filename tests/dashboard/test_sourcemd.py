"""Source text renders as its source meant it: code stays code, reST leftovers are cleaned up,
nothing on the page fetches from the internet, citations link to their findings."""

from __future__ import annotations

from dashboard.sourcemd import linked_summary, source_markdown


def test_rest_roles_literals_and_literal_blocks_become_markdown() -> None:
    md = source_markdown(
        "Call :func:`asyncio.gather` with ``return_exceptions=True``::\n\n    await gather(a)\n\nDone."
    )
    assert md == "Call `asyncio.gather` with `return_exceptions=True`:\n\n```\nawait gather(a)\n```\n\nDone."


def test_a_docstring_example_after_a_colon_is_code() -> None:
    md = source_markdown("Use it like this:\nfor f in as_completed(fs):\n    result = await f\nThen more.")
    assert "```\nfor f in as_completed(fs):\n    result = await f\n```" in md


def test_images_become_links_and_relative_links_their_text() -> None:
    md = source_markdown(
        "![logo](https://example.com/logo.png) see [docs](https://d.example) or [here](../x.md)"
    )
    assert "![" not in md  # an image would be fetched by the browser from the internet
    assert "[image: logo](https://example.com/logo.png)" in md and "[docs](https://d.example)" in md
    assert "or here" in md


def test_names_and_dollars_show_literally_outside_code() -> None:
    md = source_markdown("Override __init__ and read $HOME; `__init__` stays\n# a comment, not a heading")
    assert "\\_\\_init\\_\\_" in md and "\\$HOME" in md and "`__init__`" in md
    assert "\\# a comment" in md


def test_a_fence_cut_off_by_the_snippet_is_closed_and_directives_are_labels() -> None:
    assert source_markdown("```python\nx = 1").endswith("x = 1\n```")
    assert source_markdown(".. note:: mind the loop") == "**Note:** mind the loop"


def test_citations_link_to_findings_that_exist() -> None:
    md = linked_summary("Use gather [1] or wait [3].", 2)
    assert "[\\[1\\]](#finding-1)" in md and "[3]" in md and "#finding-3" not in md


def test_a_summary_code_example_stays_a_block_with_its_indentation() -> None:
    """The summary used to be joined into one line: its example rendered as inline code mush."""
    code = "class C(metaclass=ABCMeta):\n    @abstractmethod\n    def run(self, xs):\n        return xs[1]"
    md = linked_summary(f"Use `abc.abstractmethod` [1]. For example:\n\n```python\n{code}\n```\nMore [1].", 1)
    assert f"\n```python\n{code}\n```\n" in md
    assert md.count("#finding-1") == 2  # the code's xs[1] is not a citation
