"""The role gate: researcher (default) and operator.

An operator proves it with a password whose salted scrypt hash is configured (never the password):
``.streamlit/secrets.toml`` ``[auth] operator_password_hash``, or ``RESEARCHOPS_OPERATOR_PASSWORD_HASH``
(``Settings.operator_password_hash``). Or, when Streamlit's OIDC settings are present under ``[auth]``,
by ``st.login`` with an e-mail listed in ``[auth] operator_emails``. Make a hash with::

    .venv/bin/python -m dashboard.auth hash        # prompts twice, prints the line for secrets.toml
    printf '%s\n' "$PASSWORD" | .venv/bin/python -m dashboard.auth hash --stdin   # no terminal

A signed-in operator's session is kept on the server (``dashboard.authstore``); the browser holds
its random token in a cookie, so a reload or a new tab stays signed in until sign-out or expiry.
"""

from __future__ import annotations

import base64
import getpass
import hashlib
import hmac
import secrets
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from dashboard.authstore import SESSION_TTL_S, AuthStore

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
COOKIE = "researchops_session"
ACCOUNT = "operator"


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


def client_id() -> str:
    """Who is trying passwords, for lockouts: the peer address and the browser's user agent.

    The agent is part of it so that two people behind one address lock only themselves out; a
    client changing its agent is still held by the account-wide limit (``authstore.ANY_CLIENT``)."""
    import streamlit as st

    try:
        agent, ip = st.context.headers.get("User-Agent"), st.context.ip_address
    except Exception:  # no browser behind this session (AppTest, bare mode)
        agent, ip = None, None
    agent = agent if isinstance(agent, str) else ""
    ip = ip if isinstance(ip, str) else "localhost"  # Streamlit says None for a local peer
    return f"{ip}|{hashlib.sha256(agent.encode()).hexdigest()[:12]}"


def _token() -> str | None:
    """This session's operator token: from this session's sign-in, else the browser's cookie."""
    import streamlit as st

    if st.session_state.get("auth_signed_out"):
        return None  # the cookie the page was opened with was ended by this session's sign-out
    token = st.session_state.get("auth_token") or _cookie()
    return token if isinstance(token, str) else None


def _cookie() -> str | None:
    """The session cookie the page was opened with (sent with the websocket handshake)."""
    import streamlit as st

    try:
        value = st.context.cookies.get(COOKIE)
    except Exception:  # no browser behind this session (AppTest, bare mode)
        return None
    return value if isinstance(value, str) else None


def role(cfg: AuthConfig, store: AuthStore) -> Role:
    """The session's role: operator with a live server-side session (password sign-in, which
    survives reloads and new tabs through the cookie), or an OIDC login with a listed e-mail."""
    import streamlit as st

    if cfg.password_hash and store.session_account(_token()) == ACCOUNT:
        return "operator"
    if cfg.oidc and getattr(st.user, "is_logged_in", False):
        email = str(st.user.get("email") or "").lower()
        if email and email in cfg.operator_emails:
            return "operator"
    return "researcher"


def try_password(cfg: AuthConfig, store: AuthStore, password: str) -> str | None:
    """Check a password; on success this browser gets an operator session. Returns an error or None."""
    import streamlit as st

    client = client_id()
    if (wait := store.locked_for(ACCOUNT, client)) > 0:
        return f"Too many wrong passwords: try again in {wait:.0f} s."
    if not cfg.password_hash:
        return f"No operator password is set. Create one with `{HASH_COMMAND}`."
    attempt = store.record(ACCOUNT, client, verify_password(password, cfg.password_hash))
    if not attempt.ok:
        if attempt.locked_for_s > 0:
            return f"Wrong password. Too many wrong passwords: try again in {attempt.locked_for_s:.0f} s."
        return "Wrong password."
    st.session_state["auth_token"] = store.open_session(ACCOUNT)
    st.session_state.pop("auth_signed_out", None)
    return None


def sign_out(store: AuthStore) -> None:
    """End the session on the server (every tab holding it) and drop the browser's cookie."""
    import streamlit as st

    store.close_session(_token())
    st.session_state.pop("auth_token", None)
    st.session_state["auth_signed_out"] = True


def _sync_cookie(store: AuthStore) -> None:
    """Make the browser's cookie match this session: set after a sign-in, cleared after a sign-out
    (or when the page brought one the server no longer knows: expired, or ended in another tab).

    Streamlit cannot send a Set-Cookie header from a script, so a tiny script sets it; the next
    page load sends it with the websocket handshake, where ``st.context.cookies`` reads it. Drawn
    on every run until the cookie matches (the same element is not re-run by the browser)."""
    import streamlit as st

    have = _cookie()
    token = st.session_state.get("auth_token")
    if token and have != token:
        value, age = token, int(SESSION_TTL_S)
        st.session_state["auth_cookie_set"] = True
    elif not token and (
        (have and store.session_account(have) is None)
        or (st.session_state.get("auth_signed_out") and st.session_state.pop("auth_cookie_set", False))
    ):
        value, age = "", 0
    else:
        return
    st.html(
        "<script>document.cookie = "
        f'"{COOKIE}={value}; Path=/; Max-Age={age}; SameSite=Strict"'
        ' + (location.protocol === "https:" ? "; Secure" : "");</script>',
        unsafe_allow_javascript=True,
        width="content",
    )


def sidebar(cfg: AuthConfig, current: Role, store: AuthStore) -> None:
    """The sign-in / sign-out panel in the sidebar."""
    import streamlit as st

    with st.sidebar:
        _sync_cookie(store)
        if current == "operator":
            st.caption("Signed in as **operator**")
            if st.button("Sign out", key="auth_signout"):
                sign_out(store)
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
                        error = try_password(cfg, store, password)
                        st.session_state["auth_error"] = error
                        if error is None:
                            st.rerun()
                shown = st.session_state.get("auth_error")
                if not shown and (wait := store.locked_for(ACCOUNT, client_id())) > 0:
                    shown = f"Too many wrong passwords: try again in {wait:.0f} s."  # after a reload too
                if shown:
                    st.error(shown)
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
    elif not sys.stdin.isatty():  # getpass would read the pipe or die with EOFError
        print(
            "error: no terminal to prompt on. Pipe the password in with --stdin instead:\n"
            f"  printf '%s\\n' \"$PASSWORD\" | {HASH_COMMAND} --stdin",
            file=sys.stderr,
        )
        return 2
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
