"""What every page shares: the registry of pages (the navigation), the language, the templates
and their formatting, and the charts' data.

Adding a page: a module with ``router = page("slug", "nav.slug")`` (``role="owner"`` for a page
only owners see), a route on it rendering a template that extends ``base.html``, its words in
``_i18n.MESSAGES``, and the module in ``web.PAGE_MODULES``. A form that posts carries
``csrf_field()``; a script's POST sends the ``csrf-token`` meta tag as ``X-CSRF-Token``."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from urllib.parse import unquote
from zoneinfo import ZoneInfo

import orjson
from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup
from starlette.requests import Request

from shopmind.core import label, resolve_particles, resolve_plurals, with_particle
from shopmind.web._access import CSRF_FIELD, Viewer, require
from shopmind.web._i18n import DEFAULT_LANG, LANGS, MESSAGES, message

PREFIX = "/dashboard"
LANG_COOKIE = "shopmind_lang"


@dataclass(frozen=True)
class Page:
    slug: str
    label: str  # the message key of its name in the navigation
    router: APIRouter
    role: str = "viewer"  # who sees it (and the least role its routes need)


#: the navigation, in the order ``web.install`` adds the pages
PAGES: list[Page] = []
_MADE: dict[int, Page] = {}


def page(slug: str, label: str, role: str = "viewer") -> APIRouter:
    """A new page's router, named ``label`` in the navigation: every route needs a signed-in
    ``role`` (or higher), and every POST its CSRF token."""
    router = APIRouter(
        prefix=f"{PREFIX}/{slug}", dependencies=[Depends(require(role))], include_in_schema=False
    )
    _MADE[id(router)] = Page(slug, label, router, role)
    return router


def navigation(routers: list[APIRouter]) -> None:
    """Set the navigation to the pages of ``routers``, in that order."""
    PAGES[:] = [_MADE[id(r)] for r in routers]


def lang_of(request: Request) -> str:
    asked = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE)
    return asked if asked in LANGS else DEFAULT_LANG


# -- formatting ----------------------------------------------------------------------------
def _number(value: Any, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:,.{digits}f}"


def _won(value: Any) -> str:
    return "–" if value is None else f"₩{value:,.0f}"


def _percent(value: Any, digits: int = 0) -> str:
    return "–" if value is None else f"{100 * value:.{digits}f}%"


def _when(value: Any, zone: str = "Asia/Seoul") -> str:
    if value is None:
        return "–"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime):
        return value.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _json(value: Any) -> Markup:
    """JSON for a ``<script type="application/json">`` block (``</`` cannot end the block)."""
    text = orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY, default=str).decode()
    return Markup(text.replace("</", "<\\/"))


def _readable(url: Any) -> str:
    """A URL as people read it: ``search?q=%EA%B9%80%EC%B9%98`` → ``search?q=김치``."""
    return unquote(str(url)) if url else ""


_ENV = Environment(
    loader=PackageLoader("shopmind.web", "templates"),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_ENV.filters.update(number=_number, won=_won, percent=_percent, when=_when, json=_json, readable=_readable)
# ``{{ name|josa("을/를") }}``: the name with the particle its last sound takes (라면을, 김치를, 1kg을)
_ENV.filters["josa"] = with_particle


def csrf_field(viewer: Viewer) -> Markup:
    """The hidden input every form that posts carries."""
    return Markup('<input type="hidden" name="{}" value="{}">').format(CSRF_FIELD, viewer.csrf)


def render(request: Request, template: str, title: str, **context: Any) -> HTMLResponse:
    """A page: ``template`` with the frame's context (language, words, navigation)."""
    lang = lang_of(request)

    def t(key: str, **fields: Any) -> str:
        text = message(key, lang)
        if not fields:
            return text
        text = text.format(**fields)
        # a word filled in decides the particle after it: "{name}을(를)" → "라면을" / "김치를";
        # a count the English noun after it: "{n} order(s)" → "1 order" / "2 orders"
        return resolve_particles(text) if lang == "ko" else resolve_plurals(text)

    active = request.url.path.removeprefix(PREFIX + "/").split("/")[0]
    viewer: Viewer = request.state.viewer
    body = _ENV.get_template(template).render(
        request=request,
        lang=lang,
        other_lang="en" if lang == "ko" else "ko",
        t=t,
        label=lambda kind, code: label(kind, code, lang),  # codes (event types, devices...) as words
        title=t(title),
        pages=[(p.slug, t(p.label), p.slug == active) for p in PAGES if viewer.may(p.role)],
        viewer=viewer,
        csrf_field=lambda: csrf_field(viewer),
        prefix=PREFIX,
        messages=MESSAGES,
        path=request.url.path,
        **context,
    )
    response = HTMLResponse(body)
    if request.query_params.get("lang") in LANGS:  # the switch: remember the choice
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="lax")
    return response
