"""The dashboard's accounts and their server-side sessions.

An account has a login name, a display name, a role (``viewer`` reads the pages; ``marketer``
also saves segments and exports CSV; ``owner`` also manages the accounts) and a scrypt hash of
its password. A session is a random token in the browser's cookie; only its SHA-256 is stored,
so a copy of the store does not hold live sessions. A session ends when it expires, when its
user signs out, when its user's sessions are revoked, when its user is disabled and when its
user's password changes. There is always at least one active owner once one exists.

These functions take a ``Store`` and run wherever it is open: in the server on the store's
thread, or in the CLI while the server is stopped."""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from shopmind.core import FieldError, InvalidInputError, hash_password
from shopmind.store._store import Store

Role = Literal["viewer", "marketer", "owner"]
#: the roles, each allowed what the one before it is and more
ROLES: tuple[Role, ...] = ("viewer", "marketer", "owner")
MIN_PASSWORD, MAX_PASSWORD = 8, 1024
#: sessions that ended this long ago are deleted when a new one starts
_KEEP_ENDED = timedelta(days=30)
_LOGIN = re.compile(r"^[\w.@+-]{1,64}$")


class AccountError(InvalidInputError):
    """An account cannot be created or changed; ``code`` names the reason for the surfaces
    (``bad_login``, ``login_taken``, ``bad_name``, ``bad_role``, ``short_password``,
    ``long_password``, ``no_user``, ``last_owner``)."""

    def __init__(self, code: str, field: str, reason: str) -> None:
        super().__init__([FieldError(field, reason)])
        self.code = code


@dataclass(frozen=True)
class User:
    user_id: str
    login: str
    display_name: str
    role: Role
    created_at: datetime
    disabled_at: datetime | None = None
    active_sessions: int = 0

    @property
    def disabled(self) -> bool:
        return self.disabled_at is not None


@dataclass(frozen=True)
class SessionUser:
    """Who a valid session belongs to, and until when it is valid."""

    user_id: str
    login: str
    display_name: str
    role: Role
    expires_at: datetime
    last_seen: datetime


def role_allows(role: str, needed: str) -> bool:
    """Whether ``role`` may do what ``needed`` may (an unknown role may do nothing)."""
    return role in ROLES and ROLES.index(role) >= ROLES.index(needed)


def normalise_login(login: str) -> str:
    """Login names are compared trimmed and lower-cased; letters (Korean too), digits and ``. _ @ + -``."""
    value = login.strip().lower()
    if not _LOGIN.match(value):
        raise AccountError(
            "bad_login",
            "login",
            "1 to 64 letters, digits or . _ @ + - (no spaces), e.g. 'owner' or an e-mail",
        )
    return value


def check_password(password: str) -> None:
    """Raise ``AccountError`` for a password too short or too long to accept."""
    if len(password) < MIN_PASSWORD:
        raise AccountError("short_password", "password", f"at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise AccountError("long_password", "password", f"at most {MAX_PASSWORD} characters")


def _check_role(role: str) -> Role:
    if role not in ROLES:
        raise AccountError("bad_role", "role", f"one of {', '.join(ROLES)}, got {role!r}")
    return role


def _check_name(name: str) -> str:
    value = " ".join(name.split())
    if not 1 <= len(value) <= 100:
        raise AccountError("bad_name", "display_name", "1 to 100 characters")
    return value


_USER_COLUMNS = "u.user_id, u.login, u.display_name, u.role, u.created_at, u.disabled_at"


def _user(row: tuple[object, ...]) -> User:
    return User(*row)  # type: ignore[arg-type]


def create_user(
    store: Store,
    login: str,
    role: str,
    *,
    password: str | None = None,
    password_hash: str | None = None,
    display_name: str | None = None,
) -> User:
    """A new active account. Give ``password`` (checked, then hashed here) or a ``password_hash``
    made by ``core.hash_password`` after ``check_password`` (so a server hashes off the store's thread)."""
    login = normalise_login(login)
    role = _check_role(role)
    name = _check_name(display_name if display_name is not None else login)
    if password_hash is None:
        if password is None:
            raise AccountError("short_password", "password", "a password is required")
        check_password(password)
        password_hash = hash_password(password)
    if store.scalar("SELECT count(*) FROM users WHERE login = ?", [login]):
        raise AccountError("login_taken", "login", f"an account {login!r} exists already")
    user = User(uuid.uuid4().hex[:16], login, name, role, store._clock.now())
    store.sql(
        "INSERT INTO users VALUES (?, ?, ?, ?, ?, ?, NULL)",
        [user.user_id, user.login, user.display_name, user.role, password_hash, user.created_at],
    )
    return user


def list_users(store: Store) -> list[User]:
    """Every account, oldest first, with how many sessions each has open now."""
    rows = store.sql(
        f"""SELECT {_USER_COLUMNS},
               (SELECT count(*) FROM dashboard_sessions s WHERE s.user_id = u.user_id
                AND s.revoked_at IS NULL AND s.expires_at > ?)
        FROM users u ORDER BY u.created_at, u.login""",
        [store._clock.now()],
    )
    return [User(*r) for r in rows]


def find_user(store: Store, login_or_id: str) -> User | None:
    """The account with this login name (any case) or user id."""
    rows = store.sql(
        f"SELECT {_USER_COLUMNS} FROM users u WHERE u.login = ? OR u.user_id = ?",
        [login_or_id.strip().lower(), login_or_id.strip()],
    )
    return _user(rows[0]) if rows else None


def _existing(store: Store, user_id: str) -> User:
    found = store.sql(f"SELECT {_USER_COLUMNS} FROM users u WHERE u.user_id = ?", [user_id])
    if not found:
        raise AccountError("no_user", "user_id", f"no account {user_id!r}")
    return _user(found[0])


def credentials(store: Store, login: str) -> tuple[User, str] | None:
    """The account signing in as ``login`` and its stored password hash (None: no such login)."""
    rows = store.sql(
        f"SELECT {_USER_COLUMNS}, u.password_hash FROM users u WHERE u.login = ?", [login.strip().lower()]
    )
    return (_user(rows[0][:-1]), str(rows[0][-1])) if rows else None


def has_owner(store: Store) -> bool:
    return bool(store.scalar("SELECT count(*) FROM users WHERE role = 'owner' AND disabled_at IS NULL"))


def _keep_an_owner(store: Store, user: User) -> None:
    others = store.scalar(
        "SELECT count(*) FROM users WHERE role = 'owner' AND disabled_at IS NULL AND user_id <> ?",
        [user.user_id],
    )
    if user.role == "owner" and not user.disabled and not others:
        raise AccountError(
            "last_owner", "user_id", f"{user.login} is the last active owner: make another owner first"
        )


def set_role(store: Store, user_id: str, role: str) -> User:
    """Change an account's role (the last active owner stays an owner); at once for its sessions."""
    role = _check_role(role)
    user = _existing(store, user_id)
    if role != "owner":
        _keep_an_owner(store, user)
    store.sql("UPDATE users SET role = ? WHERE user_id = ?", [role, user_id])
    return _existing(store, user_id)


def set_disabled(store: Store, user_id: str, disabled: bool) -> User:
    """Disable an account (its sessions end; the last active owner cannot be) or enable it again."""
    user = _existing(store, user_id)
    if disabled:
        _keep_an_owner(store, user)
        with store.atomically():
            if not user.disabled:
                store.sql("UPDATE users SET disabled_at = ? WHERE user_id = ?", [store._clock.now(), user_id])
            revoke_sessions(store, user_id)
    elif user.disabled:
        store.sql("UPDATE users SET disabled_at = NULL WHERE user_id = ?", [user_id])
    return _existing(store, user_id)


def set_password(
    store: Store, user_id: str, *, password: str | None = None, password_hash: str | None = None
) -> User:
    """A new password (as in ``create_user``); every session of the account ends."""
    user = _existing(store, user_id)
    if password_hash is None:
        check_password(password or "")
        password_hash = hash_password(password or "")
    with store.atomically():
        store.sql("UPDATE users SET password_hash = ? WHERE user_id = ?", [password_hash, user_id])
        revoke_sessions(store, user_id)
    return user


# -- sessions ---------------------------------------------------------------------------------
def session_hash(token: str) -> str:
    """What is stored of a session's token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def start_session(store: Store, user_id: str, lifetime: timedelta) -> str:
    """A new session of an active account: its token (for the cookie; only its hash is stored)."""
    user = _existing(store, user_id)
    if user.disabled:
        raise AccountError("no_user", "user_id", f"{user.login} is disabled")
    token = secrets.token_urlsafe(32)
    now = store._clock.now()
    with store.atomically():
        store.sql(
            "DELETE FROM dashboard_sessions WHERE coalesce(revoked_at, expires_at) < ?", [now - _KEEP_ENDED]
        )
        store.sql(
            "INSERT INTO dashboard_sessions VALUES (?, ?, ?, ?, ?, NULL)",
            [session_hash(token), user_id, now, now + lifetime, now],
        )
    return token


def session_user(store: Store, token_hash: str) -> SessionUser | None:
    """Whose session this is, if it is still valid (not ended, not expired, its user active)."""
    rows = store.sql(
        """SELECT u.user_id, u.login, u.display_name, u.role, s.expires_at, s.last_seen
        FROM dashboard_sessions s JOIN users u USING (user_id)
        WHERE s.session_hash = ? AND s.revoked_at IS NULL AND s.expires_at > ? AND u.disabled_at IS NULL""",
        [token_hash, store._clock.now()],
    )
    return SessionUser(*rows[0]) if rows else None


def touch_session(store: Store, token_hash: str) -> None:
    """Note that the session was used now (what the owner's list shows as last seen)."""
    store.sql(
        "UPDATE dashboard_sessions SET last_seen = ? WHERE session_hash = ? AND revoked_at IS NULL",
        [store._clock.now(), token_hash],
    )


def end_session(store: Store, token_hash: str) -> str | None:
    """End one session (signing out); the user id it belonged to, None if it had ended already."""
    rows = store.sql(
        "UPDATE dashboard_sessions SET revoked_at = ? WHERE session_hash = ? AND revoked_at IS NULL "
        "RETURNING user_id",
        [store._clock.now(), token_hash],
    )
    return str(rows[0][0]) if rows else None


def revoke_sessions(store: Store, user_id: str) -> int:
    """End every open session of an account at once; how many were open."""
    rows = store.sql(
        "UPDATE dashboard_sessions SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL RETURNING 1",
        [store._clock.now(), user_id],
    )
    return len(rows)
