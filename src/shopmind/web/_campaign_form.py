"""The campaign form's state (what the page's script sends: plain strings and lists, as typed) read
into the definition ``activation.parse_campaign`` takes, every problem named by its field's path
(``audience.low``, ``steps[1].messages.sms.text``) with a message key of ``_i18n`` so the page
shows it next to the field in its own language.

The library's own checks (the campaign's, the templates') answer in English with the same field
paths; :func:`library_problem` turns each into the page's words (the detail goes to the log)."""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from shopmind.activation import CHANNELS
from shopmind.core import DEFAULT_SHOP_TZ
from shopmind.segments import SEGMENTS

MAX_NAME = 200
MAX_TEXT = 4000
MAX_SUBJECT = 200
MAX_STEPS = 5
AUDIENCE_KINDS = ("segment", "rfm", "band", "moved")
#: the scores a band audience may pick (a run stores each per customer)
BAND_SCORES = ("churn_risk", "purchase_probability_7d", "vip_lookalike")
RESPONSES = ("always", "opened", "not_opened", "clicked", "not_clicked", "clicked_not_bought", "not_bought")
#: the channels whose message has a title (an e-mail's subject; a push notification's title)
TITLED = ("email", "app_push", "web_push")


@dataclass(frozen=True)
class Problem:
    """A form field (its path) and the message key (with its values) saying what is wrong."""

    field: str
    key: str
    values: Mapping[str, Any] = dataclasses.field(default_factory=dict)


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _number(
    value: Any, where: str, low: float, high: float, found: list[Problem], *, whole: bool = True
) -> float | None:
    text = _text(value) if not isinstance(value, int | float) else str(value)
    if not text:
        found.append(Problem(where, "cp.err.required"))
        return None
    try:
        number = float(text)
    except ValueError:
        found.append(Problem(where, "cp.err.whole" if whole else "cp.err.number"))
        return None
    if not math.isfinite(number) or (whole and number != int(number)):
        found.append(Problem(where, "cp.err.whole" if whole else "cp.err.number"))
        return None
    if not low <= number <= high:
        found.append(Problem(where, "cp.err.range", {"low": f"{low:,g}", "high": f"{high:,g}"}))
        return None
    return number


def _choices(value: Any, allowed: tuple[str, ...] | list[str]) -> list[str] | None:
    if not isinstance(value, list) or not value:
        return None
    picked = [v for v in value if isinstance(v, str)]
    if len(picked) != len(value) or any(v not in allowed for v in picked):
        return None
    return list(dict.fromkeys(picked))


def _audience(state: Mapping[str, Any], found: list[Problem]) -> dict[str, Any] | None:
    raw = state.get("audience")
    if not isinstance(raw, Mapping) or raw.get("kind") not in AUDIENCE_KINDS:
        found.append(Problem("audience.kind", "cp.err.choose"))
        return None
    kind = raw["kind"]
    if kind == "segment":
        segment = _text(raw.get("segment"))
        if not segment:
            found.append(Problem("audience.segment", "cp.err.choose"))
            return None
        return {"kind": "segment", "segment": segment}
    if kind == "rfm":
        segments = _choices(raw.get("segments"), tuple(SEGMENTS))
        if segments is None:
            found.append(Problem("audience.segments", "cp.err.pick_some"))
            return None
        return {"kind": "rfm", "segments": segments}
    if kind == "band":
        score = raw.get("score")
        before = len(found)
        if score not in BAND_SCORES:
            found.append(Problem("audience.score", "cp.err.choose"))
        low = _number(raw.get("low"), "audience.low", 0, 100, found, whole=False)
        high = _number(raw.get("high"), "audience.high", 0, 100, found, whole=False)
        if low is not None and high is not None and low >= high:
            found.append(Problem("audience.high", "cp.err.low_above_high"))
        if len(found) > before or low is None or high is None:
            return None
        return {"kind": "band", "score": score, "low": low / 100, "high": high / 100}
    before = len(found)
    from_ = _choices(raw.get("from"), tuple(SEGMENTS))
    to = _choices(raw.get("to"), tuple(SEGMENTS))
    if from_ is None:
        found.append(Problem("audience.from", "cp.err.pick_some"))
    if to is None:
        found.append(Problem("audience.to", "cp.err.pick_some"))
    days = _number(raw.get("within_days"), "audience.within_days", 1, 365, found)
    if from_ and to and set(from_) == set(to):
        found.append(Problem("audience.to", "cp.err.same_segments"))
    if len(found) > before or days is None:
        return None
    return {"kind": "moved", "from": from_, "to": to, "within_days": int(days)}


def _messages(raw: Any, where: str, kind: str, found: list[Problem]) -> dict[str, Any]:
    messages: dict[str, Any] = {}
    if not isinstance(raw, Mapping):
        raw = {}
    for channel, content in raw.items():
        if channel not in CHANNELS or not isinstance(content, Mapping):
            found.append(Problem(f"{where}.messages", "cp.err.choose"))
            continue
        at = f"{where}.messages.{channel}"
        raw_text = content.get("text")
        text = raw_text if isinstance(raw_text, str) else ""
        subject = _text(content.get("subject"))
        if not text.strip():
            found.append(Problem(f"{at}.text", "cp.err.text"))
        elif len(text) > MAX_TEXT:
            found.append(Problem(f"{at}.text", "cp.err.too_long", {"n": f"{MAX_TEXT:,}"}))
        if len(subject) > MAX_SUBJECT:
            found.append(Problem(f"{at}.subject", "cp.err.too_long", {"n": f"{MAX_SUBJECT:,}"}))
        out: dict[str, Any] = {"text": text}
        if channel in TITLED and subject:
            out["subject"] = subject
        code = _text(content.get("template_code"))
        if channel == "kakao" and kind == "informational" and code:
            out["template_code"] = code
        messages[channel] = out
    if not messages:
        found.append(Problem(f"{where}.messages", "cp.err.no_message"))
    return messages


def _steps(state: Mapping[str, Any], found: list[Problem]) -> list[dict[str, Any]]:
    raw = state.get("steps")
    if not isinstance(raw, list) or not raw:
        found.append(Problem("steps", "cp.err.no_steps"))
        return []
    if len(raw) > MAX_STEPS:
        found.append(Problem("steps", "cp.err.too_many_steps", {"n": MAX_STEPS}))
        return []
    steps = []
    for i, step in enumerate(raw):
        where = f"steps[{i}]"
        step = step if isinstance(step, Mapping) else {}
        kind = step.get("kind", "advertising")
        if kind not in ("advertising", "informational"):
            found.append(Problem(f"{where}.kind", "cp.err.choose"))
            kind = "advertising"
        out: dict[str, Any] = {"id": f"s{i + 1}", "kind": kind}
        out["messages"] = _messages(step.get("messages"), where, kind, found)
        coupon = _text(step.get("coupon"))
        if len(coupon) > 64:
            found.append(Problem(f"{where}.coupon", "cp.err.too_long", {"n": 64}))
        elif coupon:
            out["coupon"] = coupon
        if i:
            wait = _number(step.get("wait_hours"), f"{where}.wait_hours", 0, 24 * 90, found, whole=False)
            when = step.get("when", "always")
            if when not in RESPONSES:
                found.append(Problem(f"{where}.when", "cp.err.choose"))
                when = "always"
            out.update(after=f"s{i}", wait_hours=wait or 0.0, when=when)
        steps.append(out)
    return steps


def _start(value: Any, found: list[Problem]) -> str | None:
    """The start the form gives (``2026-03-01T09:00``, the shop's local time; empty: when it is
    scheduled), as an ISO time with the shop's offset."""
    text = _text(value)
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        found.append(Problem("start_at", "cp.err.start"))
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(DEFAULT_SHOP_TZ))
    if not 2000 <= moment.year <= 2100:
        found.append(Problem("start_at", "cp.err.start"))
        return None
    return moment.isoformat()


def campaign_data(state: Any) -> tuple[dict[str, Any] | None, list[Problem]]:
    """The campaign the form describes (the shape ``parse_campaign`` reads), or None and what is
    wrong with it, field by field."""
    if not isinstance(state, Mapping):
        return None, [Problem("form", "cp.err.invalid")]
    found: list[Problem] = []
    name = _text(state.get("name"))
    if not name:
        found.append(Problem("name", "cp.err.name"))
    elif len(name) > MAX_NAME:
        found.append(Problem("name", "cp.err.too_long", {"n": MAX_NAME}))
    locale = state.get("locale", "ko")
    if locale not in ("ko", "en"):
        found.append(Problem("locale", "cp.err.choose"))
    audience = _audience(state, found)
    steps = _steps(state, found)
    written = [c for c in CHANNELS if any(c in s["messages"] for s in steps)]
    mode = state.get("channel_mode", "cheapest")
    channels = _choices(state.get("channels"), CHANNELS)
    if mode not in ("cheapest", "fixed"):
        found.append(Problem("channel_mode", "cp.err.choose"))
    elif channels is None:
        found.append(Problem("channels", "cp.err.pick_channel"))
    elif mode == "fixed" and len(channels) != 1:
        found.append(Problem("channels", "cp.err.one_channel"))
    elif steps and written and not set(channels) & set(written):
        found.append(Problem("channels", "cp.err.channel_without_message"))
    send_mode = state.get("send_mode", "best_hour")
    if send_mode not in ("best_hour", "fixed"):
        found.append(Problem("send_mode", "cp.err.choose"))
    hour = _number(state.get("hour", "10"), "hour", 0, 23, found)
    per_day = _number(state.get("per_day", "1"), "per_day", 1, 10, found)
    per_week = _number(state.get("per_week", "3"), "per_week", 1, 50, found)
    if per_day is not None and per_week is not None and per_week < per_day:
        found.append(Problem("per_week", "cp.err.week_below_day"))
    holdout = _number(state.get("holdout", "10"), "holdout", 0, 50, found, whole=False)
    days = _number(state.get("attribution_days", "7"), "attribution_days", 1, 60, found)
    start_at = _start(state.get("start_at"), found)
    if found or audience is None or None in (hour, per_day, per_week, holdout, days):
        return None, found
    assert channels is not None and hour is not None and per_day is not None and per_week is not None
    assert holdout is not None and days is not None
    return {
        "name": name,
        "locale": locale,
        "audience": audience,
        "steps": steps,
        "channel": {"mode": mode, "channels": channels},
        "send_time": {"mode": send_mode, "hour": int(hour)},
        "caps": {"per_day": int(per_day), "per_week": int(per_week)},
        "holdout": round(holdout / 100, 4),
        "attribution_days": int(days),
        **({"start_at": start_at} if start_at else {}),
    }, []


# -- the library's answers in the page's words -----------------------------------------------------
_LINE = re.compile(r"^line (\d+): ")
_REASONS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"unknown field '([^']*)'"), "cp.tpl.unknown_field"),
    (re.compile(r"^an e-mail needs a subject"), "cp.tpl.subject"),
    (re.compile(r"needs the code of its registered template"), "cp.tpl.template_code"),
    (re.compile(r"^advertises \(([^)]*)\)"), "cp.tpl.advertises"),
    (re.compile(r"not allowed in a template"), "cp.tpl.not_allowed"),
    (re.compile(r"^link\("), "cp.tpl.link"),
    (re.compile(r"^([\d,]+) bytes: a text message holds"), "cp.tpl.too_long"),
    (re.compile(r"free 080 number|one-click unsubscribe link"), "cp.rule.opt_out"),
    (re.compile(r"names its sender|sender's phone number"), "cp.rule.sender"),
    (re.compile(r"carries information only: advertising goes"), "cp.rule.informational_only"),
    (re.compile(r"exists already"), "cp.err.name_taken"),
    (re.compile(r"no customer-intelligence run yet|no run holds the score"), "cp.err.no_run"),
)


def library_problem(path: str, reason: str) -> Problem:
    """One of the library's errors (English, with its field's path) as a problem of the form."""
    line = _LINE.match(reason)
    rest = reason[line.end() :] if line else reason
    values: dict[str, Any] = {"line": line.group(1) if line else ""}
    for pattern, key in _REASONS:
        found = pattern.search(rest)
        if found:
            if found.groups():
                values["value"] = found.group(1)
            return Problem(path, key, values)
    if line:  # a template's syntax
        return Problem(path, "cp.tpl.syntax", values)
    return Problem(path, "cp.err.invalid", values)
