"""Two-level cache: L1 in memory, L2 on Redis or an embedded SQLite file, plus stable keys and the
LangGraph node-cache adapter. See ``tiered.TieredCache`` for the entry point."""

from core.cache.base import L2Backend
from core.cache.keys import CACHE_SCHEMA_VERSION, normalize_question, query_tag, result_key, stable_key
from core.cache.langgraph_cache import LangGraphCache
from core.cache.memory import MemoryCache
from core.cache.redis import RedisL2
from core.cache.sqlite import SQLiteL2
from core.cache.tiered import TieredCache

__all__ = [
    "CACHE_SCHEMA_VERSION",
    "L2Backend",
    "LangGraphCache",
    "MemoryCache",
    "RedisL2",
    "SQLiteL2",
    "TieredCache",
    "normalize_question",
    "query_tag",
    "result_key",
    "stable_key",
]
