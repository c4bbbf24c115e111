"""A short schemathesis run of invalid (negative) and valid bodies: no input makes the API answer 5xx."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from core.config import EngineSettings, Settings
from tests.faults.conftest import TOKEN, serving

EXAMPLES = 40
BODY_OPERATIONS = {("POST", "/research"), ("PUT", "/settings")}


def _run(operation: Any, mode: GenerationMode, headers: dict[str, str] | None) -> int:
    calls = 0

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def check(case: Any) -> None:
        nonlocal calls
        calls += 1
        case.call_and_validate(headers=headers, checks=[not_a_server_error])

    check()
    return calls


def test_generated_bodies_never_make_the_server_fail(fault_settings: Settings, tmp_path: Path) -> None:
    with serving(fault_settings, EngineSettings(cache="l1")) as (url, _app):
        schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
        calls = 0
        for result in schema.get_all_operations():
            operation = result.ok()  # type: ignore[union-attr]
            if (operation.method.upper(), operation.path) not in BODY_OPERATIONS:
                continue
            headers = {"Authorization": f"Bearer {TOKEN}"} if operation.method.upper() == "PUT" else None
            for mode in (GenerationMode.NEGATIVE, GenerationMode.POSITIVE):
                calls += _run(operation, mode, headers)
    assert calls >= 4 * 10  # both operations, both modes, a fair number of cases each
