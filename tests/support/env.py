"""The test machine's policy: under CI=true a missing server fails the test, elsewhere it skips."""

from __future__ import annotations

import os

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def unavailable(reason: str) -> None:
    """Fail (CI=true) or skip the current test because ``reason`` (a server or binary is missing)."""
    if in_ci():
        pytest.fail(f"{reason} (required when CI=true)")
    pytest.skip(reason)
