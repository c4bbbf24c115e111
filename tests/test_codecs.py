"""Codecs: every codec round-trips the workflow state; failures name the type; the LangGraph serde."""

from __future__ import annotations

import datetime
import math
import threading
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from langgraph.checkpoint.serde.base import SerializerProtocol
from langgraph.types import Send

from core.codecs import CODEC_NAMES, Codec, LangGraphSerde, get_codec
from core.errors import CodecError

SAFE = [n for n in CODEC_NAMES if get_codec(n).safe]


def research_state() -> dict[str, Any]:
    """The shape the workflow really carries: a query, terms and 20 findings."""
    return {
        "query": {
            "question": "Wie funktioniert asyncio.gather? 非同期",
            "max_sources": 20,
            "sources": ["stdlib"],
        },
        "terms": ["asyncio", "gather", "await", "task"],
        "findings": [
            {
                "source": "stdlib",
                "doc_id": f"asyncio-task-{i}",
                "title": f"Coroutines and Tasks §{i} — «gather»",
                "url": f"https://docs.python.org/3/library/asyncio-task.html#{i}",
                "snippet": "Run awaitable objects in the aws sequence concurrently. ✓ " * 3,
                "score": 12.5 / (i + 1),
                "rank": i,
                "matched_terms": ["asyncio", "gather"][: 1 + i % 2],
                "spans": [[i, i + 10], [i + 20, i + 35]],
                "emulated": i % 3 == 0,
                "extra": None,
            }
            for i in range(20)
        ],
        "failed_sources": [],
        "summary": None,
    }


json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=30,
)


@pytest.mark.parametrize("name", CODEC_NAMES)
def test_get_codec_reuses_instances_and_marks_only_pickle_unsafe(name: str) -> None:
    codec = get_codec(name)
    assert codec is get_codec(name)
    assert isinstance(codec, Codec)
    assert codec.name == name
    assert codec.safe is (name != "pickle")


def test_unknown_codec_name_is_a_codec_error() -> None:
    with pytest.raises(CodecError, match="unknown codec 'yaml'"):
        get_codec("yaml")


@pytest.mark.parametrize("name", CODEC_NAMES)
def test_codec_round_trips_the_research_state(name: str) -> None:
    codec = get_codec(name)
    state = research_state()
    data = codec.encode(state)
    assert isinstance(data, bytes)
    assert codec.decode(data) == state


@pytest.mark.parametrize("name", CODEC_NAMES)
def test_tuples_come_back_as_sequences_with_the_same_items(name: str) -> None:
    codec = get_codec(name)
    out = codec.decode(codec.encode({"pair": ("a", 1)}))
    assert list(out["pair"]) == ["a", 1]


@pytest.mark.parametrize("name", CODEC_NAMES)
@settings(max_examples=60, deadline=None)
@given(value=json_values)
def test_codec_round_trips_any_json_like_value(name: str, value: Any) -> None:
    codec = get_codec(name)
    assert codec.decode(codec.encode(value)) == value


@pytest.mark.parametrize("name", SAFE)
@pytest.mark.parametrize(("bad", "type_name"), [({1, 2}, "set"), (object(), "object")])
def test_safe_codec_names_the_type_it_cannot_encode(name: str, bad: Any, type_name: str) -> None:
    with pytest.raises(CodecError, match=type_name) as info:
        get_codec(name).encode({"findings": [bad]})
    assert info.value.__cause__ is not None


@pytest.mark.parametrize("name", ["orjson", "ormsgpack"])
def test_fast_codecs_refuse_types_they_would_silently_flatten(name: str) -> None:
    with pytest.raises(CodecError, match="datetime"):
        get_codec(name).encode({"at": datetime.datetime(2024, 1, 1)})


def test_pickle_names_the_type_it_cannot_encode() -> None:
    with pytest.raises(CodecError, match="lock"):
        get_codec("pickle").encode({"lock": threading.Lock()})


@pytest.mark.parametrize("name", CODEC_NAMES)
def test_decoding_garbage_is_a_codec_error(name: str) -> None:
    with pytest.raises(CodecError) as info:
        get_codec(name).decode(b"\xc1\xff{not valid")
    assert info.value.__cause__ is not None


def test_special_floats_survive_the_binary_codecs() -> None:
    for name in ("msgpack", "ormsgpack", "pickle"):
        codec = get_codec(name)
        assert math.isinf(codec.decode(codec.encode([math.inf]))[0])


# --- LangGraphSerde ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", CODEC_NAMES)
def test_serde_uses_the_selected_codec_for_plain_state(name: str) -> None:
    serde = LangGraphSerde(get_codec(name))
    assert isinstance(serde, SerializerProtocol)
    type_, data = serde.dumps_typed(research_state())
    assert type_ == f"ro.{name}"
    assert serde.loads_typed((type_, data)) == research_state()


@pytest.mark.parametrize("name", SAFE)
def test_serde_falls_back_exactly_for_langgraph_objects(name: str) -> None:
    """A node's writes with a Send (conditional fan-out) survive through JsonPlus under its own tag."""
    serde = LangGraphSerde(get_codec(name))
    writes = [("terms", ["a"]), ("__pregel_tasks", Send("search_sources", {"source": "stdlib"}))]
    type_, data = serde.dumps_typed(writes)
    assert not type_.startswith("ro.")
    back = serde.loads_typed((type_, data))
    assert back[1][1] == Send("search_sources", {"source": "stdlib"})
    assert tuple(back[0]) == ("terms", ["a"])


@pytest.mark.parametrize("value", [None, b"raw", datetime.datetime(2024, 5, 1, 12, 0)])
def test_serde_round_trips_values_outside_plain_data(value: Any) -> None:
    serde = LangGraphSerde(get_codec("orjson"))
    assert serde.loads_typed(serde.dumps_typed(value)) == value


def test_serde_reads_data_written_under_another_codec() -> None:
    written = LangGraphSerde(get_codec("json")).dumps(research_state())
    assert LangGraphSerde(get_codec("ormsgpack")).loads(written) == research_state()


def test_serde_refuses_pickle_data_unless_allowed() -> None:
    blob = LangGraphSerde(get_codec("pickle")).dumps_typed({"a": 1})
    with pytest.raises(CodecError, match="not a safe codec"):
        LangGraphSerde(get_codec("orjson")).loads_typed(blob)
    assert LangGraphSerde(get_codec("pickle")).loads_typed(blob) == {"a": 1}


def test_serde_unknown_tag_is_a_codec_error() -> None:
    with pytest.raises(CodecError, match="unknown serialized type tag"):
        LangGraphSerde(get_codec("json")).loads_typed(("yaml", b"a: 1"))
