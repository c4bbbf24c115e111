"""Server-side operator sessions and lockouts: they outlive the browser session (and the store
object: a server restart), end on sign-out or expiry, and lock per account and client."""

from __future__ import annotations

import stat
from pathlib import Path

from dashboard.authstore import ACCOUNT_FACTOR, ANY_CLIENT, AuthStore


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_a_session_outlives_the_store_object_and_ends_on_sign_out(tmp_path: Path) -> None:
    token = AuthStore(tmp_path / "auth.sqlite").open_session("operator")
    again = AuthStore(tmp_path / "auth.sqlite")  # a reload or a server restart reads the same file
    assert again.session_account(token) == "operator"
    assert again.session_account(token + "x") is None and again.session_account(None) is None
    again.close_session(token)
    assert AuthStore(tmp_path / "auth.sqlite").session_account(token) is None


def test_the_file_is_private_and_holds_no_usable_token(tmp_path: Path) -> None:
    path = tmp_path / "auth.sqlite"
    token = AuthStore(path).open_session("operator")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert token.encode() not in path.read_bytes() + Path(f"{path}-wal").read_bytes()


def test_a_session_expires(tmp_path: Path) -> None:
    clock = Clock()
    store = AuthStore(tmp_path / "auth.sqlite", ttl_s=60, clock=clock)
    token = store.open_session("operator")
    clock.now += 59
    assert store.session_account(token) == "operator"
    clock.now += 2
    assert store.session_account(token) is None


def test_five_wrong_passwords_lock_that_client_only_and_the_lock_ends(tmp_path: Path) -> None:
    clock = Clock()
    store = AuthStore(tmp_path / "auth.sqlite", max_failures=5, lockout_s=30, clock=clock)
    for i in range(4):
        assert store.record("operator", "a", ok=False).failures == i + 1
    assert store.locked_for("operator", "a") == 0
    last = store.record("operator", "a", ok=False)
    assert last.locked_for_s == 30
    assert AuthStore(tmp_path / "auth.sqlite", clock=clock).locked_for("operator", "a") == 30  # reload
    assert store.locked_for("operator", "b") == 0  # another client is not locked out
    clock.now += 30.5
    assert store.locked_for("operator", "a") == 0
    assert store.record("operator", "a", ok=True).ok


def test_changing_clients_still_hits_the_account_wide_limit(tmp_path: Path) -> None:
    clock = Clock()
    store = AuthStore(tmp_path / "auth.sqlite", max_failures=5, lockout_s=30, clock=clock)
    for i in range(5 * ACCOUNT_FACTOR):
        store.record("operator", f"client-{i}", ok=False)  # a new user agent for every try
    assert store.locked_for("operator", "someone-new") == 30
    assert store.locked_for("operator", ANY_CLIENT) == 30
    store.unlock("operator")
    assert store.locked_for("operator", "someone-new") == 0
