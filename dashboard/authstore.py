"""Operator sessions and wrong-password lockouts, kept on the server (SQLite under the data dir).

A browser holds only a random session token (in a cookie); the server keeps its SHA-256 with an
expiry, so sign-out (or expiry) ends the session in every tab and a copy of the file gives no
usable token. Lockouts are counted per account and client, so reloading the page resets nothing.

    store = AuthStore(data_dir / "auth.sqlite")
    token = store.open_session("operator")
    store.session_account(token)          # "operator" until it expires or store.close_session(token)
"""

from __future__ import annotations

import hashlib
import os
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

SESSION_TTL_S = 12 * 3600.0
MAX_FAILURES, LOCKOUT_S = 5, 30.0
ANY_CLIENT = "*"
"""The row counting an account's failures from every client: a client can change its headers, so
``ACCOUNT_FACTOR x max_failures`` wrong passwords from anywhere lock the account for everyone."""
ACCOUNT_FACTOR = 4

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    token_sha256 TEXT PRIMARY KEY, account TEXT NOT NULL, created REAL NOT NULL, expires REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS failures (
    account TEXT NOT NULL, client TEXT NOT NULL, count INTEGER NOT NULL, locked_until REAL NOT NULL,
    PRIMARY KEY (account, client)
);
"""


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Attempt:
    """The outcome of a password attempt."""

    ok: bool
    locked_for_s: float = 0.0
    """Seconds until this account and client may try again (0 = not locked)."""
    failures: int = 0
    """Wrong passwords in a row from this client (reset by a lockout or a success)."""


class AuthStore:
    """Sessions and lockouts in one small SQLite file (mode 0600), safe across threads and processes.

    ``clock`` is wall time (sessions and lockouts outlive a server restart)."""

    def __init__(
        self,
        path: Path,
        *,
        ttl_s: float = SESSION_TTL_S,
        max_failures: int = MAX_FAILURES,
        lockout_s: float = LOCKOUT_S,
        clock: object = time.time,
    ) -> None:
        self.path, self.ttl_s = Path(path), ttl_s
        self.max_failures, self.lockout_s = max_failures, lockout_s
        self._clock = clock
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)  # created private, never widened
        os.close(fd)
        os.chmod(self.path, 0o600)
        self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=5.0, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)

    def _now(self) -> float:
        return float(self._clock())  # type: ignore[operator]

    # ---- sessions ----------------------------------------------------------------------------
    def open_session(self, account: str) -> str:
        """A new session for ``account``; returns its token (give it to the browser, keep nothing)."""
        token, now = secrets.token_urlsafe(32), self._now()
        with self._lock:
            self._db.execute("DELETE FROM sessions WHERE expires <= ?", (now,))
            self._db.execute(
                "INSERT INTO sessions VALUES (?, ?, ?, ?)", (_digest(token), account, now, now + self.ttl_s)
            )
        return token

    def session_account(self, token: str | None) -> str | None:
        """The account of a live session, or None (unknown, expired or signed out)."""
        if not token:
            return None
        with self._lock:
            row = self._db.execute(
                "SELECT account FROM sessions WHERE token_sha256 = ? AND expires > ?",
                (_digest(token), self._now()),
            ).fetchone()
        return None if row is None else str(row[0])

    def close_session(self, token: str | None) -> None:
        """End a session (sign-out): every tab holding the token is signed out at its next run."""
        if token:
            with self._lock:
                self._db.execute("DELETE FROM sessions WHERE token_sha256 = ?", (_digest(token),))

    # ---- lockouts ----------------------------------------------------------------------------
    def locked_for(self, account: str, client: str) -> float:
        """Seconds until ``account`` may be tried again from ``client`` (0 when not locked)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT locked_until FROM failures WHERE account = ? AND client IN (?, ?)",
                (account, client, ANY_CLIENT),
            ).fetchall()
        return max([0.0, *(float(r[0]) - self._now() for r in rows)])

    def record(self, account: str, client: str, ok: bool) -> Attempt:
        """Count an attempt's outcome: ``max_failures`` wrong in a row lock the pair for ``lockout_s``."""
        now = self._now()
        with self._lock:
            if ok:
                self._db.execute("DELETE FROM failures WHERE account = ? AND client = ?", (account, client))
                return Attempt(ok=True)
            count, until = self._bump(account, client, self.max_failures, now)
            self._bump(account, ANY_CLIENT, self.max_failures * ACCOUNT_FACTOR, now)
        return Attempt(ok=False, locked_for_s=max(until - now, 0.0), failures=count)

    def _bump(self, account: str, client: str, limit: int, now: float) -> tuple[int, float]:
        row = self._db.execute(
            "SELECT count, locked_until FROM failures WHERE account = ? AND client = ?", (account, client)
        ).fetchone()
        count, until = (0, 0.0) if row is None else (int(row[0]), float(row[1]))
        count += 1
        if count >= limit:
            count, until = 0, now + self.lockout_s
        self._db.execute(
            "INSERT INTO failures VALUES (?, ?, ?, ?) ON CONFLICT (account, client) "
            "DO UPDATE SET count = excluded.count, locked_until = excluded.locked_until",
            (account, client, count, until),
        )
        return count, until

    def unlock(self, account: str) -> None:
        """Forget ``account``'s wrong passwords and lockouts (every client)."""
        with self._lock:
            self._db.execute("DELETE FROM failures WHERE account = ?", (account,))

    def close(self) -> None:
        with self._lock:
            self._db.close()
