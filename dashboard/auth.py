"""The role gate: researcher (default) and operator.

An operator proves it with a password whose salted scrypt hash is configured (never the password):
``.streamlit/secrets.toml`` ``[auth] operator_password_hash``, or ``RESEARCHOPS_OPERATOR_PASSWORD_HASH``
(``Settings.operator_password_hash``). Or, when Streamlit's OIDC settings are present under ``[auth]``,
by ``st.login`` with an e-mail listed in ``[auth] operator_emails``. Make a hash with::

    .venv/bin/python -m dashboard.auth hash        # prompts twice, prints the line for secrets.toml
"""

from __future__ import annotations

import base64
import getpass
import hashlib
import hmac
import secrets
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

Role = Literal["researcher", "operator"]
HASH_COMMAND = ".venv/bin/python -m dashboard.auth hash"
_N, _R, _P = 2**14, 8, 1  # scrypt cost: ~50 ms, 16 MiB; stored with the hash so it can be raised later
MIN_PASSWORD = 8


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """A salted scrypt hash: ``scrypt$n$r$p$salt$digest`` (base64).

    >>> verify_password("correct horse", hash_password("correct horse"))
    True
    """
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    b64 = base64.b64encode
    return f"scrypt${_N}${_R}${_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    """True when ``password`` matches ``stored`` (constant-time); False for a malformed hash."""
    try:
        scheme, n, r, p, salt, digest = stored.strip().split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        got = hashlib.scrypt(
            password.encode(),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            maxmem=128 * 1024 * 1024,
            dklen=len(expected),
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


@dataclass(frozen=True)
class AuthConfig:
    """Where operator credentials come from, resolved once per script run."""

    password_hash: str | None
    oidc: bool
    """Streamlit's own ``[auth]`` OIDC settings are present (``st.login`` works)."""
    operator_emails: tuple[str, ...] = ()

    @classmethod
    def resolve(cls, secrets_auth: Mapping[str, Any] | None, env_hash: str | None) -> AuthConfig:
        """Secrets first, then the env setting.

        >>> AuthConfig.resolve({}, None).password_hash is None
        True
        """
        auth = dict(secrets_auth or {})
        oidc = bool(
            auth.get("redirect_uri")
            and auth.get("cookie_secret")
            and (auth.get("client_id") or any(isinstance(v, Mapping) for v in auth.values()))
        )
        emails = tuple(str(e).lower() for e in auth.get("operator_emails", ()) or ())
        return cls(
            password_hash=auth.get("operator_password_hash") or env_hash or None,
            oidc=oidc,
            operator_emails=emails,
        )

    @property
    def configured(self) -> bool:
        return bool(self.password_hash) or self.oidc


# ---- Streamlit side ------------------------------------------------------------------------------
MAX_FAILURES, LOCKOUT_S = 5, 30.0


def _secrets_auth() -> Mapping[str, Any]:
    import streamlit as st

    try:
        return dict(st.secrets.get("auth", {}))
    except (FileNotFoundError, KeyError, AttributeError):  # no secrets.toml: that's fine
        return {}
    except Exception:
        return {}


def config(env_hash: str | None) -> AuthConfig:
    """This run's auth configuration (secrets first, then ``Settings.operator_password_hash``)."""
    return AuthConfig.resolve(_secrets_auth(), env_hash)


def role(cfg: AuthConfig) -> Role:
    """The session's role: operator after a password login, or an OIDC login with a listed e-mail."""
    import streamlit as st

    if st.session_state.get("role") == "operator" and cfg.configured:
        return "operator"
    if cfg.oidc and getattr(st.user, "is_logged_in", False):
        email = str(st.user.get("email") or "").lower()
        if email and email in cfg.operator_emails:
            return "operator"
    return "researcher"


def try_password(cfg: AuthConfig, password: str, now: float | None = None) -> str | None:
    """Check a password; on success the session becomes operator. Returns an error message or None."""
    import streamlit as st

    now = time.monotonic() if now is None else now
    state = st.session_state
    if state.get("auth_locked_until", 0.0) > now:
        return f"Too many wrong passwords: try again in {state['auth_locked_until'] - now:.0f} s."
    if not cfg.password_hash:
        return f"No operator password is set. Create one with `{HASH_COMMAND}`."
    if not verify_password(password, cfg.password_hash):
        state["auth_failures"] = state.get("auth_failures", 0) + 1
        if state["auth_failures"] >= MAX_FAILURES:
            state["auth_failures"], state["auth_locked_until"] = 0, now + LOCKOUT_S
        return "Wrong password."
    state["role"] = "operator"
    state["auth_failures"] = 0
    return None


def sidebar(cfg: AuthConfig, current: Role) -> None:
    """The sign-in / sign-out panel in the sidebar."""
    import streamlit as st

    with st.sidebar:
        if current == "operator":
            st.caption("Signed in as **operator**")
            if st.button("Sign out", key="auth_signout"):
                st.session_state.pop("role", None)
                if cfg.oidc and getattr(st.user, "is_logged_in", False):
                    st.logout()
                st.rerun()
            return
        st.caption("Signed in as **researcher**")
        with st.expander("Operator sign-in", expanded=bool(st.session_state.get("auth_error"))):
            if not cfg.configured:
                st.info(
                    "No operator password is configured, so operator pages stay closed. Create one with "
                    f"`{HASH_COMMAND}` and put the printed line under `[auth]` in `.streamlit/secrets.toml` "
                    "(or export it as `RESEARCHOPS_OPERATOR_PASSWORD_HASH`), then restart the app."
                )
            if cfg.password_hash:
                with st.form("operator_login", clear_on_submit=True):
                    password = st.text_input("Operator password", type="password", key="auth_password")
                    if st.form_submit_button("Sign in"):
                        error = try_password(cfg, password)
                        st.session_state["auth_error"] = error
                        if error is None:
                            st.rerun()
                if st.session_state.get("auth_error"):
                    st.error(st.session_state["auth_error"])
            if cfg.oidc and st.button("Sign in with your identity provider", key="auth_oidc"):
                st.login()


def main(argv: list[str] | None = None) -> int:
    """``python -m dashboard.auth hash [--stdin]``: print a ``secrets.toml`` line for a new password."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] != "hash":
        print(f"usage: {HASH_COMMAND} [--stdin]", file=sys.stderr)
        return 2
    if "--stdin" in args:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("operator password: ")
        if getpass.getpass("again: ") != password:
            print("error: the passwords differ", file=sys.stderr)
            return 2
    if len(password) < MIN_PASSWORD:
        print(f"error: password: at least {MIN_PASSWORD} characters", file=sys.stderr)
        return 2
    print("# put this in .streamlit/secrets.toml (or export RESEARCHOPS_OPERATOR_PASSWORD_HASH=<the value>)")
    print("[auth]")
    print(f'operator_password_hash = "{hash_password(password)}"')
    return 0


if __name__ == "__main__":
    sys.exit(main())
