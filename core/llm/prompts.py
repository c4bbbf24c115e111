"""What each agent is told: fixed instructions plus one JSON user message carrying the data.

The same prompt goes to the offline model and to a real provider. The data travels as JSON (not
prose) so a real model sees exact, indexed candidates and findings, and the offline model can
parse exactly what a real model would read; ``task`` names which of the three jobs it is.
"""

from __future__ import annotations

from typing import Any

import orjson

KEY_TERMS = "key_terms"
RELEVANCE = "relevance"
SUMMARY = "summary"

# Long texts are cut before they reach a model: bounded prompts, bounded token cost.
MAX_TEXT_CHARS = 1200

INSTRUCTIONS = {
    KEY_TERMS: (
        "You extract search keywords. The user message is JSON with a `question`. Return the informative "
        "terms of the question (drop stopwords and filler, keep identifiers such as module, class and "
        "function names exactly as written), most informative first, and a short keyword search query."
    ),
    RELEVANCE: (
        "You rate retrieved passages. The user message is JSON with a `question`, its `key_terms` and "
        "`candidates` (title, text, retrieval score). Return one relevance score between 0 and 1 for each "
        "candidate, in the same order: 1 means the passage answers the question, 0 means unrelated."
    ),
    SUMMARY: (
        "You answer a research question from numbered findings only. The user message is JSON with a "
        "`question` and `findings` (n, title, location, snippet, relevance). Write 2-5 short sentences; end "
        "every sentence with the citation [n] of the finding it comes from. Use only the given n. Report "
        "`cited` (the n you used) and a confidence between 0 and 1."
    ),
}


def _clip(text: Any) -> str:
    text = str(text or "")
    return text if len(text) <= MAX_TEXT_CHARS else text[:MAX_TEXT_CHARS].rsplit(" ", 1)[0] + " ..."


def key_terms_payload(question: str) -> dict[str, Any]:
    """The data of the key-terms agent's user message (``key_terms_prompt`` is its JSON)."""
    return {"task": KEY_TERMS, "question": question}


def relevance_payload(question: str, terms: list[str], candidates: list[dict[str, Any]]) -> dict[str, Any]:
    """The data of the relevance agent's user message; ``candidates`` need title, text or snippet, score."""
    items = [
        {
            "n": i,
            "title": c.get("title", ""),
            "source": c.get("source", ""),
            "text": _clip(c.get("text") or c.get("snippet")),
            "score": float(c.get("score") or 0.0),
        }
        for i, c in enumerate(candidates, 1)
    ]
    return {"task": RELEVANCE, "question": question, "key_terms": terms, "candidates": items}


def summary_payload(question: str, findings: list[dict[str, Any]]) -> dict[str, Any]:
    """The data of the summary agent's user message; ``findings`` need title, location, snippet, relevance."""
    items = [
        {
            "n": i,
            "title": f.get("title", ""),
            "location": f.get("location", ""),
            "snippet": _clip(f.get("snippet") or f.get("text")),
            "relevance": float(f.get("relevance") or 0.0),
        }
        for i, f in enumerate(findings, 1)
    ]
    return {"task": SUMMARY, "question": question, "findings": items}


def render(payload: dict[str, Any]) -> str:
    """A payload as the JSON user message every model receives.

    >>> render(key_terms_payload("What is asyncio?"))
    '{"task":"key_terms","question":"What is asyncio?"}'
    """
    return orjson.dumps(payload).decode()


def key_terms_prompt(question: str) -> str:
    """The user message of the key-terms agent.

    >>> key_terms_prompt("What is asyncio?")
    '{"task":"key_terms","question":"What is asyncio?"}'
    """
    return render(key_terms_payload(question))


def relevance_prompt(question: str, terms: list[str], candidates: list[dict[str, Any]]) -> str:
    """The user message of the relevance agent; ``candidates`` need title, text or snippet, score."""
    return render(relevance_payload(question, terms, candidates))


def summary_prompt(question: str, findings: list[dict[str, Any]]) -> str:
    """The user message of the summary agent; ``findings`` need title, location, snippet, relevance."""
    return render(summary_payload(question, findings))


def parse_payload(prompt: str) -> dict[str, Any]:
    """Read the JSON user message back (what the offline model does with its input).

    >>> parse_payload(key_terms_prompt("What is asyncio?"))["task"]
    'key_terms'
    """
    data = orjson.loads(prompt)
    if not isinstance(data, dict) or data.get("task") not in INSTRUCTIONS:
        raise ValueError("prompt is not a ResearchOps task payload")
    return data
