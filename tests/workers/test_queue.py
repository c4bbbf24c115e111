"""The queue's wire format: what a task returns, and the typed error the client raises from it."""

from __future__ import annotations

import orjson
import pytest

from core.errors import InvalidInput, ModelError, Overloaded, ResearchOpsError, StoreError
from core.models import ResearchResult
from core.queue import failure_reply, ok_reply, raise_failure


def test_ok_reply_is_plain_json_that_rebuilds_the_result() -> None:
    result = ResearchResult(
        query_id="q", question="q?", findings=[], summary="s", confidence=0.5, sources_used=[]
    )
    reply = orjson.loads(orjson.dumps(ok_reply("r1", "w1", result)))
    assert (reply["ok"], reply["run_id"], reply["worker_id"]) == (True, "r1", "w1")
    assert ResearchResult.model_validate(reply["result"]) == result


@pytest.mark.parametrize(
    "exc",
    [
        InvalidInput([{"field": "question", "message": "too long"}]),
        Overloaded(3, 7, 2.5),
        ModelError("the model refused"),
    ],
)
def test_failure_reply_raises_the_same_typed_error_on_the_client(exc: ResearchOpsError) -> None:
    reply = orjson.loads(orjson.dumps(failure_reply("r1", "w1", exc)))
    assert reply["ok"] is False and reply["worker_id"] == "w1"
    with pytest.raises(type(exc)) as raised:
        raise_failure(reply["error"])
    assert str(raised.value) == str(exc)
    if isinstance(exc, Overloaded):
        assert isinstance(raised.value, Overloaded)
        assert (raised.value.active, raised.value.queued, raised.value.retry_after) == (3, 7, 2.5)
    if isinstance(exc, InvalidInput):
        assert isinstance(raised.value, InvalidInput) and raised.value.errors == exc.errors


def test_other_errors_come_back_as_the_base_error_with_their_message() -> None:
    reply = failure_reply("r1", "w1", StoreError("index missing"))
    with pytest.raises(ResearchOpsError, match="index missing") as raised:
        raise_failure(reply["error"])
    assert type(raised.value) is ResearchOpsError
