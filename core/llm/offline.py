"""The offline model: a Pydantic AI ``FunctionModel`` doing real extractive work, deterministically.

It reads the same JSON user message a real provider would get (``core.llm.prompts``), runs the
matching pure function of ``core.llm.extract``, and answers the way a tool-calling LLM does: one
call of the agent's output tool (its name taken from ``AgentInfo.output_tools``) with the result as
arguments, which Pydantic AI then validates into the typed output. Token usage is approximated
(1.3 tokens per word of the prompt, instructions included, and of the answer) and reported in the
``ModelResponse`` so runs account for tokens exactly as with a provider.

The function is ``async`` on purpose: a plain ``def`` would be run in a worker thread per call.
"""

from __future__ import annotations

import math
from typing import Any

import orjson
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    ModelResponsePart,
    RetryPromptPart,
    TextPart,
    ToolCallPart,
    UserPromptPart,
)
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.usage import RequestUsage

from core.llm import extract
from core.llm.prompts import KEY_TERMS, RELEVANCE, SUMMARY, parse_payload

MODEL_NAME = "offline"
OFFLINE_VERSION = 12
"""Bumped whenever the offline model's output for the same input changes (it is in cache keys)."""
CHARS_PER_TOKEN = 4


def approx_tokens(text: str) -> int:
    """Approximate token count: one per 4 characters (ceil), the usual rule of thumb for English
    text and code. Constant time: prompts run to ~36 KB, and counting their words with a regex
    cost a fifth of the offline model's CPU, for a figure that is an estimate either way.

    >>> approx_tokens("run coroutines concurrently")
    7
    """
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def answer(payload: dict[str, Any]) -> dict[str, Any]:
    """The output-tool arguments for one task payload (pure; the model function wraps it).

    >>> answer({"task": "key_terms", "question": "How does asyncio.TaskGroup cancel tasks?"})
    {'terms': ['asyncio.TaskGroup', 'cancel', 'tasks'], 'search_query': 'asyncio.TaskGroup cancel tasks'}
    """
    task, question = payload["task"], str(payload.get("question", ""))
    if task == KEY_TERMS:
        terms = extract.key_terms(question)
        return {"terms": terms, "search_query": extract.search_query(terms)}
    if task == RELEVANCE:
        return {"scores": extract.relevance(question, payload.get("key_terms") or [], payload["candidates"])}
    if task == SUMMARY:
        return extract.summarize(question, payload["findings"])
    raise ValueError(f"unknown task {task!r}")


def _prompt_and_text(messages: list[ModelMessage], info: AgentInfo) -> tuple[str, str]:
    """The task's JSON user message, and all request text (for the input token count)."""
    prompt: str | None = None
    texts = [info.instructions or ""]
    for message in messages:
        if not isinstance(message, ModelRequest):
            continue
        for part in message.parts:
            if isinstance(part, UserPromptPart) and isinstance(part.content, str):
                # Pydantic AI may add its own user part before ours (e.g. a notice when retrieved
                # text looks like a <system> frame); the task is the part that is a JSON object.
                if prompt is None and part.content.lstrip().startswith("{"):
                    prompt = part.content
                texts.append(part.content)
            elif isinstance(part, RetryPromptPart):
                texts.append(part.model_response())
    if prompt is None:
        raise ValueError("the offline model needs a JSON user prompt")
    return prompt, " ".join(texts)


async def offline_function(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    """``FunctionModel`` callback: parse the prompt, do the work, call the output tool."""
    prompt, request_text = _prompt_and_text(messages, info)
    args = orjson.dumps(answer(parse_payload(prompt))).decode()
    part: ModelResponsePart
    if info.output_tools:
        part = ToolCallPart(tool_name=info.output_tools[0].name, args=args)
    else:  # an agent with text (JSON) output
        part = TextPart(content=args)
    usage = RequestUsage(input_tokens=approx_tokens(request_text), output_tokens=approx_tokens(args))
    return ModelResponse(parts=[part], usage=usage, model_name=MODEL_NAME)


def offline_model() -> FunctionModel:
    """A new offline model (stateless; share one per ``Agents``).

    >>> offline_model().model_name
    'offline'
    """
    return FunctionModel(offline_function, model_name=MODEL_NAME)
