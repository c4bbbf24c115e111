"""Fixtures for CLI tests: a question file made of the load tests' questions."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.load.conftest import QUESTIONS


@pytest.fixture
def pool_file(tmp_path: Path) -> Path:
    path = tmp_path / "questions.txt"
    path.write_text("\n".join(QUESTIONS) + "\n", encoding="utf-8")
    return path
