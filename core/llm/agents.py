"""The three model calls of a research run, as Pydantic AI agents with typed outputs.

``Agents`` builds its model and its three ``Agent`` objects once; every call reuses them (an
``Agent`` is stateless between runs, and building one costs far more than running it). Each call:

1. optionally waits an emulated provider delay drawn from a ``LatencyProfile`` and fails at its
   ``failure_rate`` with ``ModelError("emulated provider failure")`` (labelled: ``emulated_s``,
   and ``RunContext.emulated`` is set);
2. runs the agent; the output arrives through the agent's output tool and is validated into
   ``KeyTerms`` / ``RelevanceScores`` / ``Summary``, then checked against the input (one score per
   candidate; citations only of findings that exist). A failed check is sent back to the model as
   a retry once; any error of the run becomes ``ModelError``;
3. records an ``llm`` span and the token counts on the ``run`` it is given (the node passes its
   ``RunContext``; nothing is read from the context variable).

Empty inputs (no candidates, no findings) are answered without a model call.

Per-call overhead: agents are built with an explicit ``name`` and run with ``infer_name=False`` (no
call-frame inspection per run); Pydantic AI instrumentation stays off (its default).
"""

from __future__ import annotations

import random
import re
import time
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel
from pydantic_ai import Agent, ModelRetry, RunContext, ToolOutput

from core.config import LatencyProfile
from core.emulation import emulate, fails
from core.errors import ModelError
from core.llm.offline import OFFLINE_VERSION
from core.llm.outputs import KeyTerms, RelevanceScores, Summary
from core.llm.prompts import (
    INSTRUCTIONS,
    KEY_TERMS,
    RELEVANCE,
    SUMMARY,
    key_terms_prompt,
    relevance_prompt,
    summary_prompt,
)
from core.llm.providers import resolve_model
from core.runctx import RunContext as Run

T = TypeVar("T", bound=BaseModel)
_CITATION = re.compile(r"\[(\d+)\]")


@dataclass
class AgentCall(Generic[T]):
    """One model call's typed output and what it cost."""

    output: T
    input_tokens: int
    output_tokens: int
    seconds: float
    """Wall time of the whole call, emulated delay included."""
    emulated_s: float = 0.0
    """Emulated provider delay inside ``seconds`` (0 when no latency profile was given)."""


def _check_scores(ctx: RunContext[int], out: RelevanceScores) -> RelevanceScores:
    if len(out.scores) != ctx.deps:
        raise ModelRetry(
            f"return exactly {ctx.deps} scores, one per candidate in order (got {len(out.scores)})"
        )
    return out


def _check_summary(ctx: RunContext[int], out: Summary) -> Summary:
    used = [int(n) for n in _CITATION.findall(out.text)]
    bad = sorted({n for n in [*used, *out.cited] if not 1 <= n <= ctx.deps})
    if bad:
        raise ModelRetry(f"citations {bad} do not exist; cite findings 1..{ctx.deps} only, as [n]")
    if not used:
        raise ModelRetry("end each sentence with the [n] of the finding it comes from")
    # The text is what readers see, so `cited` is made to list exactly what the text cites.
    return out.model_copy(update={"cited": sorted(set(used))})


def _describe(exc: BaseException) -> str:
    """The error and its causes (a retry-exhausted run hides the validator's reason in its cause)."""
    parts: list[str] = []
    inner: BaseException | None = exc
    while inner is not None and len(parts) < 3:
        if str(inner) and str(inner) not in parts:
            parts.append(str(inner))
        inner = inner.__cause__ or inner.__context__
    return ": ".join(parts) or type(exc).__name__


class Agents:
    """The key-terms, relevance and summary agents over one model; build once, call many times.

    >>> import asyncio
    >>> agents = Agents()
    >>> asyncio.run(agents.key_terms("How does asyncio.gather run coroutines?")).output.terms
    ['asyncio.gather', 'run', 'coroutines']
    """

    def __init__(
        self, model: str = "offline", *, base_url: str | None = None, rng: random.Random | None = None
    ) -> None:
        self.model_name = model
        self.model_identity = f"offline@{OFFLINE_VERSION}" if model == "offline" else model
        """What cache keys use: the model string, versioned for the offline model."""
        """The model string as configured, e.g. ``offline`` or ``openai:gpt-4o-mini`` (part of cache keys)."""
        self.model = resolve_model(model, base_url=base_url)
        self._rng = rng if rng is not None else random.Random()
        self.key_terms_agent: Agent[None, KeyTerms] = Agent(
            self.model,
            output_type=ToolOutput(KeyTerms, name="return_key_terms"),
            instructions=INSTRUCTIONS[KEY_TERMS],
            name="key_terms",
        )
        self.relevance_agent: Agent[int, RelevanceScores] = Agent(
            self.model,
            output_type=ToolOutput(RelevanceScores, name="return_relevance_scores"),
            instructions=INSTRUCTIONS[RELEVANCE],
            deps_type=int,
            name="relevance",
        )
        self.relevance_agent.output_validator(_check_scores)
        self.summary_agent: Agent[int, Summary] = Agent(
            self.model,
            output_type=ToolOutput(Summary, name="return_summary"),
            instructions=INSTRUCTIONS[SUMMARY],
            deps_type=int,
            name="summary",
        )
        self.summary_agent.output_validator(_check_summary)

    async def key_terms(
        self, question: str, *, latency: LatencyProfile | None = None, run: Run | None = None
    ) -> AgentCall[KeyTerms]:
        """Key terms and a search query for ``question``.

        >>> import asyncio
        >>> asyncio.run(Agents().key_terms("What does functools.lru_cache do?")).output.search_query
        'functools.lru_cache'
        """
        return await self._call(self.key_terms_agent, key_terms_prompt(question), None, latency, run)

    async def score(
        self,
        question: str,
        terms: list[str],
        candidates: list[dict[str, Any]],
        *,
        latency: LatencyProfile | None = None,
        run: Run | None = None,
    ) -> AgentCall[RelevanceScores]:
        """One 0-1 relevance per candidate (dicts with title, text or snippet, score = BM25), same order.

        >>> import asyncio
        >>> c = [{"title": "gather", "text": "Run coroutines concurrently.", "score": 3.0}]
        >>> asyncio.run(Agents().score("run coroutines concurrently", [], c)).output.scores
        [0.85]
        """
        if not candidates:
            return AgentCall(RelevanceScores(scores=[]), 0, 0, 0.0)
        prompt = relevance_prompt(question, terms, candidates)
        return await self._call(self.relevance_agent, prompt, len(candidates), latency, run)

    async def summarize(
        self,
        question: str,
        findings: list[dict[str, Any]],
        *,
        latency: LatencyProfile | None = None,
        run: Run | None = None,
    ) -> AgentCall[Summary]:
        """A 2-5 sentence summary citing ``findings`` (dicts with title, location, snippet, relevance) as [n].

        >>> import asyncio
        >>> f = [{"title": "gather", "snippet": "gather runs awaitables concurrently.", "relevance": 0.9}]
        >>> asyncio.run(Agents().summarize("How to run awaitables concurrently?", f)).output.cited
        [1]
        """
        if not findings:
            return AgentCall(
                Summary(text="No findings were retrieved for this question.", confidence=0.0), 0, 0, 0.0
            )
        return await self._call(
            self.summary_agent, summary_prompt(question, findings), len(findings), latency, run
        )

    async def _call(
        self, agent: Agent[Any, T], prompt: str, deps: Any, latency: LatencyProfile | None, ctx: Run | None
    ) -> AgentCall[T]:
        start = time.perf_counter()
        emulated_s = 0.0
        try:
            if latency is not None:
                if ctx is not None:
                    ctx.emulated = True
                emulated_s = await emulate(latency, self._rng)
                if fails(latency, self._rng):
                    raise ModelError("emulated provider failure")
            try:
                result = await agent.run(prompt, deps=deps, infer_name=False)
            except Exception as exc:  # any provider, validation or framework failure of this call
                raise ModelError(f"{agent.name} agent ({self.model_name}) failed: {_describe(exc)}") from exc
        finally:
            end = time.perf_counter()
            if ctx is not None:
                ctx.add_span("llm", start, end)
        usage = result.usage
        if ctx is not None:
            ctx.tokens["input"] += usage.input_tokens
            ctx.tokens["output"] += usage.output_tokens
        return AgentCall(result.output, usage.input_tokens, usage.output_tokens, end - start, emulated_s)
