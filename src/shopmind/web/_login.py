"""Signing in to the dashboard with an account, signing out, and the language switch's home.

The sign-in form is protected against cross-site posts before any session exists: it carries a
random token that must equal the one in its own cookie (which another site can neither read nor
send, the cookie being SameSite), and a browser's Origin must be this server."""

from __future__ import annotations

import asyncio
import hmac
import re
import secrets
from typing import Annotated
from urllib.parse import unquote

from fastapi import APIRouter, Form, Query
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.requests import Request

from shopmind.core import verify_password
from shopmind.store import credentials, end_session, session_hash, start_session
from shopmind.web._access import (
    COOKIE,
    LIFETIME,
    LOGIN_COOKIE,
    Forbidden,
    SignInRequired,
    check_csrf,
    current_viewer,
    is_tls,
    same_origin,
    sessions,
    store_write,
)
from shopmind.web._frame import _ENV as ENV
from shopmind.web._frame import PREFIX, lang_of
from shopmind.web._i18n import message
from shopmind.web._reading import read

router = APIRouter(prefix=PREFIX, include_in_schema=False)
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{32}$")
LOGIN_TOKEN_S = 2 * 3600  # how long a sign-in form may stay open


def _safe(next_url: str) -> str:
    """Only a path of the dashboard (never another site) to go back to after signing in."""
    target = unquote(next_url or "")
    ok = target.startswith(PREFIX + "/") and not target.startswith("//") and "\\" not in target
    return target if ok else f"{PREFIX}/overview"


def _login_page(
    request: Request, next_url: str, problem: str | None = None, status: int = 200, login: str = ""
) -> HTMLResponse:
    lang = lang_of(request)
    token = request.cookies.get(LOGIN_COOKIE) or ""
    if not _TOKEN.match(token):
        token = secrets.token_urlsafe(24)
    body = ENV.get_template("login.html").render(
        lang=lang,
        t=lambda k: message(k, lang),
        next_url=_safe(next_url),
        problem=problem,
        login=login,
        login_token=token,
        prefix=PREFIX,
        other_lang="en" if lang == "ko" else "ko",
    )
    response = HTMLResponse(body, status)
    response.set_cookie(
        LOGIN_COOKIE,
        token,
        max_age=LOGIN_TOKEN_S,
        httponly=True,
        samesite="lax",
        secure=is_tls(request),
        path=PREFIX,
    )
    return response


@router.get("", response_class=RedirectResponse)
async def home() -> RedirectResponse:
    return RedirectResponse(f"{PREFIX}/overview", 303)


@router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request, next: Annotated[str, Query(max_length=2048)] = "") -> HTMLResponse:
    return _login_page(request, next)


@router.post("/login", response_model=None)
async def sign_in(
    request: Request,
    login: Annotated[str, Form(max_length=200)],
    password: Annotated[str, Form(max_length=1024)],
    next: Annotated[str, Form(max_length=2048)] = "",
    login_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    cookie = request.cookies.get(LOGIN_COOKIE) or ""
    fresh = bool(_TOKEN.match(cookie)) and hmac.compare_digest(login_token.encode(), cookie.encode())
    if not fresh or not same_origin(request):  # posted by another site, or a stale form
        return _login_page(request, next, "login.expired", 403, login)
    found = await read(request, credentials, login)
    # hashed off the event loop; a missing login costs the same hash as a wrong password
    right = await asyncio.to_thread(verify_password, password, found[1] if found else None)
    if found is None or not right or found[0].disabled:
        return _login_page(request, next, "login.wrong", 401, login)
    token = await store_write(request, start_session, found[0].user_id, LIFETIME)
    old = request.cookies.get(COOKIE)
    if old:  # a new sign-in replaces the session this browser had
        await store_write(request, end_session, session_hash(old))
        sessions(request).forget(session_hash(old))
    response = RedirectResponse(_safe(next), 303)
    response.set_cookie(
        COOKIE,
        token,
        max_age=int(LIFETIME.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=is_tls(request),
        path=PREFIX,
    )
    response.delete_cookie(LOGIN_COOKIE, path=PREFIX)
    return response


@router.post("/logout", response_class=RedirectResponse)
async def sign_out(request: Request) -> RedirectResponse:
    """End this browser's session in the store (not only the cookie); a post without the
    session's CSRF token (another site's) is refused, so no site can sign the user out."""
    viewer = await current_viewer(request)
    if viewer is not None and viewer.token_hash is not None:
        await check_csrf(request, viewer)
        await store_write(request, end_session, viewer.token_hash)
        sessions(request).forget(viewer.token_hash)
    response = RedirectResponse(f"{PREFIX}/login", 303)
    response.delete_cookie(COOKIE, path=PREFIX, secure=is_tls(request), httponly=True, samesite="lax")
    return response


async def sign_in_required(request: Request, exc: Exception) -> Response:
    """Pages send the browser to the login page; data requests (fetch) get 401."""
    assert isinstance(exc, SignInRequired)
    if "text/html" in request.headers.get("accept", "") and request.method == "GET":
        return RedirectResponse(f"{PREFIX}/login?next={exc.next_url}", 303)
    return JSONResponse({"error": "unauthorized", "message": "sign in to the dashboard first"}, 401)


async def forbidden(request: Request, exc: Exception) -> Response:
    """403: a page in the user's language for a browser, the JSON error shape for a script."""
    assert isinstance(exc, Forbidden)
    lang = lang_of(request)
    if "text/html" in request.headers.get("accept", ""):
        body = ENV.get_template("forbidden.html").render(
            lang=lang, t=lambda k: message(k, lang), reason=exc.reason, prefix=PREFIX
        )
        return HTMLResponse(body, 403)
    return JSONResponse({"error": "forbidden", "message": message(f"forbidden.{exc.reason}", "en")}, 403)
