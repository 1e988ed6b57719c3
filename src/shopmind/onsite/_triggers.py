"""Declarative on-site triggers: *when* a visitor's live session looks like this, *for* these
visitors (device, segment, region, live saved segment), show *this* action (popup, banner, slide-in or a
recommendation widget) in a placement, at most so often.

Triggers are written in TOML (``triggers.toml`` in the workspace; :data:`DEFAULT_TRIGGERS` when
there is none)::

    [[trigger]]
    id = "first-purchase-coupon"
    name = { ko = "첫 구매 10% 쿠폰", en = "10% first-purchase coupon" }
    action = "popup"
    placement = "popup"
    priority = 100
    when = { exit_intent = true, page_type = ["cart"], cart_items_min = 1, first_time_buyer = true }
    cap = { per_session = 1, per_day = 1 }
    holdout = 0.1   # the default: a tenth of the qualifying visitors are shown nothing
    content = { title = { ko = "...", en = "..." }, coupon = "WELCOME10", discount_percent = 10 }

Every condition given must hold (an absent one does not constrain); unknown keys are errors,
so a misspelt condition cannot silently match everyone.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shopmind.core import FieldError, InvalidInputError
from shopmind.onsite._session import PAGE_TYPES

PageType = Literal["home", "category", "product", "search", "cart", "checkout", "account", "careers", "other"]
assert set(PageType.__args__) == set(PAGE_TYPES)  # type: ignore[attr-defined]
Action = Literal["popup", "banner", "slide_in", "recommendations"]
ACTIONS: tuple[str, ...] = Action.__args__  # type: ignore[attr-defined]
Count = Annotated[int, Field(ge=0)]
Seconds = Annotated[float, Field(ge=0)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Text(_Strict):
    """A text in Korean and English."""

    ko: str
    en: str

    def in_(self, lang: str) -> str:
        return self.en if lang == "en" else self.ko


class Conditions(_Strict):
    """What the live session (and the visitor's profile) must look like."""

    exit_intent: bool | None = None
    page_type: list[PageType] | None = None
    page_type_not: list[PageType] | None = None
    pages_min: Count | None = None
    cart_items_min: Count | None = None
    cart_items_max: Count | None = None
    cart_idle_seconds_min: Seconds | None = None
    categories_viewed_min: Count | None = None
    mean_dwell_seconds_max: Seconds | None = None
    scroll_percent_min: Annotated[float, Field(ge=0, le=100)] | None = None
    first_time_buyer: bool | None = None
    returning: bool | None = None
    vip: bool | None = None


class Targeting(_Strict):
    """Who may see it (an absent list admits everyone): ``segment`` an RFM or model segment of
    the latest run, ``saved_segment`` the id of a saved segment kept live (a member now)."""

    device: list[str] | None = None
    segment: list[str] | None = None
    region: list[str] | None = None
    saved_segment: list[str] | None = None


class Cap(_Strict):
    """How often one visitor may be shown it."""

    per_session: Count | None = 1
    per_day: Count | None = None
    cooldown_minutes: Seconds = 0.0


class Content(_Strict):
    title: Text
    body: Text | None = None
    button: Text | None = None
    link: str | None = None
    coupon: str | None = None
    discount_percent: Annotated[float, Field(gt=0, le=100)] | None = None
    items: Annotated[int, Field(ge=0, le=50)] = 0  # recommendation widgets: how many items


class Trigger(_Strict):
    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
    name: Text
    action: Action
    placement: Annotated[str, Field(min_length=1, max_length=64)]
    priority: int = 0
    enabled: bool = True
    #: the share of qualifying visitors shown nothing, so that the trigger's effect can be measured
    #: (its conversions against theirs); 0 turns the comparison off
    holdout: Annotated[float, Field(ge=0, le=0.9)] = 0.1
    when: Conditions = Conditions()
    target: Targeting = Targeting()
    cap: Cap = Cap()
    content: Content


class _File(_Strict):
    trigger: list[Trigger] = []


DEFAULT_TRIGGERS = """
# shopmind's on-site triggers. Copy to triggers.toml in the workspace and edit; the server reads
# it at start. Conditions: exit_intent, page_type, page_type_not, pages_min, cart_items_min,
# cart_items_max, cart_idle_seconds_min, categories_viewed_min, mean_dwell_seconds_max, scroll_percent_min,
# first_time_buyer, returning, vip. Targeting: device, segment, region, saved_segment (ids of
# saved segments kept live: "clicked banner X twice today"). Actions: popup, banner, slide_in,
# recommendations. holdout: the share of qualifying visitors shown nothing (default 0.1), the
# comparison that tells what the trigger adds; 0 shows everyone who qualifies.

[[trigger]]
id = "first-purchase-coupon"
name = { ko = "첫 구매 10% 쿠폰", en = "10% first-purchase coupon" }
action = "popup"
placement = "popup"
priority = 100
when = { exit_intent = true, page_type = ["cart"], cart_items_min = 1, first_time_buyer = true }
cap = { per_session = 1, per_day = 1 }
[trigger.content]
title = { ko = "잠깐만요! 첫 구매 10% 할인", en = "Wait! 10% off your first order" }
body = { ko = "지금 주문하시면 쿠폰 WELCOME10으로 10% 할인해 드려요.", en = "Order now and save 10% with the coupon WELCOME10." }
button = { ko = "쿠폰 받고 주문하기", en = "Use the coupon" }
link = "/checkout"
coupon = "WELCOME10"
discount_percent = 10

[[trigger]]
id = "cart-abandonment"
name = { ko = "장바구니 이탈 방지", en = "Cart abandonment" }
action = "slide_in"
placement = "popup"
priority = 80
when = { exit_intent = true, cart_items_min = 1, page_type_not = ["cart", "checkout"] }
cap = { per_session = 1, per_day = 2, cooldown_minutes = 60 }
[trigger.content]
title = { ko = "장바구니에 담은 상품이 기다리고 있어요", en = "Your cart is waiting" }
body = { ko = "품절되기 전에 주문을 마무리하세요.", en = "Finish your order before they sell out." }
button = { ko = "장바구니 보기", en = "View cart" }
link = "/cart"

[[trigger]]
id = "careers-banner"
name = { ko = "채용 배너 (빠르게 둘러보는 방문자)", en = "Careers banner (quick skimmers)" }
action = "banner"
placement = "top"
priority = 50
when = { pages_min = 5, categories_viewed_min = 4, mean_dwell_seconds_max = 8, cart_items_max = 0 }
cap = { per_session = 1, per_day = 1 }
[trigger.content]
title = { ko = "우리 회사가 궁금하신가요? 함께 일해요", en = "Curious about us? Come and work with us" }
button = { ko = "채용 공고 보기", en = "See open positions" }
link = "/careers"

[[trigger]]
id = "returning-vip"
name = { ko = "돌아온 VIP 맞춤 추천", en = "Returning VIP: personal picks" }
action = "recommendations"
placement = "top"
priority = 60
when = { vip = true, returning = true }
cap = { per_session = 1 }
[trigger.content]
title = { ko = "다시 오셨네요! 고객님을 위한 추천", en = "Welcome back! Picked for you" }
items = 4
"""


def parse_triggers(text: str, source: str = "triggers.toml") -> list[Trigger]:
    """The triggers of a TOML text; InvalidInputError names each bad field (e.g.
    ``trigger[2].when.page_type``) and why."""
    try:
        data: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInputError([FieldError(source, f"not valid TOML: {exc}")]) from None
    try:
        triggers = _File.model_validate(data).trigger
    except ValidationError as exc:
        raise InvalidInputError([_field_error(e) for e in exc.errors()]) from None
    seen: set[str] = set()
    for i, t in enumerate(triggers):
        if t.id in seen:
            raise InvalidInputError([FieldError(f"trigger[{i}].id", f"{t.id!r} is used twice")])
        seen.add(t.id)
    return triggers


def _field_error(error: Any) -> FieldError:
    parts: list[str] = []
    for part in error["loc"]:
        if isinstance(part, int):
            parts[-1] += f"[{part}]"
        else:
            parts.append(str(part))
    message = error["msg"]
    if error["type"] == "extra_forbidden":
        message = "unknown key (check its spelling against the documented conditions)"
    return FieldError(".".join(parts) or "trigger", message)


def load_triggers(path: Path) -> list[Trigger]:
    """The triggers of ``path`` if it exists, else :data:`DEFAULT_TRIGGERS`."""
    if path.exists():
        return parse_triggers(path.read_text(encoding="utf-8"), path.name)
    return parse_triggers(DEFAULT_TRIGGERS, "the default triggers")
