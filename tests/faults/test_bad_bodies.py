"""Every bad body is a 422 naming the field (413 when too large to read), short, never a 500.

The issue's list: a lone surrogate in the question (its 422 failed to render: 500), ``1e400`` and
``NaN`` for ``max_sources`` (500), a 10 MB question echoed back whole in its 422, ``true`` and NUL
bytes accepted, the question stripped before its length check, ``["stdlib"] * 10000`` domains
freezing the API. Bodies are sent as raw bytes, exactly as a client would.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from core.api.schema import MAX_BODY_BYTES
from core.cli.main import main as cli
from core.config import EngineSettings, Settings

Q = "How do I run coroutines concurrently and wait for all of them?"
SHORT_BODY = 1_000
"""No error body is longer: none echoes the input."""

BAD_RESEARCH: list[tuple[str, bytes, str]] = [
    ("lone surrogate", b'{"question": "What is \\ud800 asyncio for?"}', "question"),
    ("lone low surrogate", b'{"question": "What is \\udfff asyncio for?"}', "question"),
    ("NUL", b'{"question": "What is \\u0000 asyncio for?"}', "question"),
    ("bell", b'{"question": "What is \\u0007 asyncio for?"}', "question"),
    ("C1 control", b'{"question": "What is \\u0085 asyncio for?"}', "question"),
    ("too long", b'{"question": "' + b"x" * 501 + b'"}', "question"),
    ("long run of spaces", b'{"question": "' + b" " * 600 + b'"}', "question"),
    ("short once trimmed", b'{"question": "          ab          "}', "question"),
    ("not a string", b'{"question": 12345678901}', "question"),
    ("1e400", b'{"question": "%s", "max_sources": 1e400}' % Q.encode(), "max_sources"),
    ("-1e400", b'{"question": "%s", "max_sources": -1e400}' % Q.encode(), "max_sources"),
    ("NaN", b'{"question": "%s", "max_sources": NaN}' % Q.encode(), "max_sources"),
    ("Infinity", b'{"question": "%s", "max_sources": Infinity}' % Q.encode(), "max_sources"),
    ("true", b'{"question": "%s", "max_sources": true}' % Q.encode(), "max_sources"),
    ("string number", b'{"question": "%s", "max_sources": "5"}' % Q.encode(), "max_sources"),
    ("fraction", b'{"question": "%s", "max_sources": 5.5}' % Q.encode(), "max_sources"),
    ("out of range", b'{"question": "%s", "max_sources": 51}' % Q.encode(), "max_sources"),
    (
        "5k domains",
        b'{"question": "%s", "domains": [%s]}' % (Q.encode(), b",".join([b'"stdlib"'] * 5_000)),
        "domains",
    ),
    ("unknown domain", b'{"question": "%s", "domains": ["nope"]}' % Q.encode(), "domains"),
    ("domain NUL", b'{"question": "%s", "domains": ["do\\u0000cs"]}' % Q.encode(), "domains"),
    ("bad id", b'{"question": "%s", "id": "a b/../\\u0000"}' % Q.encode(), "id"),
    ("extra field", b'{"question": "%s", "colour": "red"}' % Q.encode(), "colour"),
    ("not JSON", b'{"question": ', "body"),
    ("not an object", b"[1, 2, 3]", "body"),
]

BAD_SETTINGS: list[tuple[str, bytes, str]] = [
    ("bool concurrency", b'{"max_concurrent": true}', "max_concurrent"),
    ("1e400 concurrency", b'{"max_concurrent": 1e400}', "max_concurrent"),
    ("NaN deadline", b'{"queue_deadline_s": NaN}', "queue_deadline_s"),
    ("bool latency", b'{"model_latency": {"median_ms": true}}', "model_latency"),
    ("inf latency", b'{"model_latency": {"median_ms": 1e400}}', "model_latency"),
]


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, index_dir: Any) -> Any:
    from tests.faults.conftest import TOKEN, serving

    settings = Settings(
        data_dir=tmp_path_factory.mktemp("bad-bodies") / "data",
        index_dir=index_dir,
        sources=("docs",),
        operator_token=TOKEN,
        redis_url=None,
        database_url=None,
        metrics_port=None,
    )
    with serving(settings, EngineSettings(cache="l1")) as (url, _app):
        with httpx.Client(base_url=url, timeout=60, headers={"content-type": "application/json"}) as client:
            yield client


def _names_field(r: httpx.Response, field: str) -> None:
    assert r.status_code == 422, (r.status_code, r.text[:300])
    assert len(r.content) < SHORT_BODY, f"error body of {len(r.content)} bytes"
    locs = [[str(p) for p in d["loc"]] for d in r.json()["detail"]]
    assert any(field in loc for loc in locs), locs


@pytest.mark.parametrize(("name", "body", "field"), BAD_RESEARCH, ids=[c[0] for c in BAD_RESEARCH])
def test_bad_research_body_is_422_naming_the_field(
    api: httpx.Client, name: str, body: bytes, field: str
) -> None:
    r = api.post("/research", content=body)
    _names_field(r, field)
    assert api.get("/healthz").status_code == 200  # and the server is fine afterwards


@pytest.mark.parametrize(("name", "body", "field"), BAD_SETTINGS, ids=[c[0] for c in BAD_SETTINGS])
def test_bad_settings_body_is_422_naming_the_field(
    api: httpx.Client, name: str, body: bytes, field: str
) -> None:
    from tests.faults.conftest import TOKEN

    r = api.put("/settings", content=body, headers={"authorization": f"Bearer {TOKEN}"})
    _names_field(r, field)


def test_an_over_long_body_is_refused_before_it_is_read(api: httpx.Client) -> None:
    huge = b'{"question": "' + b"x" * (10 * 1024 * 1024) + b'"}'
    r = api.post("/research", content=huge)
    assert r.status_code == 413 and len(r.content) < SHORT_BODY
    # without a Content-Length (chunked) it is cut off at the limit too
    chunks = (b"x" * 8192 for _ in range(MAX_BODY_BYTES // 8192 + 2))
    r = api.post("/research", content=chunks)
    assert r.status_code == 413 and len(r.content) < SHORT_BODY
    many = {"question": Q, "domains": ["stdlib"] * 10_000}  # the body: 90 KB
    r = api.post("/research", json=many)
    assert r.status_code == 413 and len(r.content) < SHORT_BODY
    assert api.get("/healthz").status_code == 200


def test_duplicate_domains_are_searched_once_and_the_question_is_kept_trimmed(api: httpx.Client) -> None:
    r = api.post("/research", json={"question": f"  {Q}  ", "domains": ["docs", "docs", "docs"]})
    assert r.status_code == 200, r.text
    assert r.json()["sources_used"] == ["docs"] and r.json()["question"] == Q


@pytest.mark.parametrize(
    ("argv", "field"),
    [
        (["query", "short"], "question"),
        (["query", "x" * 501], "question"),
        (["query", "What is \x00 asyncio for?"], "question"),
        (["query", Q, "--max-sources", "0"], "max_sources"),
        (["query", Q, "--source", "nope"], "domains"),
    ],
    ids=["short", "long", "nul", "max-sources", "domains"],
)
def test_the_cli_gives_the_same_field_errors(
    argv: list[str], field: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RESEARCHOPS_SOURCES", '["docs"]')
    assert cli(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {field}") and len(err) < SHORT_BODY
