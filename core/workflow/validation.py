"""Validation modes: how much of the data flowing through a run is checked by Pydantic.

- ``strict``: every node's input and output state is validated against the domain models (what a
  prototype that passes Pydantic models everywhere effectively does).
- ``boundary``: only what enters from outside: the user's query, source documents, model outputs.
- ``trusted``: the user's query only; our own indexes and internal state are trusted.
  (Model outputs are always validated by Pydantic AI's typed outputs, in every mode.)

Lazy validation (``lazy=True``) checks a source document's small fields eagerly and its text only
when a node reads it, so documents that never make the shortlist never pay for it.

Invalid source documents are dropped and counted, never fatal; invalid internal state in strict
mode is a bug and raises.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from pydantic import Field, TypeAdapter, ValidationError
from typing_extensions import TypedDict

from core.config import ValidationMode
from core.models import Finding, ResearchQuery

MAX_DOCUMENT_CHARS = 200_000


class DocumentMeta(TypedDict):
    """A source document's small fields (validated eagerly, even in lazy mode)."""

    source: str
    doc_id: Annotated[str, Field(min_length=1)]
    title: str
    location: str
    score: Annotated[float, Field(ge=0, allow_inf_nan=False)]


class SourceDocument(DocumentMeta):
    """A document as a source returned it: metadata plus its text."""

    text: Annotated[str, Field(max_length=MAX_DOCUMENT_CHARS)]


_DOC = TypeAdapter(SourceDocument)
_META = TypeAdapter(DocumentMeta)
_TEXT = TypeAdapter(Annotated[str, Field(max_length=MAX_DOCUMENT_CHARS)])
# Strict mode: each state key and the model that types it.
_STATE_ADAPTERS: dict[str, tuple[str, TypeAdapter[Any]]] = {
    "query": ("ResearchQuery", TypeAdapter(ResearchQuery)),
    "terms": ("KeyTerms", TypeAdapter(list[str])),
    "search_query": ("KeyTerms", TypeAdapter(str)),
    "hits": ("SourceDocument", TypeAdapter(list[SourceDocument])),
    "findings": ("Finding", TypeAdapter(list[Finding])),
    "summary": ("Summary", TypeAdapter(str)),
    "confidence": ("Summary", TypeAdapter(Annotated[float, Field(ge=0, le=1)])),
}

ErrorHook = Callable[[str, str], None]


def _noop(model: str, field: str) -> None:
    return None


class Validator:
    """Applies one validation mode. ``on_error(model, field)`` is told of every failure."""

    def __init__(self, mode: ValidationMode, *, lazy: bool, on_error: ErrorHook = _noop) -> None:
        self.mode, self.lazy, self.on_error = mode, lazy, on_error

    @property
    def checks_documents(self) -> bool:
        return self.mode != "trusted"

    def documents(self, docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Validate source documents (boundary/strict); invalid ones are dropped and reported."""
        if not self.checks_documents:
            return docs
        adapter = _META if self.lazy else _DOC
        out = []
        for doc in docs:
            try:
                adapter.validate_python(doc)
            except ValidationError as exc:
                self._report("SourceDocument", exc)
                continue
            out.append(doc)
        return out

    def text(self, doc: dict[str, Any]) -> str | None:
        """A document's text, validated now if lazy validation deferred it; None if invalid."""
        if self.checks_documents and self.lazy:
            try:
                _TEXT.validate_python(doc.get("text"))
            except ValidationError as exc:
                self._report("SourceDocument", exc, prefix="text")
                return None
        return doc.get("text")

    def state(self, part: dict[str, Any]) -> None:
        """Strict mode: validate every known key of a node's input or output state."""
        if self.mode != "strict":
            return
        for key, value in part.items():
            entry = _STATE_ADAPTERS.get(key)
            if entry is None:
                continue
            model, adapter = entry
            try:
                adapter.validate_python(value)
            except ValidationError as exc:
                self._report(model, exc)
                raise

    def _report(self, model: str, exc: ValidationError, prefix: str = "") -> None:
        for err in exc.errors(include_url=False):
            loc = [str(p) for p in err.get("loc", ()) if not isinstance(p, int)]
            self.on_error(model, ".".join([prefix, *loc]).strip(".") or "value")
