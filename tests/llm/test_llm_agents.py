"""The agents: typed outputs through Pydantic AI, emulated latency, errors, run-context accounting."""

from __future__ import annotations

import importlib.util
import random
import re
from typing import Any

import pydantic_ai
import pytest

from core.config import LatencyProfile
from core.errors import ConfigError, ModelError
from core.llm import Agents, KeyTerms, RelevanceScores, Summary
from core.runctx import RunContext

GATHER_Q = "How does asyncio.gather run coroutines concurrently?"
CANDIDATES = [
    {
        "title": "json.dumps",
        "source": "stdlib",
        "text": "Serialize obj to a JSON formatted str using this conversion table.",
        "score": 4.0,
    },
    {
        "title": "asyncio.gather",
        "source": "stdlib",
        "text": "Run awaitable objects in the aws sequence concurrently. If any awaitable in aws is a "
        "coroutine, it is automatically scheduled as a Task.",
        "score": 6.5,
    },
    {
        "title": "Coroutines and Tasks",
        "source": "docs",
        "snippet": "Coroutines declared with async/await are the preferred way to write asyncio code. "
        "Use asyncio.gather to run several coroutines concurrently and collect their results.",
        "score": 1.2,
    },
]
TINY = LatencyProfile(median_ms=1, sigma=0.3)


@pytest.fixture(scope="module")
def agents() -> Agents:
    return Agents(rng=random.Random(7))


@pytest.fixture
def run_ctx() -> RunContext:
    """The run a node passes to its agent calls (``run=``): agents read no context variable."""
    return RunContext(run_id="llm-test", settings=None)


def _findings(scores: list[float]) -> list[dict]:
    return [
        {
            "title": c["title"],
            "location": c["title"],
            "snippet": c.get("text") or c["snippet"],
            "relevance": s,
        }
        for c, s in zip(CANDIDATES, scores, strict=True)
    ]


async def test_key_terms_are_typed_and_informative(agents: Agents) -> None:
    call = await agents.key_terms(GATHER_Q)
    assert isinstance(call.output, KeyTerms)
    assert {"coroutines", "concurrently"} <= set(call.output.terms)
    assert "coroutines" in call.output.search_query
    assert call.input_tokens > 0 and call.output_tokens > 0 and call.emulated_s == 0.0


async def test_scores_follow_the_candidates_and_the_topic(agents: Agents) -> None:
    terms = (await agents.key_terms(GATHER_Q)).output.terms
    call = await agents.score(GATHER_Q, terms, CANDIDATES)
    assert isinstance(call.output, RelevanceScores)
    json_s, gather_s, guide_s = call.output.scores
    assert all(0.0 <= s <= 1.0 for s in call.output.scores)
    assert gather_s > json_s and guide_s > json_s
    assert call.input_tokens > 0


async def test_summary_cites_existing_findings_in_every_sentence(agents: Agents) -> None:
    findings = _findings([0.05, 0.92, 0.8])
    call = await agents.summarize(GATHER_Q, findings)
    assert isinstance(call.output, Summary)
    sentences = re.findall(r"[^\[\]]+ \[(\d+)\]\.", call.output.text)
    assert 2 <= len(sentences) <= 5
    assert re.fullmatch(r"(?:[^\[\]]+ \[\d+\]\.\s*)+", call.output.text)
    assert set(call.output.cited) == {int(n) for n in sentences} <= {2, 3}
    assert 0.5 < call.output.confidence <= 1.0
    assert call.output_tokens > 0


async def test_empty_inputs_need_no_model_call(agents: Agents) -> None:
    assert (await agents.score(GATHER_Q, [], [])).output.scores == []
    summary = (await agents.summarize(GATHER_Q, [])).output
    assert summary.cited == [] and summary.confidence == 0.0


async def test_run_context_gets_an_llm_span_and_tokens(agents: Agents, run_ctx: RunContext) -> None:
    call = await agents.key_terms(GATHER_Q, run=run_ctx)
    ((phase, start, end),) = run_ctx.spans
    assert phase == "llm" and end - start == pytest.approx(call.seconds)
    assert run_ctx.tokens == {"input": call.input_tokens, "output": call.output_tokens}
    assert run_ctx.emulated is False


async def test_emulated_latency_is_applied_and_reported(agents: Agents, run_ctx: RunContext) -> None:
    call = await agents.key_terms(GATHER_Q, latency=TINY, run=run_ctx)
    assert call.emulated_s > 0
    assert call.seconds >= call.emulated_s
    assert run_ctx.emulated is True
    assert [s[0] for s in run_ctx.spans] == ["llm"]


async def test_seeded_rng_makes_emulated_latency_reproducible() -> None:
    a, b = Agents(rng=random.Random(3)), Agents(rng=random.Random(3))
    wide = LatencyProfile(median_ms=1, sigma=1.0)
    draws_a = [(await a.key_terms(GATHER_Q, latency=wide)).emulated_s for _ in range(3)]
    draws_b = [(await b.key_terms(GATHER_Q, latency=wide)).emulated_s for _ in range(3)]
    assert draws_a == draws_b and len(set(draws_a)) == 3


async def test_failure_rate_one_raises_model_error(agents: Agents, run_ctx: RunContext) -> None:
    with pytest.raises(ModelError, match="emulated provider failure"):
        await agents.summarize(
            GATHER_Q,
            _findings([0.1, 0.9, 0.8]),
            latency=TINY.model_copy(update={"failure_rate": 1.0}),
            run=run_ctx,
        )
    assert [s[0] for s in run_ctx.spans] == ["llm"]  # the failed call's time is still accounted
    assert run_ctx.emulated is True and run_ctx.tokens == {"input": 0, "output": 0}


async def test_invalid_model_output_becomes_model_error() -> None:
    """Pydantic AI's schema-driven test model returns one score for three candidates: rejected, wrapped."""
    agents = Agents("test")
    with pytest.raises(ModelError, match=r"relevance agent \(test\) failed: .*exactly 3 scores"):
        await agents.score(GATHER_Q, [], CANDIDATES)
    with pytest.raises(ModelError, match=r"summary agent \(test\) failed"):
        await agents.summarize(GATHER_Q, _findings([0.1, 0.9, 0.8]))


def test_openai_without_the_package_is_a_config_error_with_a_hint() -> None:
    if importlib.util.find_spec("openai") is not None:
        pytest.skip("the openai package is installed; the missing-package path cannot happen")
    with pytest.raises(ConfigError, match=r"pip install 'researchops\[openai\]'"):
        Agents("openai:gpt-4o-mini", base_url="http://127.0.0.1:11434/v1")


@pytest.mark.parametrize(
    ("model", "base_url", "message"),
    [
        ("offline", "http://127.0.0.1:11434/v1", "openai:' models only"),
        ("test", "http://127.0.0.1:11434/v1", "openai:' models only"),
        ("no-such-provider:model", None, "cannot be used"),
        ("openai:", None, "needs a model name"),
    ],
)
def test_unusable_model_settings_are_config_errors(model: str, base_url: str | None, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Agents(model, base_url=base_url)


async def test_agents_are_built_once_and_reused(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[object] = []
    original = pydantic_ai.Agent.__init__

    def counting_init(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        built.append(self)
        original(self, *args, **kwargs)

    monkeypatch.setattr(pydantic_ai.Agent, "__init__", counting_init)
    agents = Agents()
    assert len(built) == 3
    for _ in range(2):
        terms = (await agents.key_terms(GATHER_Q)).output.terms
        scores = (await agents.score(GATHER_Q, terms, CANDIDATES)).output.scores
        await agents.summarize(GATHER_Q, _findings(scores))
    assert len(built) == 3
    assert {id(a) for a in built} == {
        id(agents.key_terms_agent),
        id(agents.relevance_agent),
        id(agents.summary_agent),
    }


async def test_retrieved_text_that_looks_like_a_system_frame_does_not_break_the_offline_model() -> None:
    """Pydantic AI prepends a notice part when user content contains ``<system>``-like tags."""
    from core.llm import Agents

    agents = Agents()
    candidates = [
        {"title": "frames", "text": "Messages may contain <system>do this</system> tags.", "score": 1.0},
        {"title": "other", "text": "Unrelated text about sockets.", "score": 0.5},
    ]
    call = await agents.score("How are system tags in messages handled?", ["system", "tags"], candidates)
    assert len(call.output.scores) == 2 and call.output.scores[0] > call.output.scores[1]


# ---- agents: direct (the offline model's functions, without the framework) ------------------------


async def test_direct_calls_give_the_agents_outputs_and_token_counts(agents: Agents) -> None:
    via_agent = (await agents.key_terms(GATHER_Q)).output.terms
    calls: dict[str, list[tuple[Any, int, int]]] = {}
    for mode in ("pydantic_ai", "direct"):
        terms = await agents.key_terms(GATHER_Q, mode=mode)
        scores = await agents.score(GATHER_Q, terms.output.terms, CANDIDATES, mode=mode)
        summary = await agents.summarize(GATHER_Q, _findings(scores.output.scores), mode=mode)
        calls[mode] = [(c.output, c.input_tokens, c.output_tokens) for c in (terms, scores, summary)]
    assert calls["direct"] == calls["pydantic_ai"]
    assert calls["direct"][0][0].terms == via_agent


async def test_a_direct_call_records_its_span_tokens_and_emulation(
    agents: Agents, run_ctx: RunContext
) -> None:
    call = await agents.key_terms(GATHER_Q, run=run_ctx, latency=TINY, mode="direct")
    ((phase, _, _),) = run_ctx.spans
    assert phase == "llm" and run_ctx.emulated and call.emulated_s > 0
    assert run_ctx.tokens == {"input": call.input_tokens, "output": call.output_tokens}


async def test_a_direct_call_that_fails_its_check_is_a_model_error(agents: Agents) -> None:
    from core.llm.direct import RELEVANCE_TASK
    from core.llm.prompts import relevance_payload

    payload = relevance_payload(GATHER_Q, [], CANDIDATES)
    with pytest.raises(ModelError, match="return exactly 2 scores"):
        RELEVANCE_TASK.call(payload, 2)  # told there were 2 candidates; the model scored 3


async def test_other_models_run_through_pydantic_ai_even_when_direct_is_asked() -> None:
    test_model = Agents("test")
    assert not test_model.direct_capable
    direct = await test_model.key_terms(GATHER_Q, mode="direct")
    framework = await test_model.key_terms(GATHER_Q, mode="pydantic_ai")
    assert direct.output == framework.output
    offline = await Agents().key_terms(GATHER_Q, mode="direct")
    assert direct.output != offline.output  # the test model answered, not the offline functions
