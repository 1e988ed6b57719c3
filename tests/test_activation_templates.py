"""Campaign templates: the sandbox, the customer's fields, recommended products, coupons, tracked
links, Korean as a person writes it, the carriers' byte counts, template errors naming the field
and line; the per-customer context built from a real (synthetic) shop and its stored recommender;
the per-customer preview."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shopmind.activation import (
    AD_PREFIX,
    CONTEXT_FIELDS,
    LinkToken,
    Sender,
    Template,
    carrier_bytes,
    check_template,
    coupon_code,
    customer_contexts,
    format_for,
    make_token,
    preview,
    read_token,
    render,
    shop_recommender,
    unsendable,
)
from shopmind.core import InvalidInputError
from shopmind.pipeline import (
    latest_scores,
    load_demo_shop,
    run_customer_intelligence,
    run_preferences,
    run_recommender,
)
from shopmind.store import Store, Workspace
from tests.shops import START

SENDER = Sender("마음상점", "02-123-4567", opt_out_phone="080-123-4567")
KIMCHI = {
    "name": "종가 포기김치 1kg",
    "price": 13900.0,
    "reason": "자주 함께 구매한 상품",
    "product_id": "P1",
}
RAMEN = {"name": "농심 신라면", "price": 4500.0, "reason": "인기 상품", "product_id": "P2"}


def context(**extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {name: None for name in CONTEXT_FIELDS if name != "link"}
    base.update(
        name_or_customer="고객", recommended=[KIMCHI, RAMEN], coupon="WB-7K2MQ9XZ", locale="ko", lists=[]
    )
    base.update(extra)
    return base


# -- the carriers' count ------------------------------------------------------------------------
def test_carrier_bytes_count_korean_as_two_and_ascii_as_one() -> None:
    assert carrier_bytes("abc") == 3
    assert carrier_bytes("안녕하세요") == 10
    assert carrier_bytes("쿠폰 A1") == 4 + 1 + 2


def test_characters_euc_kr_lacks_count_two_not_their_escape_or_replacement() -> None:
    # the first cut counted "똠" (only in CP949) as Python's 8-byte EUC-KR escape and an emoji as
    # the 1 byte of its "?" replacement; the gateways send 똠 in 2 bytes of CP949
    assert carrier_bytes("똠") == 2
    assert carrier_bytes("😀") == 2
    assert unsendable("똠양꿍 😀 세일 😀") == ["😀"]


def test_ninety_bytes_is_an_sms_and_ninety_one_an_lms() -> None:
    assert format_for("sms", "advertising", "가" * 45) == "sms"
    assert format_for("sms", "advertising", "가" * 45 + "a") == "lms"
    assert format_for("sms", "advertising", "짧은 글", image_url="https://shop.example/a.jpg") == "mms"
    assert format_for("kakao", "informational", "주문 안내") == "alimtalk"
    assert format_for("kakao", "advertising", "주문 안내") == "brand"
    assert format_for("email", "advertising", "x") == "email"
    with pytest.raises(InvalidInputError) as err:
        render(Template("x"), context(), "fax")
    assert err.value.field == "channel"


@given(st.text(alphabet=st.sampled_from("가나다라마바사 abcXYZ019!?\n"), max_size=120))
@settings(max_examples=80, deadline=None, derandomize=True)
def test_a_rendered_text_message_takes_the_format_its_bytes_allow(body: str) -> None:
    draft = render(Template(body), context(), "sms")
    assert draft.format == ("sms" if carrier_bytes(draft.text) <= 90 else "lms")
    assert carrier_bytes(draft.text) == sum(1 if ord(c) < 128 else 2 for c in draft.text)


def test_a_text_longer_than_an_lms_is_refused_naming_the_field() -> None:
    with pytest.raises(InvalidInputError) as err:
        render(Template("가" * 1001), context(), "sms", where="steps[0].messages.sms")
    assert err.value.field == "steps[0].messages.sms.text"
    assert "2,002 bytes" in str(err.value)


# -- the customer's fields, written as a person writes Korean --------------------------------------
def test_the_fields_recommended_products_and_coupon_are_written_for_the_customer() -> None:
    text = (
        "{{ name_or_customer }}님, {{ recommended[0].name }}을(를) 다시 만나 보세요.\n"
        "{% for item in recommended %}- {{ item.name }} {{ item.price | won }} ({{ item.reason }})\n{% endfor %}"
        "쿠폰 {{ coupon }}"
    )
    draft = render(Template(text), context(), "sms")
    assert draft.text == (
        "고객님, 종가 포기김치 1kg을 다시 만나 보세요.\n"
        "- 종가 포기김치 1kg 13,900원 (자주 함께 구매한 상품)\n"
        "- 농심 신라면 4,500원 (인기 상품)\n"
        "쿠폰 WB-7K2MQ9XZ"
    )


def test_particles_follow_the_word_they_attach_to() -> None:
    text = "{{ recommended[1].name }}을(를) 담으셨네요. {{ recommended[1].name | josa('과/와') }} 어울리는 {{ recommended[0].name | josa('이/가') }} 있어요"
    assert render(Template(text), context(), "sms").text == (
        "농심 신라면을 담으셨네요. 농심 신라면과 어울리는 종가 포기김치 1kg이 있어요"
    )
    kimchi_first = context(recommended=[{"name": "포기김치"}])
    assert render(Template("{{ recommended[0].name }}을(를) 골랐어요"), kimchi_first, "sms").text == (
        "포기김치를 골랐어요"
    )


def test_english_templates_write_won_the_english_way_and_keep_their_brackets() -> None:
    en = context(locale="en", name_or_customer="customer")
    draft = render(
        Template("Dear {{ name_or_customer }}, {{ recommended[0].price | won }} 을(를)", locale="en"),
        en,
        "email",
    )
    assert draft.text == "Dear customer, ₩13,900 을(를)"  # no Korean particle rewriting in English
    assert draft.locale == "en"


def test_a_missing_fact_is_written_as_nothing_not_none() -> None:
    draft = render(
        Template("[{{ region }}][{{ recommended[5].name }}][{{ scores.churn_risk }}]"), context(), "sms"
    )
    assert draft.text == "[][][]"


def test_html_is_escaped_and_text_is_not() -> None:
    sneaky = context(recommended=[{"name": "<b>김치</b> & 라면"}])
    template = Template("{{ recommended[0].name }}", subject="s", html="<p>{{ recommended[0].name }}</p>")
    draft = render(template, sneaky, "email")
    assert draft.text == "<b>김치</b> & 라면"
    assert draft.html == "<p>&lt;b&gt;김치&lt;/b&gt; &amp; 라면</p>"


# -- tracked links ------------------------------------------------------------------------------
def test_links_record_their_targets_in_order_and_write_the_callers_redirects() -> None:
    calls: list[tuple[int, str]] = []

    def tracked(index: int, target: str) -> str:
        calls.append((index, target))
        return f"https://s.example/m/c/{index}"

    template = Template(
        "{{ link('https://shop.example/p/1') }} {{ link('https://shop.example/sale') }} {{ link('https://shop.example/p/1') }}",
        subject="{{ link('https://shop.example/sale') }}",
        html="<a href=\"{{ link('https://shop.example/p/2?a=1&b=2') }}\">x</a>",
    )
    draft = render(template, context(), "email", tracked=tracked)
    assert draft.links == (
        "https://shop.example/p/1",
        "https://shop.example/sale",
        "https://shop.example/p/2?a=1&b=2",
    )
    assert draft.text == "https://s.example/m/c/0 https://s.example/m/c/1 https://s.example/m/c/0"
    assert draft.subject == "https://s.example/m/c/1"
    assert draft.html == '<a href="https://s.example/m/c/2">x</a>'
    assert [i for i, _ in calls] == [0, 1, 0, 1, 2]


def test_without_a_tracker_a_link_is_its_target_and_still_recorded() -> None:
    draft = render(
        Template("{{ link(recommended[0].url) }}"),
        context(recommended=[{"url": "https://shop.example/p/9"}]),
        "sms",
    )
    assert draft.text == "https://shop.example/p/9"
    assert draft.links == ("https://shop.example/p/9",)


# -- template errors name the field and the line -------------------------------------------------
@pytest.mark.parametrize(
    ("source", "line", "says"),
    [
        ("안녕하세요\n{% if %}", 2, "Expected an expression"),  # syntax
        ("{{ coupon | shout }}", 1, "shout"),  # unknown filter
        ("첫 줄\n둘째 줄\n{{ nmae }}님", 3, "unknown field 'nmae'"),  # a field that does not exist
        ("{{ coupon.__class__.__mro__ }}", 1, "not allowed in a template"),  # the sandbox
        ("\n{{ recommended.append(1) }}", 2, "not allowed in a template"),  # the immutable sandbox
        ("{{ lipsum.__globals__ }}", 1, "not allowed in a template"),
        ("a\nb\n{{ link('javascript:alert(1)') }}", 3, "expected a web address"),  # not a web link
        ("{{ 1 / 0 }}", 1, "division by zero"),
    ],
)
def test_a_template_error_names_the_field_and_the_line(source: str, line: int, says: str) -> None:
    with pytest.raises(InvalidInputError) as err:
        render(Template(source), context(), "sms", where="steps[0].messages.sms")
    assert err.value.field == "steps[0].messages.sms.text"
    assert f"line {line}:" in str(err.value)
    assert says in str(err.value)


def test_errors_in_the_subject_and_html_name_those_fields() -> None:
    with pytest.raises(InvalidInputError) as err:
        render(
            Template("ok", subject="{{ coupon | nope }}"), context(), "email", where="steps[1].messages.email"
        )
    assert err.value.field == "steps[1].messages.email.subject"
    with pytest.raises(InvalidInputError) as err:
        render(Template("ok", subject="s", html="<p>\n{{ x.y }}</p>"), context(), "email", where="w")
    assert err.value.field == "w.html"
    assert "line 2:" in str(err.value)


def test_check_template_refuses_an_alimtalk_that_advertises() -> None:
    ad = Template("{{ name_or_customer }}님께 10% 할인 쿠폰을 드려요", template_code="WELCOME_01")
    errors = check_template(ad, "kakao", "informational", where="steps[0].messages.kakao")
    assert [e.field for e in errors] == ["steps[0].messages.kakao.text"]
    assert "쿠폰" in errors[0].reason and "할인" in errors[0].reason and "%" in errors[0].reason
    notice = Template(
        "{{ name_or_customer }}님, 주문하신 상품이 오늘 출발했습니다.", template_code="SHIPPED_01"
    )
    assert check_template(notice, "kakao", "informational") == []
    # the same words are fine in advertising, which goes as a 브랜드 메시지
    assert check_template(ad, "kakao", "advertising") == []
    unregistered = check_template(Template("배송이 시작되었습니다."), "kakao", "informational")
    assert [e.field for e in unregistered] == ["template_code"]


def test_check_template_wants_an_e_mail_subject_and_known_fields() -> None:
    errors = check_template(Template("{{ nmae }}"), "email", where="s")
    assert {e.field for e in errors} == {"s.text", "s.subject"}


# -- the per-customer context from a real shop ---------------------------------------------------
AS_OF = START + timedelta(days=45)


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """The synthetic shop with its customers understood and the recommender stored, as ``shopmind
    run`` leaves a workspace."""
    folder: Path = tmp_path_factory.mktemp("shop")
    ws = Workspace.init(folder)
    with ws.open_store() as store:
        load_demo_shop(store, customers=200, days=45, seed=3)
        run_customer_intelligence(store, AS_OF)
        run_preferences(store, AS_OF)
        run_recommender(store, AS_OF)
        yield store


def test_contexts_for_many_customers_agree_with_each_customers_own_facts(shop: Store) -> None:
    ids = [p for (p,) in shop.sql("SELECT DISTINCT profile_id FROM profiles ORDER BY 1 LIMIT 60")]
    ids.append("user:nobody-at-all")
    recommender = shop_recommender(shop)
    assert recommender is not None
    contexts = customer_contexts(
        shop, ids, as_of=AS_OF, recommender=recommender, recommended=3, shop="마음상점"
    )
    assert set(contexts) == set(ids)
    names = dict(shop.sql("SELECT product_id, name FROM products"))
    checked_segments = 0
    for pid in ids[:-1]:
        got = contexts[pid]
        assert set(got) == set(CONTEXT_FIELDS) - {"link"}
        scores, segments = latest_scores(shop, pid)
        assert got["scores"] == scores
        rfm = [s for s in segments if s not in ("clv_vip", "vip_at_risk", "could_become_vip")]
        assert got["segment"] == (rfm[0] if rfm else None)
        checked_segments += bool(rfm)
        habits = shop.profile_facts(pid, "habits") or {}
        assert got["send_hour"] == habits.get("send_hour")
        assert got["send_channel"] == habits.get("send_channel")
        taste = shop.profile_facts(pid, "taste") or {}
        assert got["favourite_category"] == taste.get("favourite_category")
        expected = recommender.recommend(pid, None, 3)
        assert [i["product_id"] for i in got["recommended"]] == [r.item for r in expected]
        assert [i["reason"] for i in got["recommended"]] == [r.reason.ko for r in expected]
        assert all(i["name"] == names[i["product_id"]] for i in got["recommended"])
        users = shop.sql(
            "SELECT identifier FROM profiles WHERE profile_id = ? AND kind = 'user' ORDER BY 1", [pid]
        )
        assert got["member_id"] == (users[0][0].removeprefix("user:") if users else None)
        assert got["shop"] == "마음상점"
    assert checked_segments > 10
    assert contexts["user:nobody-at-all"]["segment"] is None
    assert contexts["user:nobody-at-all"]["name_or_customer"] == "고객"


def test_a_context_knows_the_region_of_the_latest_visit(shop: Store) -> None:
    rows = shop.sql(
        """SELECT 'user:' || user_id, arg_max(region, event_time) FROM events
        WHERE user_id IS NOT NULL AND region IS NOT NULL AND event_time < ? GROUP BY 1 ORDER BY 1 LIMIT 20""",
        [AS_OF],
    )
    known = {p for (p,) in shop.sql("SELECT profile_id FROM profiles WHERE kind = 'user'")}
    wanted = {pid: region for pid, region in rows if pid in known}
    assert wanted
    contexts = customer_contexts(shop, list(wanted), as_of=AS_OF)
    assert {pid: c["region"] for pid, c in contexts.items()} == wanted


def test_english_contexts_carry_english_reasons_and_segment_names(shop: Store) -> None:
    ids = [p for (p,) in shop.sql("SELECT profile_id FROM segment_members GROUP BY 1 ORDER BY 1 LIMIT 10")]
    contexts = customer_contexts(shop, ids, as_of=AS_OF, locale="en", recommender=shop_recommender(shop))
    for ctx in contexts.values():
        assert ctx["name_or_customer"] == "customer"
        for item in ctx["recommended"]:
            assert not re.search("[가-힣]", item["reason"]), item["reason"]
        if ctx["segment_name"]:
            assert not re.search("[가-힣]", ctx["segment_name"])


def test_coupon_codes_are_per_customer_stable_and_unguessable() -> None:
    a = coupon_code("WB-{code}", b"secret", "campaign-1|user:a")
    assert a == coupon_code("WB-{code}", b"secret", "campaign-1|user:a")
    assert a != coupon_code("WB-{code}", b"secret", "campaign-1|user:b")
    assert a != coupon_code("WB-{code}", b"other", "campaign-1|user:a")
    assert re.fullmatch(r"WB-[2-9A-HJKMNP-Z]{8}", a or "")
    assert coupon_code("WELCOME10", b"secret", "x") == "WELCOME10"
    assert coupon_code(None, b"secret", "x") is None
    codes = {coupon_code("{code}", b"s", f"c|{i}") for i in range(2000)}
    assert len(codes) == 2000


def test_the_preview_shows_each_customer_their_own_finished_message(shop: Store) -> None:
    ids = [
        p
        for (p,) in shop.sql(
            "SELECT DISTINCT profile_id FROM profiles WHERE kind = 'user' ORDER BY 1 LIMIT 4"
        )
    ]
    template = Template(
        "{{ name_or_customer }}님을 위한 추천: {{ recommended[0].name }} ({{ recommended[0].reason }})\n쿠폰 {{ coupon }}"
    )
    recommender = shop_recommender(shop)
    assert recommender is not None
    names = dict(shop.sql("SELECT product_id, name FROM products"))
    shown = preview(
        shop,
        template,
        ids,
        "sms",
        "advertising",
        SENDER,
        as_of=AS_OF,
        recommender=recommender,
        coupon="WB-{code}",
    )
    assert [p.profile_id for p in shown] == ids
    for p in shown:
        first = recommender.recommend(p.profile_id, None, 1)[0]
        assert f"추천: {names[first.item]} ({first.reason.ko})" in p.draft.text
        assert p.draft.text.startswith(AD_PREFIX)
        assert "무료수신거부 080-123-4567" in p.draft.text
        assert p.violations == ()
        assert p.carrier_bytes == carrier_bytes(p.draft.text)
        assert p.format == ("sms" if p.carrier_bytes <= 90 else "lms")
        assert p.to_dict()["text"] == p.draft.text
    assert len({p.draft.text for p in shown}) > 1  # coupons (at least) differ per customer


#: pieces of templates, well and badly formed, to throw at the renderer
TEMPLATE_PIECES = [
    *"{}%#()[]|.,'\"~+-*/ _ax01\n",
    *(
        "coupon",
        "recommended",
        "link",
        "if ",
        "for ",
        " in ",
        "endfor",
        "endif",
        "set ",
        "__class__",
        "won",
        "josa",
    ),
]


@given(st.lists(st.sampled_from(TEMPLATE_PIECES), max_size=30).map("".join))
@settings(max_examples=400, deadline=None, derandomize=True)
def test_any_template_either_renders_or_is_refused_naming_its_field(source: str) -> None:
    try:
        render(Template(source), context(), "sms", where="steps[0].messages.sms")
    except InvalidInputError as exc:
        assert exc.field == "steps[0].messages.sms.text"


def test_a_tracked_link_is_a_signed_click_token_pointing_back_at_its_target() -> None:
    key = b"k" * 32
    base = "https://shop.example/m/c/"

    def tracked(index: int, target: str) -> str:
        return base + make_token(key, LinkToken("click", "c1:user:a:s1", index))

    template = Template("{{ link('https://shop.example/p/1') }}\n{{ link('https://shop.example/coupon') }}")
    draft = render(template, context(), "sms", tracked=tracked)
    for line, target in zip(
        draft.text.splitlines(), ("https://shop.example/p/1", "https://shop.example/coupon"), strict=True
    ):
        token = read_token(key, line.removeprefix(base))
        assert token.action == "click" and token.message_key == "c1:user:a:s1"
        assert token.target is not None and draft.links[token.target] == target


# -- a template cannot make the renderer build huge text or loop without end ----------------------
@pytest.mark.parametrize(
    "source",
    [
        '{{ "x" * 100000000 }}',  # one multiplication, 100 MB
        '{{ "%100000000d" % 1 }}',  # a printf width
        '{{ "%*d" % (100000000, 1) }}',  # a width given as an argument
        '{{ "{:>100000000}".format(1) }}',  # a format width
        '{{ "{:>{}}".format(1, 100000000) }}',  # a nested width
        '{{ "x".ljust(100000000) }}',  # a padding method
        '{{ "x" | center(100000000) }}',  # a padding filter
        '{{ "x" | indent(100000000, true) }}\n',
        '{{ "%100000000d" | format(1) }}',
        "{{ lipsum(100000) }}",
        "{{ 10 ** 100000000 }}",  # a number too large to print
        # many pieces, each small: the output grows past what any message is
        "{% for a in range(100000) %}{% for b in range(100) %}xxxxxxxxxx{% endfor %}{% endfor %}",
        # nothing written, but 10 billion steps
        "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}",
        '{% for a in "x" * 99999 %}{% for b in "x" * 99999 %}{% endfor %}{% endfor %}',
    ],
)
def test_a_template_cannot_exhaust_the_renderer(source: str) -> None:
    with pytest.raises(InvalidInputError) as err:
        render(Template(source), context(), "email", where="steps[0].messages.email")
    assert err.value.field == "steps[0].messages.email.text"
    assert "too" in str(err.value)


def test_ordinary_loops_widths_and_repeats_still_render() -> None:
    draft = render(
        Template(
            '{{ "-" * 20 }}\n{% for item in recommended %}{{ "%-10s" % item.name }}|{{ "{:>8}".format(item.price) }}\n'
            "{% endfor %}{% for i in range(3) %}{{ i }}{% endfor %}"
        ),
        context(recommended=[{"name": "김치", "price": 13900}, {"name": "라면", "price": 4500}]),
        "email",
    )
    assert draft.text.splitlines() == ["-" * 20, "김치        |   13900", "라면        |    4500", "012"]


def test_loops_keep_their_else_length_and_last_under_the_step_budget() -> None:
    source = (
        "{% for x in recommended %}a{% else %}none{% endfor %}|"
        "{% for x in lists %}{{ loop.index }}/{{ loop.length }}{{ ',' if not loop.last }}{% endfor %}|"
        '{{ "%05.1f" % churn_risk }}|{{ "{:,}".format(clv_12m) }}'
    )
    draft = render(
        Template(source),
        context(recommended=[], lists=["a", "b", "c"], churn_risk=3.14159, clv_12m=1234567),
        "email",
    )
    assert draft.text == "none|1/3,2/3,3/3|003.1|1,234,567"
