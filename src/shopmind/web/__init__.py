"""The marketer's dashboard, served by ``shopmind serve`` under ``/dashboard``: server-rendered
pages in Korean (default) and English, charts drawn by plotly.js from the plotly wheel, behind
a sign-in with an account (roles viewer, marketer, owner; server-side sessions). Pages read
through their own connection (``Reader``); sessions and accounts are written on the server's
store thread (``app.state.worker``)."""

from __future__ import annotations

from fastapi import FastAPI

from shopmind.web import (
    _assets,
    _campaigns,
    _customer,
    _customers,
    _experiments,
    _login,
    _onsite,
    _overview,
    _personas,
    _predictions,
    _products,
    _segments,
    _users,
)
from shopmind.web._access import Forbidden, Sessions, SignInRequired, Viewer
from shopmind.web._frame import PAGES, PREFIX, Page, navigation, page
from shopmind.web._headers import DashboardHeaders
from shopmind.web._i18n import LANGS, MESSAGES
from shopmind.web._reading import Reader

#: the pages, in the navigation's order (a new page: its module here)
PAGE_MODULES = (
    _overview,
    _customers,
    _segments,
    _campaigns,
    _experiments,
    _predictions,
    _personas,
    _customer,
    _products,
    _onsite,
    _users,
)


def install(app: FastAPI) -> None:
    """Add the dashboard's routes to ``app`` (which must set ``state.dashboard_reader``,
    ``state.worker``, ``state.keys``, ``state.recommender`` and ``state.onsite``; and may set
    ``state.config.trust_forwarded_proto``). ``app.state.dashboard_sessions`` is the cache of
    validated sessions: whatever ends sessions in this process calls its ``forget_user``."""
    app.state.dashboard_sessions = Sessions()
    app.include_router(_login.router)
    app.include_router(_assets.router)
    for module in PAGE_MODULES:
        app.include_router(module.router)
    navigation([m.router for m in PAGE_MODULES])
    app.add_exception_handler(SignInRequired, _login.sign_in_required)
    app.add_exception_handler(Forbidden, _login.forbidden)
    app.add_middleware(DashboardHeaders, prefix=PREFIX)


__all__ = [
    "LANGS",
    "MESSAGES",
    "PAGES",
    "PAGE_MODULES",
    "PREFIX",
    "Page",
    "Reader",
    "Sessions",
    "Viewer",
    "install",
    "page",
]
