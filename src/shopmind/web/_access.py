"""Who may see and change the dashboard.

A person signs in with an account (``store._accounts``) and gets a server-side session: the
cookie holds a random token, the store its hash, so signing out, revoking the user's sessions,
disabling the user or changing the password ends it at once. A tool may present the workspace's
secret key as ``Authorization: Bearer`` and acts as a marketer (reads, segments, CSV), never as
an owner. Every POST carries the session's CSRF token (a hidden form field or the
``X-CSRF-Token`` header) and, from a browser, an Origin (or Referer) of this server.

Validated sessions are kept in memory for ``CACHE_S`` so a page does not read the store for
each of its requests; whatever ends sessions in this process drops them from the cache at once."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any, TypeVar
from urllib.parse import quote, urlsplit

from fastapi import Depends
from starlette.requests import Request

from shopmind.store import SessionUser, role_allows, session_hash, session_user, touch_session
from shopmind.web._reading import read

T = TypeVar("T")
_log = logging.getLogger("shopmind.web")

COOKIE = "shopmind_session"
LOGIN_COOKIE = "shopmind_login"  # the sign-in form's token, before there is a session
LIFETIME = timedelta(hours=12)
CACHE_S = 5.0  # how long a validated session is trusted without reading the store again
TOUCH_S = 60.0  # how often a session's last use is written
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


class SignInRequired(Exception):
    """The request has no valid session: pages redirect to the login page, data answers 401."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


class Forbidden(Exception):
    """Signed in, but not allowed: ``reason`` is ``role`` (the role does not allow it) or
    ``csrf`` (no valid CSRF token, or posted from another site)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Viewer:
    """Who is asking: an account's session, or a tool with the secret key (``user_id`` None)."""

    login: str
    display_name: str
    role: str
    user_id: str | None = None
    token_hash: str | None = None
    csrf: str = ""

    def may(self, role: str) -> bool:
        return role_allows(self.role, role)


def csrf_token(session_token: str) -> str:
    """The CSRF token of a session: derived from its secret token, so nothing more is stored."""
    return hmac.new(session_token.encode(), b"shopmind-csrf", hashlib.sha256).hexdigest()


def is_tls(request: Request) -> bool:
    """Whether the browser reached us over HTTPS: the request's scheme, or the reverse proxy's
    ``X-Forwarded-Proto`` when the server is told to trust it (``shopmind serve --forwarded-proto``)."""
    if request.url.scheme == "https":
        return True
    config = getattr(request.app.state, "config", None)
    if getattr(config, "trust_forwarded_proto", False):
        return request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower() == "https"
    return False


def same_origin(request: Request) -> bool:
    """Whether a POST came from a page of this server: its Origin (or, without one, its Referer)
    names this host. Browsers send Origin with every POST; a request with neither is not a
    browser's form, and the CSRF token alone decides."""
    host = request.headers.get("host", "")
    config = getattr(request.app.state, "config", None)
    if getattr(config, "trust_forwarded_proto", False) and request.headers.get("x-forwarded-host"):
        host = request.headers["x-forwarded-host"].split(",")[0].strip()
    for header in ("origin", "referer"):
        value = request.headers.get(header)
        if value:
            try:
                found = urlsplit(value)
            except ValueError:
                return False
            return found.scheme in ("http", "https") and found.netloc.lower() == host.lower()
    return True


class Sessions:
    """The sessions this server has validated lately (``CACHE_S``), by their token's hash."""

    def __init__(self) -> None:
        self._cache: dict[str, tuple[float, SessionUser]] = {}
        self._touched: dict[str, float] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    async def viewer(self, request: Request, token: str) -> Viewer | None:
        token_hash = session_hash(token)
        now = time.monotonic()
        cached = self._cache.get(token_hash)
        if cached is not None and now - cached[0] < CACHE_S:
            found: SessionUser | None = cached[1]
        else:
            found = await read(request, session_user, token_hash)
            if found is None:
                self._cache.pop(token_hash, None)
                return None
            self._cache[token_hash] = (now, found)
            if len(self._cache) > 10_000:  # bounded: the oldest entries go
                for stale in sorted(self._cache, key=lambda k: self._cache[k][0])[:1000]:
                    del self._cache[stale]
        assert found is not None
        if found.expires_at.timestamp() <= time.time():
            self.forget(token_hash)
            return None
        if now - self._touched.get(token_hash, 0.0) > TOUCH_S:
            self._touched[token_hash] = now
            self._background(request, touch_session, token_hash)
        return Viewer(
            found.login, found.display_name, found.role, found.user_id, token_hash, csrf_token(token)
        )

    def _background(self, request: Request, fn: Callable[..., Any], *args: Any) -> None:
        async def write() -> None:
            try:
                await store_write(request, fn, *args)
            except Exception:  # e.g. the server stopping: a missed "last seen" is no loss
                _log.info("could not note a dashboard session's last use", exc_info=True)

        task = asyncio.create_task(write())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def forget(self, token_hash: str) -> None:
        self._cache.pop(token_hash, None)
        self._touched.pop(token_hash, None)

    def forget_user(self, user_id: str) -> None:
        """Drop every cached session of ``user_id`` (its sessions ended, or its role changed)."""
        for key in [k for k, (_, s) in self._cache.items() if s.user_id == user_id]:
            self.forget(key)

    def clear(self) -> None:
        self._cache.clear()
        self._touched.clear()


def sessions(request: Request) -> Sessions:
    found: Sessions = request.app.state.dashboard_sessions
    return found


async def store_write(request: Request, fn: Callable[..., T], *args: Any) -> T:
    """``fn(store, *args)`` on the store's thread of the server (where every write goes)."""
    run: Callable[..., Awaitable[T]] = request.app.state.worker.run
    return await run(fn, *args)


def _tool(request: Request) -> Viewer | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    key = value.strip()
    if scheme.lower() == "bearer" and key and request.app.state.keys.check(key) == "secret":
        return Viewer("secret-key", "API key", "marketer")
    return None


async def current_viewer(request: Request) -> Viewer | None:
    """Who is asking, if anyone valid (no CSRF check: for GETs and the sign-out)."""
    found: Viewer | None = getattr(request.state, "viewer", None)
    if found is not None:
        return found
    found = _tool(request)
    if found is None:
        token = request.cookies.get(COOKIE)
        found = await sessions(request).viewer(request, token) if token else None
    request.state.viewer = found
    return found


async def check_csrf(request: Request, viewer: Viewer) -> None:
    """Refuse (``Forbidden("csrf")``) a POST of a session without its token or from another site."""
    if viewer.user_id is None:  # a tool's header, not a browser's cookie: nothing to forge
        return
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        form = await request.form()
        field = form.get(CSRF_FIELD)
        sent = field if isinstance(field, str) else None
    if not sent or not hmac.compare_digest(sent.encode(), viewer.csrf.encode()) or not same_origin(request):
        raise Forbidden("csrf")


async def signed_in(request: Request) -> Viewer:
    """A dependency of every dashboard route: who is asking; every POST's CSRF token checked."""
    viewer = await current_viewer(request)
    if viewer is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequired(quote(target, safe="/?=&"))
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        await check_csrf(request, viewer)
    return viewer


def require(role: str) -> Callable[..., Awaitable[Viewer]]:
    """A dependency: the viewer, who must have ``role`` or a higher one."""

    async def allowed(viewer: Annotated[Viewer, Depends(signed_in)]) -> Viewer:
        if not viewer.may(role):
            raise Forbidden("role")
        return viewer

    allowed.__name__ = f"require_{role}"
    return allowed
