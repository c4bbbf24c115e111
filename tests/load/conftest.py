"""Fixtures for load tests: a small question list, burst managers on the test's data dir."""

from __future__ import annotations

import pytest

from core.config import Settings
from core.load.bursts import BurstManager
from core.load.spec import BurstCaps

QUESTIONS = (
    "How do I run coroutines concurrently with asyncio.gather?",
    "What does functools.lru_cache do?",
    "How do I parse JSON text with json.loads?",
    "What is pathlib.Path.resolve used for?",
    "How do I encode bytes with base64.b64encode?",
    "What does itertools.chain do?",
    "How do I retry a function call with tenacity?",
    "What does collections.Counter count?",
)


@pytest.fixture
def manager(settings: Settings) -> BurstManager:
    """Bursts of at most 50 users, 60 s and 200/s, in the test's own data dir."""
    return BurstManager(
        settings.data_dir, BurstCaps(max_users=50, max_duration_s=60, max_rate=200), process_settings=settings
    )
