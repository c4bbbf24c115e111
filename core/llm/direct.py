"""``agents: direct``: the offline model's work called straight, without Pydantic AI.

The same payload becomes the same JSON prompt; the offline model's pure ``answer`` does the same
work; its arguments are validated into the same output type and pass the same check
(``core.llm.checks``); tokens are counted as the offline model counts them (prompt with its
instructions, and the JSON answer). What is skipped is the framework: agent graph, message
history, output tool call, prompt scanning. Only the offline model can be called this way: for
any other model ``Agents`` runs the Pydantic AI agent.

The offline model is deterministic, so where an agent would retry after a failed check (and get
the same answer again) a direct call fails at once with ``ModelError``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import orjson
from pydantic import BaseModel, ValidationError
from pydantic_ai import ModelRetry

from core.errors import ModelError
from core.llm.checks import check_scores, check_summary
from core.llm.offline import answer, approx_tokens
from core.llm.outputs import KeyTerms, RelevanceScores, Summary
from core.llm.prompts import INSTRUCTIONS, KEY_TERMS, RELEVANCE, SUMMARY, render

T = TypeVar("T", bound=BaseModel)


@dataclass(frozen=True)
class DirectTask(Generic[T]):
    """One of the three jobs: its agent's name, output type and check."""

    name: str
    task: str
    output: type[T]
    check: Callable[[int, T], T] | None = None

    def call(self, payload: dict[str, Any], n: int | None) -> tuple[T, int, int]:
        """``(output, input_tokens, output_tokens)`` for ``payload``; raises ModelError.

        >>> out, tin, tout = KEY_TERMS_TASK.call({"task": "key_terms", "question": "What is asyncio?"}, None)
        >>> out.terms, tin > 0, tout > 0
        (['asyncio'], True, True)
        """
        try:
            args = answer(payload)
            output = self.output.model_validate(args)
            if self.check is not None and n is not None:
                output = self.check(n, output)
        except (ValidationError, ModelRetry, ValueError, KeyError) as exc:
            raise ModelError(f"{self.name} agent (offline, direct) failed: {exc}") from exc
        prompt_text = INSTRUCTIONS[self.task] + " " + render(payload)
        return output, approx_tokens(prompt_text), approx_tokens(orjson.dumps(args).decode())


KEY_TERMS_TASK = DirectTask("key_terms", KEY_TERMS, KeyTerms)
RELEVANCE_TASK = DirectTask("relevance", RELEVANCE, RelevanceScores, check_scores)
SUMMARY_TASK = DirectTask("summary", SUMMARY, Summary, check_summary)
