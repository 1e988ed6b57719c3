"""The law as data: what 정보통신망법 §50 and the KISA guide (불법 스팸 방지를 위한 정보통신망법
안내서) want of an advertising message, one small table per message format.

Every advertising message

* starts with exactly "(광고)" — in an e-mail, its subject; on a push, its title when it has one;
* names the sender and how to reach them (§50④, 시행령 §61②);
* tells how to refuse further messages for free: a free 080 number for text messages, a one-click
  unsubscribe link for e-mail (the notice in Korean and in English), 채널 차단 for Kakao brand
  messages, the notification settings for a push;
* goes out between 21:00 and 08:00 (shop time) only with the separate night-time consent (§50③),
  except e-mail, which the Enforcement Decree exempts (``store.NIGHT_EXEMPT``).

Kakao 알림톡 carries informational messages only (Kakao's template review and the KISA guide):
a template that advertises (a coupon, a discount, an event …) must go out as a 브랜드 메시지, with
advertising consent, instead. ``AD_WORDS`` are the words that make a text advertising.

:mod:`shopmind.activation._compliance` applies these tables; nothing else should spell the rules.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from shopmind.store import NIGHT_EXEMPT

#: what every advertising message starts with, exactly (no space inside, round brackets)
AD_PREFIX = "(광고)"

OptOut = Literal["phone_080", "unsubscribe_link", "channel_block", "settings"]


@dataclass(frozen=True)
class FormatRules:
    """What the law wants of an advertising message in one format.

    ``prefix_on``: the fields that must start with "(광고)", in order of preference (the first
    one the message has; an e-mail's subject is required). ``opt_out``: the free way to refuse;
    ``opt_out_ko``/``opt_out_en``: how the message says so (``{phone}``, ``{url}`` and
    ``{channel}`` are the sender's 080 number, the unsubscribe link and the Kakao channel's
    name); ``opt_out_mark``: the words a finished message must contain for it. ``advertising``:
    whether the format may carry advertising at all."""

    format: str
    channel: str
    advertising: bool
    prefix_on: tuple[str, ...]
    opt_out: OptOut
    opt_out_ko: str
    opt_out_en: str
    opt_out_mark: str
    bilingual_opt_out: bool = False  # e-mail: the refusal notice in Korean and English (KISA guide)

    @property
    def night_rule(self) -> bool:
        """Whether 21:00–08:00 needs the night-time consent (the ledger's ``NIGHT_EXEMPT``)."""
        return self.channel not in NIGHT_EXEMPT


def _text_message(fmt: str) -> FormatRules:
    """SMS, LMS and MMS: one rule (a free 080 number to refuse)."""
    return FormatRules(
        fmt,
        "sms",
        advertising=True,
        prefix_on=("text",),
        opt_out="phone_080",
        opt_out_ko="무료수신거부 {phone}",
        opt_out_en="무료수신거부 (free opt-out) {phone}",
        opt_out_mark="무료수신거부",
    )


#: per format: the table :mod:`._compliance` applies (``FORMATS`` names the same formats)
RULES: dict[str, FormatRules] = {
    "email": FormatRules(
        "email",
        "email",
        advertising=True,
        prefix_on=("subject",),
        opt_out="unsubscribe_link",
        opt_out_ko="메일 수신을 원하지 않으시면 여기에서 수신거부하실 수 있습니다: {url}",
        opt_out_en="If you no longer wish to receive these e-mails, unsubscribe here: {url}",
        opt_out_mark="수신거부",
        bilingual_opt_out=True,
    ),
    "sms": _text_message("sms"),
    "lms": _text_message("lms"),
    "mms": _text_message("mms"),
    "alimtalk": FormatRules(
        "alimtalk",
        "kakao",
        advertising=False,
        prefix_on=("text",),
        opt_out="channel_block",
        opt_out_ko="",
        opt_out_en="",
        opt_out_mark="",
    ),
    "brand": FormatRules(
        "brand",
        "kakao",
        advertising=True,
        prefix_on=("text",),
        opt_out="channel_block",
        opt_out_ko="수신거부 | 채널 홈 > 채널 차단",
        opt_out_en="수신거부 (opt out) | 채널 홈 > 채널 차단 (block the channel)",
        opt_out_mark="채널 차단",
    ),
    "app_push": FormatRules(
        "app_push",
        "app_push",
        advertising=True,
        prefix_on=("subject", "text"),
        opt_out="settings",
        opt_out_ko="수신거부: 앱 설정 > 알림 설정",
        opt_out_en="수신거부 (opt out): 앱 설정 > 알림 설정 (app settings > notifications)",
        opt_out_mark="수신거부",
    ),
    "web_push": FormatRules(
        "web_push",
        "web_push",
        advertising=True,
        prefix_on=("subject", "text"),
        opt_out="settings",
        opt_out_ko="수신거부: 브라우저 설정 > 사이트 알림 차단",
        opt_out_en="수신거부 (opt out): 브라우저 설정 > 사이트 알림 차단 (browser settings > block notifications)",
        opt_out_mark="수신거부",
    ),
}

#: how the sender is named in an advertising message: "(광고)" + the sender's name opens it, and
#: the sender's contact closes it beside the opt-out
SENDER_KO = "발신: {name} · 문의 {contact}"
SENDER_EN = "From {name} · contact {contact}"

#: words that make a text advertising (an 알림톡 with any of them is refused as informational);
#: compared case-insensitively, spaces ignored ("무료 배송" is "무료배송")
AD_WORDS: tuple[str, ...] = (
    "광고",
    "쿠폰",
    "할인",
    "이벤트",
    "특가",
    "세일",
    "적립",
    "무료배송",
    "증정",
    "사은품",
    "프로모션",
    "기획전",
    "%",
    "coupon",
    "discount",
    "sale",
    "event",
    "promo",
    "free shipping",
)

#: the night-time window of §50③ in the shop's zone (the ledger's, ``store.NIGHT_STARTS``):
#: sends from NIGHT_FROM_HOUR:00 until NIGHT_UNTIL_HOUR:00 the next morning need night consent
NIGHT_FROM_HOUR, NIGHT_UNTIL_HOUR = 21, 8


def rules_for(fmt: str) -> FormatRules:
    """The rules of message format ``fmt`` (a key of ``FORMATS``); ValueError for another."""
    try:
        return RULES[fmt]
    except KeyError:
        raise ValueError(f"unknown message format {fmt!r}: expected one of {', '.join(RULES)}") from None


def _pattern(word: str) -> re.Pattern[str]:
    """Korean words and symbols anywhere, spaces between their letters ignored ("무료 배송");
    English ones as whole words, plural too ("events", not "prevent")."""
    letters = r"\s*".join(re.escape(ch) for ch in word.replace(" ", ""))
    if word.isascii() and word.replace(" ", "").isalpha():
        return re.compile(rf"\b{letters}s?\b", re.IGNORECASE)
    return re.compile(letters, re.IGNORECASE)


_AD_PATTERNS = tuple((word, _pattern(word)) for word in AD_WORDS)


def advertising_words(text: str) -> list[str]:
    """The words of ``AD_WORDS`` in ``text``, in the table's order."""
    return [word for word, pattern in _AD_PATTERNS if pattern.search(text)]
