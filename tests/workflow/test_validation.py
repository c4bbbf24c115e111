"""Validation modes on real source documents: strict, boundary and trusted, eager and lazy."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from core.config import ValidationMode
from core.models import ResearchQuery
from core.workflow.validation import MAX_DOCUMENT_CHARS, Validator
from tests.workflow.conftest import QUESTION

Errors = list[tuple[str, str]]


def _validator(mode: ValidationMode, *, lazy: bool) -> tuple[Validator, Errors]:
    errors: Errors = []
    return Validator(mode, lazy=lazy, on_error=lambda model, field: errors.append((model, field))), errors


def _broken(doc: dict[str, Any]) -> list[dict[str, Any]]:
    nan, negative = {**doc, "score": float("nan")}, {**doc, "score": -1.0}
    return [{**doc, "doc_id": ""}, nan, negative, {**doc, "title": None}]


def _oversized(doc: dict[str, Any]) -> dict[str, Any]:
    return {**doc, "text": "x" * (MAX_DOCUMENT_CHARS + 1)}


@pytest.mark.parametrize("lazy", [False, True])
@pytest.mark.parametrize("mode", ["strict", "boundary", "trusted"])
def test_valid_real_documents_pass_every_mode_unchanged(
    real_docs: list[dict[str, Any]], mode: ValidationMode, lazy: bool
) -> None:
    v, errors = _validator(mode, lazy=lazy)
    assert v.documents(real_docs) == real_docs
    assert [v.text(d) for d in real_docs] == [d["text"] for d in real_docs]
    assert errors == []


@pytest.mark.parametrize("mode", ["strict", "boundary"])
def test_checked_modes_drop_invalid_documents_and_name_the_field(
    real_docs: list[dict[str, Any]], mode: ValidationMode
) -> None:
    v, errors = _validator(mode, lazy=False)
    good_a, good_b = real_docs[0], real_docs[1]
    assert v.documents([good_a, *_broken(good_a), good_b]) == [good_a, good_b]
    assert errors == [
        ("SourceDocument", "doc_id"),
        ("SourceDocument", "score"),
        ("SourceDocument", "score"),
        ("SourceDocument", "title"),
    ]


def test_trusted_mode_checks_no_document(real_docs: list[dict[str, Any]]) -> None:
    v, errors = _validator("trusted", lazy=False)
    docs = [*_broken(real_docs[0]), _oversized(real_docs[0])]
    assert v.documents(docs) == docs
    assert v.text(docs[-1]) == docs[-1]["text"]
    assert errors == []


def test_lazy_validation_defers_the_text_until_a_node_reads_it(real_docs: list[dict[str, Any]]) -> None:
    huge = _oversized(real_docs[0])
    eager, eager_errors = _validator("boundary", lazy=False)
    assert eager.documents([huge, real_docs[1]]) == [real_docs[1]]
    assert eager_errors == [("SourceDocument", "text")]

    lazy, lazy_errors = _validator("boundary", lazy=True)
    assert lazy.documents([huge, real_docs[1]]) == [huge, real_docs[1]]  # small fields only, so far
    assert lazy_errors == []
    assert lazy.text(real_docs[1]) == real_docs[1]["text"]
    assert lazy.text(huge) is None  # read now: invalid, dropped by the node that asked
    assert lazy_errors == [("SourceDocument", "text")]
    # the small fields are still checked eagerly in lazy mode
    assert lazy.documents(_broken(real_docs[0])) == []


def test_strict_mode_validates_node_state_and_raises_on_bad_internal_state(
    real_docs: list[dict[str, Any]],
) -> None:
    v, errors = _validator("strict", lazy=False)
    query = ResearchQuery(question=QUESTION).model_dump(mode="json")
    v.state({"query": query, "hits": real_docs, "confidence": 0.5, "not_typed": object()})
    assert errors == []
    with pytest.raises(ValidationError):
        v.state({"confidence": 1.5})
    with pytest.raises(ValidationError):
        v.state({"hits": [{**real_docs[0], "doc_id": ""}]})
    assert errors == [("Summary", "value"), ("SourceDocument", "doc_id")]


@pytest.mark.parametrize("mode", ["boundary", "trusted"])
def test_only_strict_mode_checks_internal_state(mode: ValidationMode) -> None:
    v, errors = _validator(mode, lazy=False)
    v.state({"confidence": 1.5, "findings": [{"nonsense": True}]})
    assert errors == []
