"""Checks of a model's output against its input, shared by the Pydantic AI agents and the direct calls.

Each takes ``n`` (how many candidates or findings the model was given) and the typed output, and
returns the output or raises ``ModelRetry`` saying what to fix (an agent sends that back to the
model once; a direct call fails with it).
"""

from __future__ import annotations

import re

from pydantic_ai import ModelRetry

from core.llm.outputs import RelevanceScores, Summary

# A citation stands apart: ``argv[0]`` or ``x[1]`` quoted from the evidence is indexing, not a citation
# (the offline summary quotes documentation; seen as "citations [0] do not exist" under load).
_CITATION = re.compile(r"(?<![\w`])\[(\d+)\]")
# Nor is a bracketed number inside code: ``print([11])`` in a quoted example (seen under load as
# "citations [11] do not exist").
_CODE = re.compile(r"```.*?(?:```|$)|`[^`\n]*`", re.S)


def check_scores(n: int, out: RelevanceScores) -> RelevanceScores:
    """One score per candidate.

    >>> check_scores(1, RelevanceScores(scores=[0.5])).scores
    [0.5]
    """
    if len(out.scores) != n:
        raise ModelRetry(f"return exactly {n} scores, one per candidate in order (got {len(out.scores)})")
    return out


def check_summary(n: int, out: Summary) -> Summary:
    """Citations only of findings that exist, at least one; ``cited`` made to match the text.

    >>> check_summary(2, Summary(text="It runs [2].", confidence=0.5)).cited
    [2]
    """
    used = [int(k) for k in _CITATION.findall(_CODE.sub(" ", out.text))]
    bad = sorted({k for k in [*used, *out.cited] if not 1 <= k <= n})
    if bad:
        raise ModelRetry(f"citations {bad} do not exist; cite findings 1..{n} only, as [n]")
    if not used:
        raise ModelRetry("end each sentence with the [n] of the finding it comes from")
    # The text is what readers see, so `cited` is made to list exactly what the text cites.
    return out.model_copy(update={"cited": sorted(set(used))})
