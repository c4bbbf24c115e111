"""The embedded checkpoint saver: rows LangGraph's own savers read, batched writes, per-run codecs."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from langgraph.checkpoint.base import empty_checkpoint
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

from core.config import EngineSettings
from core.durable.checkpoint import RunCodecSerde, thread_ids
from core.durable.sqlite_saver import ThreadedSqliteSaver
from core.runctx import RunContext, current_run


def _config(thread: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread, "checkpoint_ns": ""}}


def _checkpoint(value: Any) -> Any:
    cp = empty_checkpoint()
    cp["channel_values"] = {"hits": value}
    cp["channel_versions"] = {"hits": 1}
    return cp


class CountingSaver(ThreadedSqliteSaver):
    batches: list[int]

    def _write_batch(self, batch: list[Any]) -> list[Any]:
        self.batches.append(len(batch))
        return super()._write_batch(batch)


async def test_concurrent_writes_land_in_batches_and_read_back_with_langgraphs_own_saver(
    tmp_path: Path,
) -> None:
    path = tmp_path / "cp.sqlite3"
    saver = await CountingSaver.open(path, serde=RunCodecSerde(allow_pickle=True))
    saver.batches = []
    n = 40
    configs = await asyncio.gather(
        *[saver.aput(_config(f"t{i}"), _checkpoint([{"i": i}]), {"step": 0}, {}) for i in range(n)]
    )
    await asyncio.gather(
        *[saver.aput_writes(c, [("hits", [{"w": i}])], task_id=f"task{i}") for i, c in enumerate(configs)]
    )
    assert sum(saver.batches) == 2 * n
    assert len(saver.batches) < 2 * n  # writes queued behind a batch went in the next one together
    assert await thread_ids(saver) == {f"t{i}" for i in range(n)}
    await saver.aclose()

    async with AsyncSqliteSaver.from_conn_string(str(path)) as stock:  # reads every row we wrote
        stock.serde = RunCodecSerde(allow_pickle=True)
        for i in (0, n - 1):
            tup = await stock.aget_tuple(_config(f"t{i}"))
            assert tup is not None
            assert tup.checkpoint["channel_values"]["hits"] == [{"i": i}]
            assert tup.pending_writes == [(f"task{i}", "hits", [{"w": i}])]


async def test_a_failing_write_fails_alone_and_the_others_of_its_batch_are_stored(tmp_path: Path) -> None:
    saver = await ThreadedSqliteSaver.open(tmp_path / "cp.sqlite3", serde=RunCodecSerde())
    good = [saver.aput(_config(f"ok{i}"), _checkpoint([i]), {}, {}) for i in range(5)]
    bad = saver.aput(_config("bad"), _checkpoint(object()), {}, {})  # no codec can encode it
    outcomes = await asyncio.gather(*good, bad, return_exceptions=True)
    assert all(isinstance(o, dict) for o in outcomes[:5])
    assert isinstance(outcomes[5], Exception)
    assert await thread_ids(saver) == {f"ok{i}" for i in range(5)}
    await saver.aclose()


async def test_each_write_is_encoded_with_the_codec_of_the_run_that_made_it(tmp_path: Path) -> None:
    saver = await ThreadedSqliteSaver.open(tmp_path / "cp.sqlite3", serde=RunCodecSerde())

    async def put_as(codec: str) -> None:
        current_run.set(RunContext(run_id=codec, settings=EngineSettings(codec=codec), query_tag="q"))
        await saver.aput(_config(codec), _checkpoint([codec]), {}, {})

    await asyncio.gather(put_as("json"), put_as("msgpack"), put_as("orjson"))
    with saver.cursor(transaction=False) as cur:
        cur.execute("SELECT thread_id, type FROM checkpoints")
        tags = dict(cur.fetchall())
    assert tags == {"json": "ro.json", "msgpack": "ro.msgpack", "orjson": "ro.orjson"}
    for codec in tags:
        tup = await saver.aget_tuple(_config(codec))
        assert tup is not None and tup.checkpoint["channel_values"]["hits"] == [codec]
    await saver.aclose()
