"""Cache keys are canonical and identical across processes and hash seeds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.cache.keys import normalize_question, query_tag, result_key, stable_key
from core.errors import CodecError

REPO = Path(__file__).resolve().parents[2]
_SCRIPT = """
import json
from core.cache.keys import query_tag, result_key, stable_key
print(json.dumps([
    result_key("What is asyncio.gather?", 5, [("stdlib", "3.11"), ("docs", "7")], "offline"),
    query_tag("What is asyncio.gather?"),
    stable_key("n", {"b": [1, 2.5], "a": {"z", "y", "x"}}, ("t", None, True)),
    str(hash("asyncio")),
]))
"""


def _run(seed: str) -> list[str]:
    env = {**os.environ, "PYTHONHASHSEED": seed}
    out = subprocess.run(
        [sys.executable, "-c", _SCRIPT],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return json.loads(out.stdout)


def test_keys_are_identical_across_processes_with_different_hash_seeds() -> None:
    a, b = _run("1"), _run("4242")
    assert a[3] != b[3], "the seeds should change hash(); otherwise this test proves nothing"
    assert a[:3] == b[:3]


def test_stable_key_ignores_dict_order_set_order_and_tuple_vs_list() -> None:
    assert stable_key({"a": 1, "b": (1, 2)}) == stable_key({"b": [1, 2], "a": 1})
    assert stable_key({3, 1, 2}) == stable_key(frozenset({2, 3, 1}))
    assert stable_key("a", 1) != stable_key("a", "1")
    assert stable_key(True) != stable_key(1)


def test_stable_key_refuses_values_without_a_canonical_form() -> None:
    with pytest.raises(CodecError, match="object"):
        stable_key(object())


@pytest.mark.parametrize(
    ("raw", "norm"),
    [("  What  is\tasyncio? ", "what is asyncio"), ("C++?!", "c++"), ("STRASSE.", "strasse"), ("ß", "ss")],
)
def test_normalize_question(raw: str, norm: str) -> None:
    assert normalize_question(raw) == norm


def test_result_key_depends_on_every_input_but_not_on_trivial_variants() -> None:
    src = [("stdlib", "3.11"), ("docs", "1")]
    base = result_key("What is asyncio?", 5, src, "offline")
    assert base == result_key("  what IS asyncio ", 5, list(reversed(src)), "offline")
    assert base != result_key("What is asyncio?", 6, src, "offline")
    assert base != result_key("What is asyncio?", 5, [("stdlib", "3.12"), ("docs", "1")], "offline")
    assert base != result_key("What is asyncio?", 5, src, "openai:gpt-4o-mini")


def test_query_tag_is_the_normalized_question_only() -> None:
    assert query_tag("Why?") == query_tag("  WHY ") != query_tag("Why not?")
    assert len(query_tag("Why?")) == 32
