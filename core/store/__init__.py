"""Durable run store: an append-only event log plus run history (SQLite default, PostgreSQL by URL)."""

from core.store.base import RunStore
from core.store.events import EventBuilder, EventType, RunEvent, RunSummary, rebuild_result, rebuild_state
from core.store.factory import open_store
from core.store.policy import EventPolicy, Retention
from core.store.postgres import PostgresRunStore
from core.store.sqlite import SQLiteRunStore

__all__ = [
    "EventBuilder",
    "EventPolicy",
    "EventType",
    "PostgresRunStore",
    "Retention",
    "RunEvent",
    "RunStore",
    "RunSummary",
    "SQLiteRunStore",
    "open_store",
    "rebuild_result",
    "rebuild_state",
]
