"""Time travel: a run's checkpoints (``history``) and new runs seeded from one (``replay``, ``fork``)."""

from __future__ import annotations

import functools
import typing
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError, create_model

from core.components import Continuation, Seed
from core.durable.source import RunSource, load_source
from core.engine import Engine
from core.errors import InvalidInput
from core.models import ResearchQuery, RunRecord, new_id
from core.workflow.graph import NODES
from core.workflow.state import ResearchState

PREDECESSOR = {
    "search_sources": "parse_query",
    "analyze_findings": "search_sources",
    "generate_summary": "analyze_findings",
}
"""The node whose writes lead to each node: a fork seeds its thread ``as_node`` the predecessor."""


@functools.cache
def _state_model() -> type[BaseModel]:
    # pydantic refuses typing.TypedDict on 3.11; a model over the same hints checks edits instead
    hints = typing.get_type_hints(ResearchState)
    return create_model("StateEdits", **{k: (v | None, None) for k, v in hints.items()})  # type: ignore[call-overload]


@dataclass(frozen=True)
class CheckpointInfo:
    """One checkpoint of a run: after ``wrote`` ran, before ``next`` runs."""

    checkpoint_id: str
    step: int
    source: str
    wrote: list[str]
    next: list[str]
    created_at: str | None

    def row(self) -> dict[str, Any]:
        return {**self.__dict__, "wrote": ",".join(self.wrote), "next": ",".join(self.next)}


async def history(engine: Engine, run_id: str) -> list[CheckpointInfo]:
    """The checkpoints of a run, oldest first, with the nodes that produced each.

    >>> # [c.wrote for c in await history(engine, run_id)] -> [[], ['__start__'], ['parse_query'], ...]
    """
    src = await load_source(engine, run_id)
    graph = engine.graph(src.settings)
    snaps = [s async for s in graph.aget_state_history(src.config)]
    snaps.reverse()
    out: list[CheckpointInfo] = []
    for i, snap in enumerate(snaps):
        wrote = [t.name for t in snaps[i - 1].tasks] if i else []
        out.append(
            CheckpointInfo(
                checkpoint_id=str(snap.config["configurable"]["checkpoint_id"]),
                step=int((snap.metadata or {}).get("step", -1)),
                source=str((snap.metadata or {}).get("source", "")),
                wrote=wrote,
                next=list(snap.next),
                created_at=snap.created_at,
            )
        )
    return out


def _seed(values: dict[str, Any], as_node: str) -> Seed:
    async def seed(graph: Any, config: dict[str, Any]) -> Any:
        return await graph.aupdate_state(config, values, as_node=as_node)

    return seed


async def _continue_from(
    engine: Engine, src: RunSource, snapshot: Any, edits: dict[str, Any], started: dict[str, Any]
) -> RunRecord:
    values = {**snapshot.values, **edits}
    query = ResearchQuery.model_validate(values["query"]) if "query" in edits else src.query
    first = next((n for n in snapshot.next if n in NODES), None)
    if first is None or first == "parse_query" or not snapshot.values:
        # before the first node (or at the start): the new run starts from its (edited) input
        cont = Continuation(
            input={"query": values.get("query", src.query.model_dump(mode="json"))}, started=started
        )
    else:
        cont = Continuation(seed=_seed(values, PREDECESSOR[first]), started=started)
    return await engine.continue_run(query, new_id(), src.settings, cont)


async def replay(engine: Engine, run_id: str, checkpoint_id: str | None = None) -> RunRecord:
    """Re-run a stored run as a new run, from its start or from one of its checkpoints.

    The new run (own id and checkpoint thread) records ``replay_of`` in its ``started`` event; the
    per-node cache still applies, the whole-result cache does not.

    >>> # rec = await replay(engine, run_id, checkpoint_id=history[3].checkpoint_id)
    """
    src = await load_source(engine, run_id)
    graph = engine.graph(src.settings)
    started: dict[str, Any] = {"replay_of": run_id, "checkpoint_id": checkpoint_id}
    if checkpoint_id is None:
        cont = Continuation(input={"query": src.query.model_dump(mode="json")}, started=started)
        return await engine.continue_run(src.query, new_id(), src.settings, cont)
    cfg = {"configurable": {**src.config["configurable"], "checkpoint_id": checkpoint_id}}
    snapshot = await graph.aget_state(cfg)
    if snapshot.config is None or snapshot.created_at is None:
        raise InvalidInput(
            [{"field": "checkpoint", "message": f"run {run_id!r} has no checkpoint {checkpoint_id!r}"}]
        )
    return await _continue_from(engine, src, snapshot, {}, started)


def check_edits(engine: Engine, edits: dict[str, Any]) -> dict[str, Any]:
    """Validated state edits (InvalidInput names the field); ``query`` is a full ResearchQuery."""
    known = set(ResearchState.__annotations__)
    for key in edits:
        if key not in known:
            raise InvalidInput([{"field": key, "message": f"not a state key; one of {sorted(known)}"}])
    out = dict(edits)
    if "query" in out:
        out["query"] = engine.parse_query(out["query"]).model_dump(mode="json")
    try:
        _state_model().model_validate(out)
    except ValidationError as exc:
        raise InvalidInput.from_validation_error(exc) from None
    return out


async def fork(engine: Engine, run_id: str, node: str, edits: dict[str, Any]) -> RunRecord:
    """Run ``node`` and what follows again, on the state it saw in ``run_id`` with ``edits`` applied.

    Recorded as a new run whose ``started`` event has ``forked_from``, ``fork_node`` and ``edits``.

    >>> # rec = await fork(engine, run_id, "generate_summary", {"findings": []})
    """
    if node not in NODES:
        raise InvalidInput([{"field": "node", "message": f"unknown node {node!r}; one of {list(NODES)}"}])
    edits = check_edits(engine, edits)
    src = await load_source(engine, run_id)
    graph = engine.graph(src.settings)
    snapshot = None
    async for snap in graph.aget_state_history(src.config):  # newest first: keep the earliest match
        if node in snap.next:
            snapshot = snap
    if snapshot is None:
        raise InvalidInput(
            [{"field": "node", "message": f"run {run_id!r} has no checkpoint before {node!r}"}]
        )
    started = {
        "forked_from": run_id,
        "fork_node": node,
        "checkpoint_id": snapshot.config["configurable"]["checkpoint_id"],
        "edits": edits,
    }
    return await _continue_from(engine, src, snapshot, edits, started)
