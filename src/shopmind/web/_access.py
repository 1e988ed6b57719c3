"""Who may see the dashboard: someone who signed in with a secret key (a signed cookie, valid for
12 hours, ends when the server restarts) or a tool presenting the key as ``Authorization: Bearer``."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from urllib.parse import quote

from starlette.requests import Request

COOKIE = "shopmind_dashboard"
LIFETIME_S = 12 * 3600
_SECRET = secrets.token_bytes(32)  # per process: a restart signs everybody out


class SignInRequired(Exception):
    """The request has no valid session: pages redirect to the login page, data answers 401."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


def _sign(text: str) -> str:
    return hmac.new(_SECRET, text.encode(), hashlib.sha256).hexdigest()


def session_cookie(now: float | None = None) -> str:
    expires = int((now or time.time()) + LIFETIME_S)
    return f"{expires}.{_sign(str(expires))}"


def valid_cookie(value: str | None, now: float | None = None) -> bool:
    if not value:
        return False
    expires, _, signature = value.partition(".")
    if not expires.isdigit() or not hmac.compare_digest(signature, _sign(expires)):
        return False
    return int(expires) > (now or time.time())


def is_secret_key(request: Request, key: str | None) -> bool:
    return bool(key) and request.app.state.keys.check(key) == "secret"


async def signed_in(request: Request) -> None:
    """A dependency of every dashboard route."""
    if valid_cookie(request.cookies.get(COOKIE)):
        return
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and is_secret_key(request, value.strip()):
        return
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    raise SignInRequired(quote(target, safe="/?=&"))
