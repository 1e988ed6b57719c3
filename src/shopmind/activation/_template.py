"""Message templates: Jinja2 in a sandbox (a template is marketer input: it may read the fields it is
given, never Python's insides), rendered per customer into a :class:`Draft`.

(First cut: the templates helper completes this module — the context's fields, the recommended
products block, coupons, tracked links, the carriers' byte counts; keep these names and signatures.)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jinja2.sandbox import ImmutableSandboxedEnvironment

from shopmind.activation._message import FORMATS, Kind

SMS_BYTES = 90  # a short message, counted in EUC-KR bytes as the carriers count (a Korean character is 2)
LMS_BYTES = 2000


@dataclass(frozen=True)
class Template:
    """What a marketer writes for one step on one channel (``ko`` or ``en``)."""

    text: str
    subject: str | None = None
    html: str | None = None
    template_code: str | None = None  # Kakao 알림톡: the registered template this text is
    image_url: str | None = None
    locale: str = "ko"


@dataclass(frozen=True)
class Draft:
    """A template rendered for one customer, before the compliance step adds what the law wants."""

    format: str
    text: str
    subject: str | None = None
    html: str | None = None
    template_code: str | None = None
    image_url: str | None = None
    links: tuple[str, ...] = ()  # the target URLs of tracked links, in order


_ENV = ImmutableSandboxedEnvironment(autoescape=False, keep_trailing_newline=False)


def carrier_bytes(text: str) -> int:
    """The length the Korean carriers charge by: EUC-KR bytes (a character EUC-KR lacks counts 2)."""
    return sum(len(ch.encode("euc-kr", errors="replace")) if ord(ch) > 0x7F else 1 for ch in text)


def format_for(channel: str, kind: Kind, text: str, image_url: str | None = None) -> str:
    """The format a message takes on ``channel``: SMS up to 90 bytes, else LMS (MMS with an
    image); Kakao 알림톡 for information, 브랜드 메시지 for advertising."""
    if channel == "sms":
        if image_url:
            return "mms"
        return "sms" if carrier_bytes(text) <= SMS_BYTES else "lms"
    if channel == "kakao":
        return "alimtalk" if kind == "informational" else "brand"
    if channel not in FORMATS:
        raise ValueError(f"unknown channel {channel!r}")
    return channel


def render(template: Template, context: Mapping[str, Any], channel: str, kind: Kind = "advertising") -> Draft:
    """``template`` for the customer described by ``context``, on ``channel``."""
    text = _ENV.from_string(template.text).render(context).strip()
    subject = _ENV.from_string(template.subject).render(context).strip() if template.subject else None
    html = _ENV.from_string(template.html).render(context) if template.html else None
    return Draft(
        format=format_for(channel, kind, text, template.image_url),
        text=text,
        subject=subject,
        html=html,
        template_code=template.template_code,
        image_url=template.image_url,
    )
