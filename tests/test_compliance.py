"""The compliance engine (정보통신망법 §50, the KISA guide): the rules as data, what ``finish`` adds,
what ``violations`` catches (each rule with a deliberately broken message), the night window,
and the consent clearance against the real ledger — with property tests over random customers,
consents, clocks and templates: no ad without consent, none at night without night consent,
every ad starts with exactly "(광고)" and carries the opt-out, an opt-out stops later sends."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shopmind.activation import (
    AD_PREFIX,
    FORMATS,
    RULES,
    Draft,
    Sender,
    Template,
    advertising_words,
    clear,
    clearance,
    consent_decision,
    finish,
    render,
    send_window,
    violations,
)
from shopmind.core import InvalidInputError
from shopmind.store import (
    NIGHT_EXEMPT,
    ChannelConsent,
    ConsentEntry,
    ConsentFact,
    Store,
    advertising_allowed,
    is_night,
    record_consents,
)

SEOUL = ZoneInfo("Asia/Seoul")
SENDER = Sender("마음상점", "02-123-4567", opt_out_phone="080-123-4567", kakao_channel="마음상점")
UNSUBSCRIBE = "https://shop.example/m/u/tok123"
CONSENT_CHANNELS = ("email", "sms", "kakao", "app_push", "web_push")


def kst(y: int, m: int, d: int, h: int, minute: int = 0) -> datetime:
    return datetime(y, m, d, h, minute, tzinfo=SEOUL)


def draft(
    fmt: str, text: str = "고객님, 이번 주 신상품을 소개합니다.", subject: str | None = None, **kw: object
) -> Draft:
    if fmt == "email" and subject is None:
        subject = "이번 주 신상품"
    if fmt == "mms":
        kw.setdefault("image_url", "https://shop.example/a.jpg")
    return Draft(format=fmt, text=text, subject=subject, **kw)  # type: ignore[arg-type]


def finished(fmt: str, **kw: object) -> Draft:
    return finish(draft(fmt, **kw), "advertising", FORMATS[fmt], SENDER, UNSUBSCRIBE)


AD_FORMATS = [f for f, r in RULES.items() if r.advertising]


# -- the rules as data --------------------------------------------------------------------------
def test_every_format_has_its_rules_and_the_night_rule_is_the_ledgers() -> None:
    assert set(RULES) == set(FORMATS)
    for fmt, rules in RULES.items():
        assert rules.channel == FORMATS[fmt]
        assert rules.night_rule == (rules.channel not in NIGHT_EXEMPT)
    assert not RULES["email"].night_rule  # 시행령 §61: e-mail is exempt
    assert RULES["sms"].night_rule and RULES["brand"].night_rule and RULES["app_push"].night_rule
    assert not RULES["alimtalk"].advertising  # 알림톡: information only
    assert {RULES[f].opt_out for f in ("sms", "lms", "mms")} == {"phone_080"}
    assert RULES["email"].opt_out == "unsubscribe_link" and RULES["email"].bilingual_opt_out
    assert RULES["brand"].opt_out == "channel_block" and "채널 차단" in RULES["brand"].opt_out_ko


def test_advertising_words_are_found_however_they_are_spaced() -> None:
    assert advertising_words("무료 배송에 10% 할인 이벤트") == ["할인", "이벤트", "무료배송", "%"]
    assert advertising_words("Big SALE and free  shipping") == ["sale", "free shipping"]
    assert advertising_words("주문하신 상품이 출발했습니다. 배송 조회는 아래에서") == []
    assert advertising_words("We prevent delays") == []  # a word, not a piece of one


# -- finish: what it adds ----------------------------------------------------------------------
def test_a_finished_sms_reads_as_korean_shops_write_it() -> None:
    done = finished("sms", text="고객님, 이번 주 신상품을 만나 보세요.")
    assert done.text == (
        "(광고) 마음상점\n고객님, 이번 주 신상품을 만나 보세요.\n\n문의 02-123-4567\n무료수신거부 080-123-4567"
    )
    assert done.format == "lms"  # the additions took it past 90 bytes (97): it goes as an LMS
    assert violations(done, "advertising", "sms", SENDER) == []
    short = finished("sms", text="신상품 입고")
    assert short.format == "sms" and short.carrier_bytes == 71
    assert violations(short, "advertising", "sms", SENDER) == []


def test_a_finished_email_has_the_prefix_in_its_subject_and_a_bilingual_opt_out() -> None:
    done = finish(
        draft("email", subject="(광고) 이번 주 신상품", html="<p>본문</p>"),
        "advertising",
        "email",
        SENDER,
        UNSUBSCRIBE,
    )
    assert done.subject == "(광고) 이번 주 신상품"  # never twice
    assert "발신: 마음상점 · 문의 02-123-4567" in done.text
    assert f"메일 수신을 원하지 않으시면 여기에서 수신거부하실 수 있습니다: {UNSUBSCRIBE}" in done.text
    assert f"unsubscribe here: {UNSUBSCRIBE}" in done.text
    assert f'<a href="{UNSUBSCRIBE}">' in (done.html or "")
    assert violations(done, "advertising", "email", SENDER, UNSUBSCRIBE) == []


def test_a_finished_brand_message_tells_how_to_block_the_channel() -> None:
    done = finished("brand")
    assert done.text.startswith("(광고) 마음상점\n")
    assert done.text.endswith("수신거부 | 채널 홈 > 채널 차단")
    assert violations(done, "advertising", "kakao", SENDER) == []


@pytest.mark.parametrize("fmt", AD_FORMATS)
@pytest.mark.parametrize("locale", ["ko", "en"])
def test_every_advertising_format_finishes_lawfully(fmt: str, locale: str) -> None:
    done = finished(fmt, locale=locale)
    head = done.subject if fmt == "email" else done.text
    assert (head or "").startswith(AD_PREFIX)
    assert violations(done, "advertising", FORMATS[fmt], SENDER, UNSUBSCRIBE) == []


def test_a_push_with_a_title_opens_the_title_with_the_prefix() -> None:
    done = finished("app_push", text="오늘만 특별한 가격", subject="신상품 도착")
    assert done.subject == "(광고) 신상품 도착"
    assert "발신: 마음상점" in done.text and "수신거부: 앱 설정 > 알림 설정" in done.text


def test_informational_messages_are_left_as_they_are() -> None:
    notice = Draft("alimtalk", "주문하신 상품이 출발했습니다.", template_code="SHIPPED_01")
    assert finish(notice, "informational", "kakao", SENDER) == notice


def test_finish_refuses_what_it_cannot_make_lawful() -> None:
    no_080 = replace(SENDER, opt_out_phone="02-555-1234")
    with pytest.raises(InvalidInputError) as err:
        finish(draft("sms"), "advertising", "sms", no_080)
    assert err.value.field == "sender.opt_out_phone"
    with pytest.raises(InvalidInputError) as err:
        finish(draft("email"), "advertising", "email", SENDER, None)
    assert err.value.field == "unsubscribe_url"
    with pytest.raises(InvalidInputError) as err:
        finish(Draft("alimtalk", "신상품 안내", template_code="T1"), "advertising", "kakao", SENDER)
    assert err.value.field == "format"
    with pytest.raises(InvalidInputError) as err:
        finish(Draft("alimtalk", "10% 할인 쿠폰", template_code="T1"), "informational", "kakao", SENDER)
    assert "쿠폰" in str(err.value)


# -- violations: each rule with a deliberately broken message ------------------------------------
def _broken(fmt: str, change: dict[str, str | None]) -> Draft:
    return replace(finished(fmt), **change)  # type: ignore[arg-type]


def _rules_broken(d: Draft, kind: str = "advertising", channel: str | None = None) -> set[str]:
    found = violations(d, kind, channel or FORMATS[d.format], SENDER, UNSUBSCRIBE)  # type: ignore[arg-type]
    return {v.rule for v in found}


@pytest.mark.parametrize(
    "opening",
    [
        "[광고] 마음상점",
        " (광고) 마음상점",
        "광고) 마음상점",
        "(광 고) 마음상점",
        "(AD) 마음상점",
        "마음상점",
    ],
)
def test_prefix_rule_catches_anything_but_exactly_the_prefix_at_the_very_start(opening: str) -> None:
    good = finished("sms")
    bad = replace(good, text=good.text.replace("(광고) 마음상점", opening, 1))
    assert _rules_broken(bad) == {"prefix"}


def test_prefix_rule_on_an_email_looks_at_the_subject() -> None:
    assert _rules_broken(_broken("email", {"subject": "이번 주 신상품 (광고)"})) == {"prefix"}


def test_sender_rule_catches_a_missing_name_or_contact() -> None:
    good = finished("sms")
    assert _rules_broken(replace(good, text=good.text.replace("문의 02-123-4567\n", ""))) == {"sender"}
    email = finished("email")
    assert _rules_broken(
        replace(email, text=email.text.replace("발신: 마음상점 · 문의 02-123-4567", ""))
    ) == {"sender"}


@pytest.mark.parametrize(
    ("fmt", "old", "new"),
    [
        ("sms", "무료수신거부 080-123-4567", ""),
        ("lms", "080-123-4567", "02-123-4567"),  # a paid number is no free opt-out
        ("mms", "무료수신거부 ", ""),
        ("email", UNSUBSCRIBE, "https://shop.example/"),
        ("email", "If you no longer wish to receive these e-mails, unsubscribe here", "Bye"),  # Korean only
        ("brand", "채널 차단", "차단"),
        ("app_push", "수신거부: 앱 설정 > 알림 설정", ""),
        ("web_push", "수신거부", "거부"),
    ],
)
def test_opt_out_rule_catches_each_channels_missing_opt_out(fmt: str, old: str, new: str) -> None:
    good = finished(fmt)
    assert old in good.text
    assert _rules_broken(replace(good, text=good.text.replace(old, new))) == {"opt_out"}


def test_the_html_footer_goes_inside_a_whole_document() -> None:
    page = "<html><body><p>본문</p></body></html>"
    done = finish(draft("email", html=page), "advertising", "email", SENDER, UNSUBSCRIBE)
    assert (done.html or "").endswith("</p>\n</body></html>")
    assert (done.html or "").index("발신: 마음상점") < (done.html or "").index("</body>")


def test_opt_out_rule_catches_an_html_part_without_the_link() -> None:
    done = finish(draft("email", html="<p>본문</p>"), "advertising", "email", SENDER, UNSUBSCRIBE)
    assert _rules_broken(replace(done, html="<p>본문</p>")) == {"opt_out"}


def test_length_rule_catches_an_sms_over_ninety_bytes() -> None:
    assert _rules_broken(Draft("sms", "가" * 46), "informational", "sms") == {"length"}
    assert _rules_broken(Draft("lms", "가" * 1001), "informational", "sms") == {"length"}
    assert _rules_broken(Draft("sms", "가" * 45), "informational", "sms") == set()


def test_format_rule_catches_a_format_of_another_channel() -> None:
    assert _rules_broken(finished("sms"), channel="kakao") == {"format"}


def test_alimtalk_rules_catch_advertising_and_a_missing_template_code() -> None:
    assert _rules_broken(Draft("alimtalk", "신상품 안내", template_code="T1"), "advertising") == {
        "informational_only"
    }
    ad = Draft("alimtalk", "회원님께 적립금 3,000원을 드려요", template_code="T1")
    assert _rules_broken(ad, "informational") == {"advertising_words"}
    assert _rules_broken(Draft("alimtalk", "배송이 시작되었습니다."), "informational") == {"template_code"}
    assert (
        _rules_broken(Draft("alimtalk", "배송이 시작되었습니다.", template_code="T1"), "informational")
        == set()
    )


# -- the night window -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("planned", "expected"),
    [
        (kst(2026, 11, 2, 21, 0), kst(2026, 11, 3, 8, 0)),
        (kst(2026, 11, 2, 23, 59), kst(2026, 11, 3, 8, 0)),
        (kst(2026, 11, 3, 3, 0), kst(2026, 11, 3, 8, 0)),  # after midnight: the same morning
        (kst(2026, 11, 3, 7, 59), kst(2026, 11, 3, 8, 0)),
        (kst(2026, 11, 3, 8, 0), kst(2026, 11, 3, 8, 0)),
        (kst(2026, 11, 3, 20, 59), kst(2026, 11, 3, 20, 59)),
        (kst(2026, 12, 31, 22, 0), kst(2027, 1, 1, 8, 0)),
    ],
)
def test_a_night_send_moves_to_eight_in_the_morning(planned: datetime, expected: datetime) -> None:
    moved = send_window(planned.astimezone(UTC), "sms", night_consent=False)
    assert moved == expected
    assert moved.tzinfo == UTC  # in the zone it was given in


def test_the_night_window_keeps_what_may_go_at_night() -> None:
    night = kst(2026, 11, 2, 23, 0)
    assert send_window(night, "email", night_consent=False) == night  # e-mail is exempt
    assert send_window(night, "sms", night_consent=True) == night
    assert send_window(night, "kakao", night_consent=False, kind="informational") == night


def test_a_night_send_moves_to_the_customers_best_hour_when_it_is_daytime() -> None:
    night = kst(2026, 11, 2, 22, 30)
    assert send_window(night, "app_push", False, best_hour=19) == kst(2026, 11, 3, 19, 0)
    assert send_window(night, "app_push", False, best_hour=22) == kst(
        2026, 11, 3, 8, 0
    )  # a night hour: 08:00
    assert send_window(night, "app_push", False, best_hour=6) == kst(2026, 11, 3, 8, 0)


def test_a_window_that_only_knew_the_evening_would_be_caught() -> None:
    # the failing example for the night rule: 03:00 is night too (a check of "hour >= 21" misses it)
    early = kst(2026, 11, 3, 3, 0)
    assert is_night(early)
    assert send_window(early, "sms", False) != early


# -- consent: the clearance, pure ------------------------------------------------------------------
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def fact(granted: bool) -> ConsentFact:
    return ConsentFact(granted, T0, "signup_form", "v1", "user:a")


states = st.builds(
    ChannelConsent,
    st.sampled_from(CONSENT_CHANNELS),
    st.sampled_from([None, True, False]).map(lambda g: None if g is None else fact(g)),
    st.sampled_from([None, True, False]).map(lambda g: None if g is None else fact(g)),
)
clocks = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
)


@given(states, clocks, st.sampled_from(["advertising", "informational"]), st.none() | st.integers(0, 23))
@settings(max_examples=400, deadline=None, derandomize=True)
def test_no_ad_without_consent_and_none_at_night_without_night_consent(
    state: ChannelConsent, planned: datetime, kind: str, best_hour: int | None
) -> None:
    got = clear(state, kind, planned, best_hour=best_hour)  # type: ignore[arg-type]
    if kind == "informational":
        assert got.allowed and got.send_at == planned
        return
    if not state.advertising_granted:
        assert not got.allowed and got.send_at is None
        assert got.reason == ("no_consent" if state.advertising is None else "withdrawn")
        return
    assert got.allowed and got.send_at is not None
    assert planned <= got.send_at < planned + timedelta(hours=24)
    night_allowed = state.night_granted or state.channel in NIGHT_EXEMPT
    if not night_allowed:
        assert not is_night(got.send_at)
    assert (got.send_at != planned) == (got.reason == "night_deferred")
    if got.reason == "night_deferred":
        local = got.send_at.astimezone(SEOUL)
        assert local.minute == 0 and 8 <= local.hour < 21
        assert local.hour == (best_hour if best_hour is not None and 8 <= best_hour < 21 else 8)


# -- consent: against the real ledger --------------------------------------------------------------
history = st.lists(
    st.tuples(
        st.sampled_from(["advertising", "night_advertising"]),
        st.booleans(),
        st.integers(0, 60 * 24 * 30),  # minutes after T0
    ),
    max_size=6,
)


def _latest(entries: list[tuple[str, bool, int]], purpose: str, before: int) -> bool | None:
    """The oracle: the latest entry of ``purpose`` at or before minute ``before`` (ties: stored last)."""
    mine = [(at, i, granted) for i, (p, granted, at) in enumerate(entries) if p == purpose and at <= before]
    return max(mine)[2] if mine else None


@given(
    st.lists(st.tuples(st.sampled_from(CONSENT_CHANNELS), history), min_size=1, max_size=5),
    st.integers(0, 60 * 24 * 31),
    st.sampled_from(CONSENT_CHANNELS),
)
@settings(max_examples=40, deadline=None, derandomize=True)
def test_clearance_from_the_ledger_agrees_with_the_ledgers_latest_word(
    customers: list[tuple[str, list[tuple[str, bool, int]]]], minute: int, channel: str
) -> None:
    at = T0 + timedelta(minutes=minute)
    with Store(":memory:") as store:
        entries = []
        for n, (consent_channel, hist) in enumerate(customers):
            for purpose, granted, m in hist:
                if T0 + timedelta(minutes=m) <= at:  # the ledger as it stands at the moment of sending
                    entries.append(
                        ConsentEntry(
                            f"user:c{n}", consent_channel, granted, T0 + timedelta(minutes=m), "api", purpose
                        )
                    )
        if entries:
            record_consents(store, entries)
        allowed_now = advertising_allowed(
            store, channel, at=at, profile_ids=[f"user:c{n}" for n in range(len(customers))]
        )
        for n, (consent_channel, hist) in enumerate(customers):
            pid = f"user:c{n}"
            mine = hist if consent_channel == channel else []
            ad = _latest(mine, "advertising", minute)
            night = _latest(mine, "night_advertising", minute)
            decision = consent_decision(store, pid, channel, "advertising", at)
            lawful = ad is True and (night is True or channel in NIGHT_EXEMPT or not is_night(at))
            assert decision.allowed == lawful
            assert (pid in allowed_now) == lawful
            planned = clearance(store, pid, channel, "advertising", at)
            assert planned.allowed == (ad is True)
            if planned.allowed:
                # what the planning allows, the hand-over allows too (the ledger unchanged)
                assert planned.send_at is not None
                assert consent_decision(store, pid, channel, "advertising", planned.send_at).allowed


@given(
    st.sampled_from(CONSENT_CHANNELS),
    st.integers(0, 60 * 24 * 10),
    st.lists(st.integers(1, 60 * 24 * 20), min_size=1, max_size=5),
    st.sampled_from(["reply_080", "unsubscribe_link", "api", "admin"]),
)
@settings(max_examples=30, deadline=None, derandomize=True)
def test_an_opt_out_recorded_in_the_ledger_stops_every_later_send(
    channel: str, opted_out: int, later: list[int], method: str
) -> None:
    given_at = T0
    out_at = T0 + timedelta(minutes=opted_out + 1)
    with Store(":memory:") as store:
        record_consents(
            store,
            [
                ConsentEntry("user:kim", channel, True, given_at, "signup_form"),
                ConsentEntry("user:kim", channel, True, given_at, "signup_form", "night_advertising"),
            ],
        )
        before = consent_decision(store, "user:kim", channel, "advertising", out_at - timedelta(seconds=1))
        assert before.allowed  # the failing example's other half: consent in force sends
        record_consents(store, [ConsentEntry("user:kim", channel, False, out_at, method)])
        for minutes in [0, *later]:
            when = out_at + timedelta(minutes=minutes)
            decision = consent_decision(store, "user:kim", channel, "advertising", when)
            assert not decision.allowed and decision.reason == "withdrawn"
            assert not clearance(store, "user:kim", channel, "advertising", when).allowed
            assert "user:kim" not in advertising_allowed(store, channel, at=when)
        # informational messages (an order's delivery notice) still go
        assert consent_decision(store, "user:kim", channel, "informational", out_at).allowed


def test_the_consent_rules_each_with_their_own_example(store: Store) -> None:
    night = kst(2026, 11, 2, 23, 0)
    day = kst(2026, 11, 2, 14, 0)
    record_consents(
        store,
        [
            ConsentEntry("user:day_only", "sms", True, T0, "signup_form"),
            ConsentEntry("user:night_too", "sms", True, T0, "signup_form"),
            ConsentEntry("user:night_too", "sms", True, T0, "signup_form", "night_advertising"),
            ConsentEntry("user:left", "sms", True, T0, "signup_form"),
            ConsentEntry("user:left", "sms", False, T0 + timedelta(days=3), "reply_080"),
            ConsentEntry("user:email_only", "email", True, T0, "checkout"),
        ],
    )
    # no consent: no ad, on any channel, day or night
    assert clearance(store, "user:never", "sms", "advertising", day).reason == "no_consent"
    assert not consent_decision(store, "user:never", "sms", "advertising", day).allowed
    # consent on one channel is not consent on another
    assert clearance(store, "user:email_only", "sms", "advertising", day).reason == "no_consent"
    # withdrawn by an 080 reply: no ad
    assert clearance(store, "user:left", "sms", "advertising", day).reason == "withdrawn"
    # at night without night consent: not sent then, moved to 08:00
    got = clearance(store, "user:day_only", "sms", "advertising", night)
    assert (got.reason, got.send_at) == ("night_deferred", kst(2026, 11, 3, 8, 0))
    assert not consent_decision(store, "user:day_only", "sms", "advertising", night).allowed
    # with night consent it goes at night; e-mail needs none
    assert clearance(store, "user:night_too", "sms", "advertising", night).send_at == night
    assert clearance(store, "user:email_only", "email", "advertising", night).send_at == night


# -- finished messages, over random templates -----------------------------------------------------
fragments = st.sampled_from(
    [
        "{{ name_or_customer }}님, ",
        "{{ recommended[0].name }}을(를) 추천해요. ",
        "쿠폰 {{ coupon }} ",
        "{{ link('https://shop.example/p/1') }} ",
        "(광고) ",
        "오늘만 ",
        "{% for item in recommended %}{{ item.name }} {{ item.price | won }}\n{% endfor %}",
        "Hello {{ region }} ",
        "😀 ",
        "\n",
        "무료수신거부 ",
    ]
)
senders = st.builds(
    Sender,
    st.sampled_from(["마음상점", "Maeum Shop", "쇼핑몰"]),
    st.sampled_from(["02-123-4567", "1588-0000", "help@shop.example"]),
    opt_out_phone=st.sampled_from(["080-123-4567", "0801234567", "080-1234-5678"]),
)


products = st.fixed_dictionaries(
    {
        "name": st.text(
            alphabet=st.sampled_from("김치라면생수목살샤인머스캣 1kgABC"), min_size=1, max_size=20
        ),
        "price": st.none() | st.floats(0, 2_000_000, allow_nan=False),
        "reason": st.sampled_from(["인기 상품", "함께 구매한 상품", "bought together"]),
    }
)
customers = st.fixed_dictionaries(
    {
        "name_or_customer": st.sampled_from(["고객", "김민지", "customer"]),
        "recommended": st.lists(products, max_size=3),
        "coupon": st.none() | st.sampled_from(["WB-7K2MQ9XZ", "WELCOME10"]),
        "region": st.none() | st.sampled_from(["서울", "부산", "제주"]),
    }
)


@given(
    st.lists(fragments, min_size=1, max_size=8).map("".join),
    customers,
    st.sampled_from(CONSENT_CHANNELS),
    st.sampled_from(["ko", "en"]),
    senders,
    st.booleans(),
)
@settings(max_examples=150, deadline=None, derandomize=True)
def test_every_finished_ad_starts_with_the_prefix_and_carries_the_opt_out(
    body: str, customer: dict[str, object], channel: str, locale: str, sender: Sender, with_subject: bool
) -> None:
    template = Template(
        body,
        subject="{{ name_or_customer }}님을 위한 소식" if with_subject or channel == "email" else None,
        locale=locale,
    )
    ctx = {**customer, "locale": locale}
    done = finish(render(template, ctx, channel), "advertising", channel, sender, UNSUBSCRIBE)
    rules = RULES[done.format]
    head = next((getattr(done, f) for f in rules.prefix_on if getattr(done, f)), "")
    assert head.startswith(AD_PREFIX)
    assert not head[len(AD_PREFIX) :].lstrip().startswith(AD_PREFIX)  # never twice
    assert rules.opt_out_mark in done.text
    assert violations(done, "advertising", channel, sender, UNSUBSCRIBE) == []
    # and the check is not vacuous: the same message without its prefix or its opt-out is caught
    field = next(f for f in rules.prefix_on if getattr(done, f))
    stripped = replace(done, **{field: getattr(done, field)[len(AD_PREFIX) :]})
    assert "prefix" in {v.rule for v in violations(stripped, "advertising", channel, sender, UNSUBSCRIBE)}
    cut = replace(done, text=done.text.replace(rules.opt_out_mark, ""))
    assert "opt_out" in {v.rule for v in violations(cut, "advertising", channel, sender, UNSUBSCRIBE)}
