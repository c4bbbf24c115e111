"""Output checks: what counts as a citation in a summary."""

from __future__ import annotations

import pytest
from pydantic_ai import ModelRetry

from core.llm.checks import check_summary
from core.llm.outputs import Summary


def test_indexing_quoted_from_the_evidence_is_not_a_citation() -> None:
    text = "Use `sys.argv[0]` or argv[0] for the program name [1]."
    out = check_summary(2, Summary(text=text, confidence=0.5))
    assert out.cited == [1]


def test_a_citation_of_a_missing_finding_is_still_refused() -> None:
    with pytest.raises(ModelRetry, match=r"citations \[3\] do not exist"):
        check_summary(2, Summary(text="It runs [1]. It also waits [3].", confidence=0.5))


def test_a_bracketed_number_in_a_code_example_is_not_a_citation() -> None:
    code = "```python\nprint(pick([11, 76]), [76])\n```"
    text = f"Use `pick` [1]. For example:\n\n{code}\n It returns `xs[2]` [2]."
    out = check_summary(2, Summary(text=text, confidence=0.5))
    assert out.cited == [1, 2]
