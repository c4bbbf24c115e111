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
call-frame inspection per run); Pydantic AI instrumentation stays off (its default); the output
validators are ``async`` (a sync one is run in a worker thread per call).

``mode`` (the live setting ``agents``): ``pydantic_ai`` runs the agent; ``direct`` calls the
offline model's functions straight (``core.llm.direct``: same prompts, outputs, checks and token
counts, none of the framework). ``direct`` applies to the offline model only; with any other
model every call runs the agent.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel
from pydantic_ai import Agent, RunContext, ToolOutput

from core.config import AgentsMode, LatencyProfile
from core.emulation import emulate, fails
from core.errors import ModelError
from core.llm.checks import check_scores, check_summary
from core.llm.direct import KEY_TERMS_TASK, RELEVANCE_TASK, SUMMARY_TASK, DirectTask
from core.llm.offline import MODEL_NAME, OFFLINE_VERSION
from core.llm.outputs import KeyTerms, RelevanceScores, Summary
from core.llm.prompts import (
    INSTRUCTIONS,
    KEY_TERMS,
    RELEVANCE,
    SUMMARY,
    key_terms_payload,
    relevance_payload,
    render,
    summary_payload,
)
from core.llm.providers import resolve_model
from core.runctx import RunContext as Run

T = TypeVar("T", bound=BaseModel)


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


async def _check_scores(ctx: RunContext[int], out: RelevanceScores) -> RelevanceScores:
    return check_scores(ctx.deps, out)


async def _check_summary(ctx: RunContext[int], out: Summary) -> Summary:
    return check_summary(ctx.deps, out)


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
        self.direct_capable = model == MODEL_NAME
        """True for the offline model: ``mode="direct"`` calls its functions without the framework."""
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
        self,
        question: str,
        *,
        latency: LatencyProfile | None = None,
        run: Run | None = None,
        mode: AgentsMode = "pydantic_ai",
    ) -> AgentCall[KeyTerms]:
        """Key terms and a search query for ``question``.

        >>> import asyncio
        >>> asyncio.run(Agents().key_terms("What does functools.lru_cache do?")).output.search_query
        'functools.lru_cache'
        """
        payload = key_terms_payload(question)
        return await self._call(self.key_terms_agent, KEY_TERMS_TASK, payload, None, latency, run, mode)

    async def score(
        self,
        question: str,
        terms: list[str],
        candidates: list[dict[str, Any]],
        *,
        latency: LatencyProfile | None = None,
        run: Run | None = None,
        mode: AgentsMode = "pydantic_ai",
    ) -> AgentCall[RelevanceScores]:
        """One 0-1 relevance per candidate (dicts with title, text or snippet, score = BM25), same order.

        >>> import asyncio
        >>> c = [{"title": "gather", "text": "Run coroutines concurrently.", "score": 3.0}]
        >>> asyncio.run(Agents().score("run coroutines concurrently", [], c)).output.scores
        [0.9]
        """
        if not candidates:
            return AgentCall(RelevanceScores(scores=[]), 0, 0, 0.0)
        payload = relevance_payload(question, terms, candidates)
        return await self._call(
            self.relevance_agent, RELEVANCE_TASK, payload, len(candidates), latency, run, mode
        )

    async def summarize(
        self,
        question: str,
        findings: list[dict[str, Any]],
        *,
        latency: LatencyProfile | None = None,
        run: Run | None = None,
        mode: AgentsMode = "pydantic_ai",
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
        payload = summary_payload(question, findings)
        return await self._call(self.summary_agent, SUMMARY_TASK, payload, len(findings), latency, run, mode)

    async def _call(
        self,
        agent: Agent[Any, T],
        direct: DirectTask[T],
        payload: dict[str, Any],
        deps: Any,
        latency: LatencyProfile | None,
        ctx: Run | None,
        mode: AgentsMode,
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
            if mode == "direct" and self.direct_capable:
                output, input_tokens, output_tokens = direct.call(payload, deps)
            else:
                try:
                    result = await agent.run(render(payload), deps=deps, infer_name=False)
                except Exception as exc:  # any provider, validation or framework failure of this call
                    raise ModelError(
                        f"{agent.name} agent ({self.model_name}) failed: {_describe(exc)}"
                    ) from exc
                output, usage = result.output, result.usage
                input_tokens, output_tokens = usage.input_tokens, usage.output_tokens
        finally:
            end = time.perf_counter()
            if ctx is not None:
                ctx.add_span("llm", start, end)
        if ctx is not None:
            ctx.tokens["input"] += input_tokens
            ctx.tokens["output"] += output_tokens
        return AgentCall(output, input_tokens, output_tokens, end - start, emulated_s)
