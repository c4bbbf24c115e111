"""Helpers shared by the page tests (imported as a plain module: tests/ is not a package)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "dashboard" / "app.py")
PASSWORD = "operator-test-password"
TIMEOUT = 120


def new_app() -> AppTest:
    """A fresh AppTest session over the real app script (call after the ``dashboard_env`` fixture)."""
    return AppTest.from_file(APP, default_timeout=TIMEOUT)


def login(at: AppTest, password: str = PASSWORD) -> AppTest:
    """Sign in through the sidebar form, like a user."""
    at.sidebar.text_input(key="auth_password").input(password)
    next(b for b in at.sidebar.button if b.label == "Sign in").click()
    return at.run()


def texts(at: AppTest) -> str:
    """Every markdown/caption/alert/metric text on the page, joined (for 'is this on screen' checks)."""
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption]
    parts += [e.value for coll in (at.error, at.warning, at.info, at.success) for e in coll]
    parts += [str(m.value) for m in at.metric]
    return "\n".join(str(p) for p in parts)


def table(at: AppTest, *columns: str) -> Any:
    """The first dataframe on the page having all ``columns`` (its pandas value)."""
    for df in at.dataframe:
        value = df.value
        if all(c in value.columns for c in columns):
            return value
    raise AssertionError(f"no table with columns {columns}")


def burst_manager() -> Any:
    """The dashboard's burst manager (bursts are configured in the page tests)."""
    from dashboard import jobs

    mgr = jobs.burst_manager()
    assert mgr is not None
    return mgr


def open_page(at: AppTest, page: str) -> AppTest:
    """Switch to ``views/<page>.py``, run it, and fail on any exception it raised."""
    at.switch_page(f"views/{page}.py").run()
    assert not at.exception, at.exception
    return at
