"""Durable runs: checkpoints (one thread per run), crash recovery, time travel and retention.

Every run is one checkpoint thread (``thread_id = run_id``), written by the engine per superstep.

- ``checkpoint``: ``open_checkpointer(settings)``, a ``ThreadedSqliteSaver`` (embedded; module
  ``sqlite_saver``) or ``AsyncPostgresSaver`` (``DATABASE_URL``) whose serde is ``RunCodecSerde``.
- ``recovery``: runs left ``running`` by a dead process on this host resume from their last
  checkpoint (completed nodes are not run again); ``core.factory.open_engine`` schedules it.
- ``timetravel``: ``history`` / ``replay`` / ``fork``, a run's checkpoints; new runs seeded from one.
- ``retention``: ``prune`` over run history and the checkpoints of pruned runs.
"""

from core.durable.checkpoint import Checkpointer, RunCodecSerde, open_checkpointer, thread_ids
from core.durable.recovery import owner_is_dead, recover
from core.durable.retention import prune
from core.durable.timetravel import CheckpointInfo, check_edits, fork, history, replay

__all__ = [
    "CheckpointInfo",
    "Checkpointer",
    "RunCodecSerde",
    "check_edits",
    "fork",
    "history",
    "open_checkpointer",
    "owner_is_dead",
    "prune",
    "recover",
    "replay",
    "thread_ids",
]
