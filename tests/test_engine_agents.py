"""The live ``agents`` mode: ``direct`` and ``pydantic_ai`` give the same answers on real questions;
``direct`` is refused, naming the field, for a model other than the offline one."""

from __future__ import annotations

from typing import Any

import pytest

from core.errors import InvalidInput
from core.llm import Agents

QUESTIONS = [
    "How do I run coroutines concurrently and wait for all of them?",
    "How can I serialize a dataclass to JSON?",
    "How do I parse command line arguments in a script?",
    "What does functools.lru_cache do?",
    "How do I read a CSV file row by row?",
    "How can I cancel a task group when one task fails?",
    "How do I validate data with a pydantic model?",
    "What is the difference between a thread pool and a process pool?",
    "How do I compare two files line by line?",
    "How do I format dates and times as strings?",
]


async def test_direct_and_pydantic_ai_give_identical_answers(engine: Any) -> None:
    answers: dict[str, list[Any]] = {}
    for mode in ("pydantic_ai", "direct"):
        engine.update_settings(cache="off", agents=mode)
        results = [await engine.run(q) for q in QUESTIONS]
        answers[mode] = [
            ([f.model_dump() for f in r.findings], r.summary, r.confidence, r.key_terms, r.status)
            for r in results
        ]
    assert answers["direct"] == answers["pydantic_ai"]
    assert all(findings for findings, *_ in answers["direct"])


def test_presets_choose_the_agents_mode() -> None:
    from core.config import EngineSettings, preset

    assert preset("naive").agents == "pydantic_ai"
    assert preset("optimized").agents == "direct" == EngineSettings().agents
    assert "agents" in EngineSettings().modes()


async def test_direct_is_refused_for_a_model_other_than_the_offline_one(engine: Any) -> None:
    engine.c.agents = Agents("test")
    before = engine.settings
    with pytest.raises(InvalidInput) as info:
        engine.update_settings(agents="direct")
    assert [e["field"] for e in info.value.errors] == ["agents"]
    assert "test" in str(info.value) and engine.settings == before
    assert engine.update_settings(agents="pydantic_ai").agents == "pydantic_ai"
