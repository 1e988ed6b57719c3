"""The compliance engine: advertising that is lawful by construction (정보통신망법 §50, the KISA
guide), applying the tables of :mod:`._rules`.

* :func:`finish` adds to a rendered advertising draft exactly what the law wants: "(광고)" at the
  very start, the sender's name and contact, and the free way to refuse on its channel;
* :func:`violations` checks a finished message against the same tables (the outbox's last look
  before a message is queued, and what the tests hold every message to);
* :func:`send_window` moves an advertising send out of the night (21:00–08:00, shop time) to
  08:00, or to the customer's best hour that morning, unless they consented to night-time
  advertising (e-mail is exempt);
* :func:`clearance` (planning) and :func:`consent_decision` (hand-over) ask the consent ledger
  whether a message may go to a customer at all.
"""

from __future__ import annotations

import html as html_escape
import re
from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from shopmind.activation._message import FORMATS, Kind, Sender
from shopmind.activation._rules import (
    AD_PREFIX,
    NIGHT_FROM_HOUR,
    NIGHT_UNTIL_HOUR,
    SENDER_EN,
    SENDER_KO,
    FormatRules,
    advertising_words,
    rules_for,
)
from shopmind.activation._template import LMS_BYTES, SMS_BYTES, Draft, carrier_bytes, with_format
from shopmind.core import DEFAULT_SHOP_TZ, FieldError, InvalidInputError
from shopmind.store import (
    ChannelConsent,
    SendDecision,
    Store,
    consent_state,
    decide_advertising,
    is_night,
    may_send_informational,
)

#: why a finished message breaks the law (each rule of ``_rules`` has one)
RULE_NAMES = (
    "format",  # the format is not one of the channel's
    "informational_only",  # advertising in a format that carries information only (알림톡)
    "advertising_words",  # an informational 알림톡 that advertises
    "template_code",  # an 알림톡 without its registered template
    "prefix",  # does not start with exactly "(광고)"
    "sender",  # the sender's name or contact is missing
    "opt_out",  # the free way to refuse is missing
    "length",  # longer than its format holds
)
Rule = Literal[
    "format",
    "informational_only",
    "advertising_words",
    "template_code",
    "prefix",
    "sender",
    "opt_out",
    "length",
]


@dataclass(frozen=True)
class Violation:
    """One rule a message breaks: which (``RULE_NAMES``), in which field, and why."""

    rule: Rule
    field: str
    reason: str

    def as_field_error(self) -> FieldError:
        return FieldError(self.field, self.reason)


_PHONE_080 = re.compile(r"^080\d{7,8}$")


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def is_free_opt_out_number(phone: str | None) -> bool:
    """Whether ``phone`` is a free (080) number, e.g. 080-123-4567."""
    return bool(phone) and bool(_PHONE_080.match(_digits(phone or "")))


def _head_field(draft: Draft, rules: FormatRules) -> str:
    """The field that must start with "(광고)": the first of the rule's the draft has."""
    for name in rules.prefix_on:
        if getattr(draft, name):
            return name
    return rules.prefix_on[0]


def _without_prefix(text: str) -> str:
    """``text`` without an "(광고)" the marketer wrote already (never twice)."""
    stripped = text.lstrip()
    return stripped[len(AD_PREFIX) :].lstrip() if stripped.startswith(AD_PREFIX) else text


def _sender_problems(sender: Sender, rules: FormatRules, unsubscribe_url: str | None) -> list[FieldError]:
    errors = []
    if not sender.name.strip():
        errors.append(FieldError("sender.name", "an advertising message names its sender"))
    if not sender.contact.strip():
        errors.append(
            FieldError("sender.contact", "an advertising message gives the sender's phone number or address")
        )
    if rules.opt_out == "phone_080" and not is_free_opt_out_number(sender.opt_out_phone):
        errors.append(
            FieldError(
                "sender.opt_out_phone",
                "advertising by text message needs a free 080 number to refuse by (e.g. 080-123-4567)",
            )
        )
    if rules.opt_out == "unsubscribe_link" and not unsubscribe_url:
        errors.append(
            FieldError("unsubscribe_url", "advertising by e-mail needs its one-click unsubscribe link")
        )
    return errors


def _opt_out_lines(rules: FormatRules, sender: Sender, unsubscribe_url: str | None, locale: str) -> list[str]:
    values = {
        "phone": sender.opt_out_phone or "",
        "url": unsubscribe_url or "",
        "channel": sender.kakao_channel or sender.name,
    }
    if rules.bilingual_opt_out:  # the KISA guide: an e-mail's refusal notice in Korean and English
        return [rules.opt_out_ko.format(**values), rules.opt_out_en.format(**values)]
    return [(rules.opt_out_en if locale == "en" else rules.opt_out_ko).format(**values)]


def finish(
    draft: Draft, kind: Kind, channel: str, sender: Sender, unsubscribe_url: str | None = None
) -> Draft:
    """``draft`` as it may be sent: an informational draft as it is (an 알림톡 that advertises is
    refused); an advertising draft opened by "(광고)" — and by the sender's name where its text
    opens — and closed by the sender's contact and the free opt-out of its channel (the 080 number,
    the unsubscribe link in Korean and English, 채널 차단, the notification settings), with its
    format chosen again for the longer text (a short SMS may become an LMS). InvalidInputError
    names what is missing to do so (the sender's 080 number, the unsubscribe link …)."""
    rules = rules_for(draft.format)
    if FORMATS[draft.format] != channel:
        raise InvalidInputError(
            [FieldError("format", f"{draft.format} is not a format of the {channel} channel")]
        )
    if kind == "informational":
        problems = [v for v in violations(draft, kind, channel, sender) if v.rule != "length"]
        if problems:
            raise InvalidInputError([v.as_field_error() for v in problems])
        return draft
    if not rules.advertising:
        raise InvalidInputError(
            [
                FieldError(
                    "format", f"{draft.format} carries information only: advertising goes as 브랜드 메시지"
                )
            ]
        )
    errors = _sender_problems(sender, rules, unsubscribe_url)
    if errors:
        raise InvalidInputError(errors)
    head = _head_field(draft, rules)
    en = draft.locale == "en"
    text = draft.text if head == "text" else draft.text.strip()
    subject = draft.subject
    if head == "text":
        # "(광고)" and the sender's name open the text; the contact closes it beside the opt-out
        text = f"{AD_PREFIX} {sender.name}\n{_without_prefix(text)}"
        who = f"Contact {sender.contact}" if en else f"문의 {sender.contact}"
    else:
        subject = f"{AD_PREFIX} {_without_prefix(subject or '')}".rstrip()
        who = (SENDER_EN if en else SENDER_KO).format(name=sender.name, contact=sender.contact)
    footer = [who, *_opt_out_lines(rules, sender, unsubscribe_url, draft.locale)]
    text = text.rstrip() + "\n\n" + "\n".join(footer)
    body_html = draft.html
    if body_html is not None:
        footer_html = _html_footer(who, rules, sender, unsubscribe_url, draft.locale)
        end = body_html.lower().rfind("</body>")  # inside a whole document, before it closes
        body_html = body_html + footer_html if end < 0 else body_html[:end] + footer_html + body_html[end:]
    finished = replace(draft, text=text, subject=subject, html=body_html)
    return with_format(finished, channel, kind)


def _html_footer(
    who: str, rules: FormatRules, sender: Sender, unsubscribe_url: str | None, locale: str
) -> str:
    lines = [html_escape.escape(who)]
    for line in _opt_out_lines(rules, sender, unsubscribe_url, locale):
        escaped = html_escape.escape(line)
        if unsubscribe_url:
            url = html_escape.escape(unsubscribe_url)
            escaped = escaped.replace(url, f'<a href="{url}">{url}</a>')
        lines.append(escaped)
    body = "<br>".join(lines)
    return f'\n<p style="font-size:12px;color:#666">{body}</p>\n'


def violations(
    draft: Draft, kind: Kind, channel: str, sender: Sender, unsubscribe_url: str | None = None
) -> list[Violation]:
    """Every rule of ``_rules`` the finished message ``draft`` breaks (none: it may be sent)."""
    found: list[Violation] = []
    if draft.format not in FORMATS or FORMATS[draft.format] != channel:
        return [Violation("format", "format", f"{draft.format!r} is not a format of the {channel} channel")]
    rules = rules_for(draft.format)
    size = carrier_bytes(draft.text)
    if draft.format == "sms" and size > SMS_BYTES:
        found.append(
            Violation("length", "text", f"{size} bytes: an SMS holds {SMS_BYTES} (send it as an LMS)")
        )
    if draft.format in ("lms", "mms") and size > LMS_BYTES:
        found.append(
            Violation("length", "text", f"{size:,} bytes: a text message holds at most {LMS_BYTES:,}")
        )
    if kind == "informational":
        if draft.format == "alimtalk":
            words = advertising_words(" ".join(s for s in (draft.text, draft.subject) if s))
            if words:
                found.append(
                    Violation(
                        "advertising_words",
                        "text",
                        f"advertises ({', '.join(words)}): an 알림톡 carries information only",
                    )
                )
            if not draft.template_code:
                found.append(
                    Violation(
                        "template_code", "template_code", "an 알림톡 needs its registered template's code"
                    )
                )
        return found
    if not rules.advertising:
        found.append(Violation("informational_only", "format", f"{draft.format} carries information only"))
        return found
    head = _head_field(draft, rules)
    opening = getattr(draft, head) or ""
    if not opening.startswith(AD_PREFIX):
        found.append(Violation("prefix", head, f"an advertising message starts with exactly {AD_PREFIX}"))
    shown = "\n".join(s for s in (draft.subject, draft.text) if s)
    if not sender.name.strip() or sender.name not in shown:
        found.append(Violation("sender", "text", f"the sender's name ({sender.name}) is missing"))
    if not sender.contact.strip() or sender.contact not in draft.text:
        found.append(Violation("sender", "text", f"the sender's contact ({sender.contact}) is missing"))
    found.extend(_opt_out_violations(draft, rules, sender, unsubscribe_url))
    return found


def _opt_out_violations(
    draft: Draft, rules: FormatRules, sender: Sender, unsubscribe_url: str | None
) -> list[Violation]:
    text = draft.text
    if rules.opt_out_mark and rules.opt_out_mark not in text:
        return [Violation("opt_out", "text", f"the free opt-out ({rules.opt_out_mark}) is missing")]
    if rules.opt_out == "phone_080":
        phone = sender.opt_out_phone or ""
        if not is_free_opt_out_number(phone) or _digits(phone) not in _digits(text):
            return [Violation("opt_out", "text", "the free 080 number to refuse by is missing")]
    if rules.opt_out == "unsubscribe_link":
        if not unsubscribe_url or unsubscribe_url not in text:
            return [Violation("opt_out", "text", "the one-click unsubscribe link is missing")]
        if "unsubscribe" not in text.lower():
            return [Violation("opt_out", "text", "the unsubscribe notice in English is missing")]
        if draft.html is not None and unsubscribe_url not in html_escape.unescape(draft.html):
            return [Violation("opt_out", "html", "the unsubscribe link is missing from the HTML part")]
    return []


# -- when -----------------------------------------------------------------------------------------
def send_window(
    planned_at: datetime,
    channel: str,
    night_consent: bool,
    zone: str = DEFAULT_SHOP_TZ,
    *,
    kind: Kind = "advertising",
    best_hour: int | None = None,
) -> datetime:
    """When an advertising message planned for ``planned_at`` on ``channel`` may go: then, unless
    it falls in the night (21:00–08:00 in ``zone``) and the customer has no night-time consent
    (e-mail and informational messages are exempt); then at 08:00 that morning, or at
    ``best_hour`` that morning if it is a daytime hour (08–20)."""
    if planned_at.tzinfo is None:
        raise InvalidInputError([FieldError("planned_at", "expected a date and time with its time zone")])
    if kind == "informational" or night_consent or not rules_night(channel) or not is_night(planned_at, zone):
        return planned_at
    local = planned_at.astimezone(ZoneInfo(zone))
    day = local.date() if local.hour < NIGHT_UNTIL_HOUR else local.date() + timedelta(days=1)
    hour = (
        best_hour
        if best_hour is not None and NIGHT_UNTIL_HOUR <= best_hour < NIGHT_FROM_HOUR
        else NIGHT_UNTIL_HOUR
    )
    moved = datetime.combine(day, time(hour), tzinfo=ZoneInfo(zone))
    return moved.astimezone(planned_at.tzinfo)


def rules_night(channel: str) -> bool:
    """Whether the night-time rule covers ``channel`` (a consent channel: email, sms, kakao …)."""
    formats = [f for f, c in FORMATS.items() if c == channel]
    if not formats:
        raise InvalidInputError(
            [
                FieldError(
                    "channel", f"{channel!r}: expected one of {', '.join(sorted(set(FORMATS.values())))}"
                )
            ]
        )
    return rules_for(formats[0]).night_rule


# -- whether --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Clearance:
    """Whether a message may go to a customer, and when: ``allowed`` at ``send_at`` (the planned
    moment, or moved out of the night: ``reason`` night_deferred); else ``reason`` says why not
    (no_consent, withdrawn)."""

    allowed: bool
    reason: str  # allowed | informational | night_deferred | no_consent | withdrawn
    channel: str
    send_at: datetime | None


def clear(
    state: ChannelConsent,
    kind: Kind,
    planned_at: datetime,
    zone: str = DEFAULT_SHOP_TZ,
    *,
    best_hour: int | None = None,
) -> Clearance:
    """The clearance of a message to a customer whose consent on its channel is ``state`` (pure):
    informational messages always go; advertising needs consent in force, and at night either
    the night-time consent or a move to the morning (``send_window``)."""
    channel = state.channel
    if kind == "informational":
        return Clearance(True, "informational", channel, planned_at)
    decision = decide_advertising(state, planned_at, zone)
    if decision.allowed:
        return Clearance(True, "allowed", channel, planned_at)
    if decision.reason != "night_without_consent":
        return Clearance(False, decision.reason, channel, None)
    moved = send_window(planned_at, channel, False, zone, best_hour=best_hour)
    return Clearance(True, "night_deferred", channel, moved)


def clearance(
    store: Store,
    profile_id: str,
    channel: str,
    kind: Kind,
    planned_at: datetime,
    zone: str = DEFAULT_SHOP_TZ,
    *,
    best_hour: int | None = None,
) -> Clearance:
    """``clear`` with the customer's consent as the ledger holds it now (all their identifiers)."""
    return clear(
        consent_state(store, profile_id).channel(channel), kind, planned_at, zone, best_hour=best_hour
    )


def consent_decision(
    store: Store, profile_id: str, channel: str, kind: Kind, at: datetime, zone: str = DEFAULT_SHOP_TZ
) -> SendDecision:
    """At hand-over: may this message go to ``profile_id`` on ``channel`` at ``at``, exactly then?
    (An opt-out recorded a minute ago says no.) Informational messages need no consent."""
    if kind == "informational":
        return may_send_informational(channel, at)
    return decide_advertising(consent_state(store, profile_id).channel(channel), at, zone)
