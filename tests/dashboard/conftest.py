"""Page tests: every AppTest in this session shares one real engine (Streamlit's cache_resource is
process-wide), built over a tmp data dir with the shared search index under ``.data/test-index``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from streamlit.testing.v1 import AppTest

from dashboard.auth import hash_password
from tests.conftest import SHARED_INDEX
from tests.dashboard.apphelpers import PASSWORD, login, new_app


@pytest.fixture(scope="session")
def dashboard_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Env for the session's one engine: tmp data dir, shared index dir, a known operator password."""
    env = {
        "RESEARCHOPS_DATA_DIR": str(tmp_path_factory.mktemp("dashboard-data")),
        "RESEARCHOPS_INDEX_DIR": str(SHARED_INDEX),
        "RESEARCHOPS_OPERATOR_PASSWORD_HASH": hash_password(PASSWORD),
    }
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        from dashboard import services

        services.settings.clear()
        yield env
        try:
            services.engine().close()
        finally:
            services.engine.clear()
            services.settings.clear()


@pytest.fixture
def app(dashboard_env: dict[str, str]) -> AppTest:
    """A fresh session (researcher) that has run once."""
    return new_app().run()


@pytest.fixture
def operator(app: AppTest) -> AppTest:
    """A fresh session signed in as operator."""
    login(app)
    assert app.session_state["current_role"] == "operator"
    return app
