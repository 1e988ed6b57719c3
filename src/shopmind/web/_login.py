"""Signing in to the dashboard with a secret key, signing out, and the language switch's home."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import unquote

from fastapi import APIRouter, Form
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.requests import Request

from shopmind.web._access import COOKIE, LIFETIME_S, SignInRequired, is_secret_key, session_cookie
from shopmind.web._frame import _ENV as ENV
from shopmind.web._frame import PREFIX, lang_of
from shopmind.web._i18n import message

router = APIRouter(prefix=PREFIX, include_in_schema=False)


def _safe(next_url: str) -> str:
    """Only a path of the dashboard (never another site) to go back to after signing in."""
    target = unquote(next_url or "")
    return target if target.startswith(PREFIX + "/") and not target.startswith("//") else f"{PREFIX}/overview"


def _login_page(request: Request, next_url: str, wrong: bool, status: int = 200) -> HTMLResponse:
    lang = lang_of(request)
    body = ENV.get_template("login.html").render(
        lang=lang,
        t=lambda k: message(k, lang),
        next_url=_safe(next_url),
        wrong=wrong,
        prefix=PREFIX,
        other_lang="en" if lang == "ko" else "ko",
    )
    return HTMLResponse(body, status)


@router.get("", response_class=RedirectResponse)
async def home() -> RedirectResponse:
    return RedirectResponse(f"{PREFIX}/overview", 303)


@router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request, next: str = "") -> HTMLResponse:
    return _login_page(request, next, wrong=False)


@router.post("/login", response_model=None)
async def login(
    request: Request,
    key: Annotated[str, Form(max_length=512)],
    next: Annotated[str, Form(max_length=2048)] = "",
) -> Response:
    if not is_secret_key(request, key.strip()):
        return _login_page(request, next, wrong=True, status=401)
    response = RedirectResponse(_safe(next), 303)
    response.set_cookie(
        COOKIE, session_cookie(), max_age=LIFETIME_S, httponly=True, samesite="lax", path=PREFIX
    )
    return response


@router.post("/logout", response_class=RedirectResponse)
async def logout() -> RedirectResponse:
    response = RedirectResponse(f"{PREFIX}/login", 303)
    response.delete_cookie(COOKIE, path=PREFIX)
    return response


async def sign_in_required(request: Request, exc: Exception) -> Response:
    """Pages send the browser to the login page; data requests (fetch) get 401."""
    assert isinstance(exc, SignInRequired)
    if "text/html" in request.headers.get("accept", "") and request.method == "GET":
        return RedirectResponse(f"{PREFIX}/login?next={exc.next_url}", 303)
    return JSONResponse({"error": "unauthorized", "message": "sign in to the dashboard first"}, 401)
