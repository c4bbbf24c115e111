"""The role gate: password hashing, the hash command, and which pages each role can reach."""

from __future__ import annotations

import subprocess
import sys

import pytest
from streamlit.testing.v1 import AppTest

from dashboard.auth import HASH_COMMAND, AuthConfig, hash_password, verify_password
from tests.dashboard.apphelpers import PASSWORD, ROOT, login, new_app, texts

OPERATOR_PAGES = ["operations", "load", "metrics", "experiments", "benchmarks"]


def test_hash_verifies_only_the_right_password() -> None:
    h = hash_password("s3cret-pass")
    assert h.startswith("scrypt$") and "s3cret" not in h
    assert verify_password("s3cret-pass", h)
    assert not verify_password("s3cret-pasS", h)
    assert not verify_password("s3cret-pass", "not-a-hash")
    assert hash_password("same-password") != hash_password("same-password")  # salted


def test_hash_command_prints_a_usable_secrets_line() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "dashboard.auth", "hash", "--stdin"],
        input="long-enough-pw\n",
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    ).stdout
    line = next(x for x in out.splitlines() if x.startswith("operator_password_hash"))
    assert verify_password("long-enough-pw", line.split('"')[1])


def test_hash_command_refuses_a_short_password() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "dashboard.auth", "hash", "--stdin"],
        input="short\n",
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert proc.returncode == 2 and "at least 8" in proc.stderr


def test_secrets_take_precedence_over_env() -> None:
    cfg = AuthConfig.resolve({"operator_password_hash": "scrypt$a"}, "scrypt$b")
    assert cfg.password_hash == "scrypt$a" and not cfg.oidc
    assert AuthConfig.resolve({}, "scrypt$b").password_hash == "scrypt$b"
    oidc = AuthConfig.resolve(
        {
            "redirect_uri": "http://x/oauth2callback",
            "cookie_secret": "c",
            "client_id": "i",
            "operator_emails": ["Ops@Example.com"],
        },
        None,
    )
    assert oidc.oidc and oidc.operator_emails == ("ops@example.com",) and oidc.configured


@pytest.mark.parametrize("page", OPERATOR_PAGES)
def test_researcher_cannot_reach_operator_pages(app: AppTest, page: str) -> None:
    assert app.session_state["current_role"] == "researcher"
    with pytest.raises(ValueError):
        app.switch_page(f"views/{page}.py")


def test_wrong_password_is_refused(app: AppTest) -> None:
    login(app, "not-the-password")
    assert app.session_state["current_role"] == "researcher"
    assert "Wrong password." in [e.value for e in app.sidebar.error]
    with pytest.raises(ValueError):
        app.switch_page("views/operations.py")


def test_operator_login_opens_operator_pages_and_sign_out_closes_them(app: AppTest) -> None:
    login(app, PASSWORD)
    assert app.session_state["current_role"] == "operator"
    app.switch_page("views/operations.py").run()
    assert not app.exception
    assert app.title[0].value == "Operations"
    next(b for b in app.sidebar.button if b.label == "Sign out").click().run()
    assert app.session_state["current_role"] == "researcher"


def test_without_a_password_the_app_says_how_to_set_one(
    dashboard_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from dashboard import services

    monkeypatch.delenv("RESEARCHOPS_OPERATOR_PASSWORD_HASH")
    services.settings.clear()
    try:
        at = new_app().run()
        assert HASH_COMMAND in texts(at) or any(HASH_COMMAND in i.value for i in at.sidebar.info)
        assert not [t for t in at.sidebar.text_input if t.key == "auth_password"]
        at.session_state["role"] = "operator"  # even a forged session flag opens nothing without a password
        at.run()
        assert at.session_state["current_role"] == "researcher"
    finally:
        monkeypatch.undo()
        services.settings.clear()


def test_hash_command_without_a_terminal_says_to_use_stdin() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "dashboard.auth", "hash"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert proc.returncode == 2
    assert "--stdin" in proc.stderr and "Traceback" not in proc.stderr and "EOFError" not in proc.stderr


def test_an_operator_session_opens_in_a_new_browser_session_until_sign_out(app: AppTest) -> None:
    """The cookie carries the server-side session's token into a reload or a new tab."""
    login(app, PASSWORD)
    token = app.session_state["auth_token"]
    tab = new_app()
    tab.session_state["auth_token"] = token  # what a reload's cookie gives the new session
    tab.run()
    assert tab.session_state["current_role"] == "operator"
    next(b for b in app.sidebar.button if b.label == "Sign out").click().run()
    assert app.session_state["current_role"] == "researcher"
    tab.run()  # signed out on the server: the other tab is a researcher at its next run
    assert tab.session_state["current_role"] == "researcher"
    forged = new_app()
    forged.session_state["auth_token"] = "a-token-the-server-never-issued"
    assert forged.run().session_state["current_role"] == "researcher"


def test_the_lockout_holds_in_a_new_browser_session(app: AppTest) -> None:
    from dashboard import services

    store = services.auth_store()
    try:
        for _ in range(5):
            login(app, "not-the-password")
        assert any("Too many wrong passwords" in e.value for e in app.sidebar.error)
        fresh = new_app().run()  # a reload: new browser session, same client
        assert any("Too many wrong passwords" in e.value for e in fresh.sidebar.error)
        login(fresh, PASSWORD)  # even the right password waits for the lockout to end
        assert fresh.session_state["current_role"] == "researcher"
    finally:
        store.unlock("operator")  # the other tests sign in from the same (test) client
