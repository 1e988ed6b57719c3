"""Users (owners only): the accounts, a form for a new one, and per account its role, disabling
and enabling, and ending all its sessions. Every change takes effect at once: the sessions it
ends are dropped from the server's cache before the answer goes out."""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Annotated, Any

from fastapi import Form, Path
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.requests import Request

from shopmind.core import hash_password
from shopmind.store import (
    ROLES,
    AccountError,
    check_password,
    create_user,
    find_user,
    list_users,
    normalise_login,
    revoke_sessions,
    set_disabled,
    set_role,
)
from shopmind.web._access import Viewer, sessions, store_write
from shopmind.web._frame import PREFIX, page, render
from shopmind.web._reading import read

router = page("users", "nav.users", role="owner")
HERE = f"{PREFIX}/users"
#: what the page says after a change (``?done=``)
DONE = ("created", "role", "disabled", "enabled", "revoked")
#: the status of each refusal
_STATUS = {"login_taken": 409, "no_user": 404, "last_owner": 409}
UserId = Annotated[str, Path(min_length=1, max_length=64)]
RoleField = Annotated[str, Form(max_length=20)]


async def _page(request: Request, status: int = 200, problem: str | None = None, **form: Any) -> HTMLResponse:
    users = await read(request, list_users)
    viewer: Viewer = request.state.viewer
    done = request.query_params.get("done")
    response = render(
        request,
        "users.html",
        "nav.users",
        users=users,
        roles=ROLES,
        me=viewer.user_id,
        done=done if done in DONE and problem is None else None,
        problem=problem,
        form={"login": "", "display_name": "", "role": "viewer", **form},
    )
    response.status_code = status
    return response


@router.get("", response_class=HTMLResponse)
async def show(request: Request) -> HTMLResponse:
    return await _page(request)


def _refused(request: Request, exc: AccountError, **form: Any) -> Any:
    return _page(request, _STATUS.get(exc.code, 400), f"us.err.{exc.code}", **form)


@router.post("", response_model=None)
async def create(
    request: Request,
    login: Annotated[str, Form(max_length=200)],
    password: Annotated[str, Form(max_length=2048)],
    role: RoleField = "viewer",
    display_name: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """A new account (the password is hashed off the event loop, then stored on the store's thread)."""
    typed = {"login": login, "display_name": display_name, "role": role}
    try:
        normalise_login(login)
        check_password(password)
        hashed = await asyncio.to_thread(hash_password, password)
        make = partial(create_user, password_hash=hashed, display_name=display_name.strip() or None)
        await store_write(request, make, login, role)
    except AccountError as exc:
        return await _refused(request, exc, **typed)
    return RedirectResponse(f"{HERE}?done=created", 303)


async def _change(request: Request, user_id: str, done: str, fn: Any, *args: Any) -> Response:
    try:
        await store_write(request, fn, user_id, *args)
    except AccountError as exc:
        return await _refused(request, exc)
    sessions(request).forget_user(user_id)  # its sessions ended, or its role changed: at once
    return RedirectResponse(f"{HERE}?done={done}", 303)


@router.post("/{user_id}/role", response_model=None)
async def change_role(request: Request, user_id: UserId, role: RoleField) -> Response:
    return await _change(request, user_id, "role", set_role, role)


@router.post("/{user_id}/disable", response_model=None)
async def disable(request: Request, user_id: UserId) -> Response:
    return await _change(request, user_id, "disabled", set_disabled, True)


@router.post("/{user_id}/enable", response_model=None)
async def enable(request: Request, user_id: UserId) -> Response:
    return await _change(request, user_id, "enabled", set_disabled, False)


def _revoke_known(store: Any, user_id: str) -> int:
    """End the sessions of an existing account (an unknown id is refused, not ignored)."""
    found = find_user(store, user_id)
    if found is None or found.user_id != user_id:
        raise AccountError("no_user", "user_id", f"no account {user_id!r}")
    return revoke_sessions(store, user_id)


@router.post("/{user_id}/sessions/revoke", response_model=None)
async def revoke(request: Request, user_id: UserId) -> Response:
    return await _change(request, user_id, "revoked", _revoke_known)
