"""Turn a model string into a Pydantic AI ``Model``, with clear ``ConfigError``s.

- ``offline`` (default): the offline ``FunctionModel`` (``core.llm.offline``), nothing to install.
- ``openai:<name>``: ``OpenAIChatModel`` through ``OpenAIProvider``; ``base_url`` points it at any
  OpenAI-compatible server (Ollama ``http://localhost:11434/v1``, vLLM). Needs the ``openai`` extra
  (``pip install 'researchops[openai]'``), imported only when asked for. The API key is read by
  the OpenAI provider itself from ``OPENAI_API_KEY``; with a ``base_url`` and no key a placeholder is
  sent, which local servers accept.
- anything else (``anthropic:...``, ``google-gla:...``, ``test``): handed to Pydantic AI's
  ``infer_model`` as is; a missing provider package or unknown name becomes a ``ConfigError``.
"""

from __future__ import annotations

from pydantic_ai.exceptions import UserError
from pydantic_ai.models import Model, infer_model

from core.errors import ConfigError
from core.llm.offline import MODEL_NAME, offline_model

OPENAI_PREFIX = "openai:"
OPENAI_HINT = "install the extra: pip install 'researchops[openai]' (or 'pydantic-ai-slim[openai]')"


def resolve_model(model: str, *, base_url: str | None = None) -> Model:
    """The Pydantic AI model for ``model``; raises ConfigError when it cannot be used.

    >>> resolve_model("offline").model_name
    'offline'
    """
    if model == MODEL_NAME:
        if base_url:
            raise ConfigError("model_base_url applies to 'openai:' models only, not to the offline model")
        return offline_model()
    if model.startswith(OPENAI_PREFIX):
        return _openai(model.removeprefix(OPENAI_PREFIX), base_url)
    if base_url:
        raise ConfigError(f"model_base_url applies to 'openai:' models only, not to {model!r}")
    try:
        return infer_model(model)
    except ImportError as exc:
        raise ConfigError(f"model {model!r} needs a provider package that is not installed: {exc}") from exc
    except (UserError, ValueError) as exc:
        raise ConfigError(f"model {model!r} cannot be used: {exc}") from exc


def _openai(name: str, base_url: str | None) -> Model:
    if not name:
        raise ConfigError("model 'openai:' needs a model name, e.g. 'openai:gpt-4o-mini'")
    try:
        from pydantic_ai.models.openai import OpenAIChatModel
        from pydantic_ai.providers.openai import OpenAIProvider
    except ImportError as exc:
        raise ConfigError(f"model 'openai:{name}' needs the openai package; {OPENAI_HINT}") from exc
    try:
        return OpenAIChatModel(name, provider=OpenAIProvider(base_url=base_url))
    except UserError as exc:  # e.g. no OPENAI_API_KEY and no base_url
        raise ConfigError(f"model 'openai:{name}' cannot be used: {exc}") from exc
