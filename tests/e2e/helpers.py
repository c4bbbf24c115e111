"""Helpers for the browser tests (waiting on Streamlit's own markers, screenshots)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "test-artifacts" / "screenshots"
PASSWORD = "e2e-operator-password"


def idle(pg: Any) -> None:
    """Wait until the script run is over (Streamlit marks it on the app root)."""
    pg.wait_for_selector("[data-test-script-state='notRunning']", state="attached")


def shot(pg: Any, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    pg.screenshot(path=str(path), full_page=True)
    return path
