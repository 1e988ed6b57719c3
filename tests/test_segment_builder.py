"""The dashboard's segment builder without a browser: its form rows read into the definition the
library counts, every problem named by row and field with a message in both languages; a
definition told in Korean a native would write (particles by the word, the catalogue's names, no
code left) and in English; a saved segment as an export audience; its membership over time."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from shopmind.audiences import export_file, segment_audience
from shopmind.core import InvalidInputError, with_particle
from shopmind.segments import (
    PROFILE_FIELDS,
    SEGMENTS,
    create_segment,
    field_name,
    in_words,
    materialize,
    member_list,
    parse_definition,
)
from shopmind.store import Store, Workspace, export_log, membership_timeline
from shopmind.web import MESSAGES
from shopmind.web._segment_form import Problem, definition_data, locate
from tests.shops import START, demo_workspace
from tests.test_korean_text import RAW_TERMS, problems

THREE = {
    "name_ko": "자주 둘러본 고객",
    "name_en": "Frequent browsers",
    "description_ko": "",
    "match": "all",
    "conditions": [
        {
            "kind": "event",
            "type": "product_view",
            "count_op": "at_least",
            "count": "3",
            "days": "30",
            "not": False,
        },
        {"kind": "profile", "field": "purchase_probability_7d", "low": "30", "high": "60", "not": False},
        {"kind": "segment", "segment": "vip", "not": True},
    ],
}


def _keys(found: list[Problem]) -> set[tuple[int | None, str, str]]:
    return {(p.row, p.field, p.key) for p in found}


# -- the form -------------------------------------------------------------------------------------
def test_three_rows_become_the_definition_the_library_reads() -> None:
    data, found = definition_data(THREE, require_name=True)
    assert found == [] and data is not None
    assert data == {
        "name": {"ko": "자주 둘러본 고객", "en": "Frequent browsers"},
        "conditions": [
            {
                "kind": "event",
                "type": "product_view",
                "count": {"at_least": 3},
                "window": {"kind": "last", "days": 30},
            },
            {"kind": "profile", "field": "purchase_probability_7d", "op": "between", "value": [0.3, 0.6]},
            {"kind": "not", "condition": {"kind": "in_segment", "segment": "vip"}},
        ],
        "match": "all",
    }
    parse_definition(data)  # and the definition language accepts it


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        ({"kind": "event", "count": "x"}, ("count", "sg.err.whole")),
        ({"kind": "event", "count": "2.5"}, ("count", "sg.err.whole")),
        ({"kind": "event", "count": "0"}, ("count", "sg.err.range")),  # at least 0 holds for no one's sake
        ({"kind": "event", "days": "0"}, ("days", "sg.err.range")),
        ({"kind": "event", "days": "99999"}, ("days", "sg.err.range")),
        ({"kind": "event", "count_op": "more"}, ("count_op", "sg.err.choose")),
        ({"kind": "event", "type": "order_completed", "page": "/x"}, ("page", "sg.err.purchase_page")),
        ({"kind": "event", "type": "order_completed", "name": "x"}, ("name", "sg.err.purchase_name")),
        ({"kind": "event", "category": "가" * 501}, ("category", "sg.err.too_long")),
        ({"kind": "profile", "field": "nope"}, ("field", "sg.err.choose")),
        ({"kind": "profile", "field": "churn_risk"}, ("low", "sg.err.range_needed")),
        (
            {"kind": "profile", "field": "churn_risk", "low": "80", "high": "20"},
            ("high", "sg.err.low_above_high"),
        ),
        ({"kind": "profile", "field": "churn_risk", "low": "120"}, ("low", "sg.err.range")),
        ({"kind": "profile", "field": "hour", "high": "24"}, ("high", "sg.err.range")),
        ({"kind": "profile", "field": "signed_up", "low": "2026-02-31"}, ("low", "sg.err.date")),
        ({"kind": "profile", "field": "gender", "value": "robot"}, ("value", "sg.err.choose")),
        ({"kind": "profile", "field": "region", "value": " "}, ("value", "sg.err.required")),
        ({"kind": "profile", "field": "member"}, ("value", "sg.err.choose")),
        ({"kind": "segment", "segment": "vvip"}, ("segment", "sg.err.choose")),
        ({"kind": "moved", "from": "vip", "to": "vip"}, ("to", "sg.err.same_segment")),
        (
            {"kind": "consent", "channel": "fax", "purpose": "advertising", "granted": "yes"},
            ("channel", "sg.err.choose"),
        ),
        ({"kind": "telepathy"}, ("kind", "sg.err.choose")),
    ],
)
def test_each_bad_field_is_named_with_a_message_in_both_languages(
    row: dict[str, Any], problem: tuple[str, str]
) -> None:
    data, found = definition_data(
        {"conditions": [{"kind": "segment", "segment": "vip"}, row]}, require_name=False
    )
    assert data is None
    assert (1, *problem) in _keys(found), found
    for p in found:
        ko, en = MESSAGES[p.key]
        assert ko.format(**p.values) and en.format(**p.values)


def test_the_form_as_a_whole() -> None:
    assert _keys(definition_data({**THREE, "name_ko": "", "name_en": ""}, require_name=True)[1]) == {
        (None, "name_ko", "sg.err.name")
    }
    assert definition_data({**THREE, "name_ko": "", "name_en": ""}, require_name=False)[0] is not None
    for state in (None, [], "x", {"conditions": []}, {"conditions": "x"}):
        data, found = definition_data(state, require_name=False)
        assert data is None and found[0].key == "sg.err.no_conditions"
    data, found = definition_data(
        {"conditions": [{"kind": "segment", "segment": "vip"}] * 101}, require_name=False
    )
    assert data is None and found[0].key == "sg.err.too_many"
    data, _ = definition_data({"conditions": [7, {"kind": "segment", "segment": "vip"}]}, require_name=False)
    assert data is None  # a row that is not an object is a row without a kind
    data, _ = definition_data({**THREE, "match": "any"}, require_name=False)
    assert data is not None and data["match"] == "any"


def test_profile_fields_read_by_their_type() -> None:
    def one(row: dict[str, Any]) -> Any:
        data, found = definition_data({"conditions": [{"kind": "profile", **row}]}, require_name=False)
        assert data is not None, found
        return data["conditions"][0]

    assert one({"field": "member", "value": "false"}) == {
        "kind": "profile",
        "field": "member",
        "value": False,
    }
    assert one({"field": "device", "value": "mobile"})["value"] == "mobile"
    assert one({"field": "region", "value": "서울"})["value"] == "서울"
    assert one({"field": "clv_12m", "low": "1,000,000"}) == {
        "kind": "profile",
        "field": "clv_12m",
        "op": ">=",
        "value": 1_000_000,
    }
    assert one({"field": "churn_risk", "high": "50"})["value"] == 0.5  # typed in percent
    assert one({"field": "hour", "low": "18", "high": "23"})["value"] == [18, 23]
    assert one({"field": "signed_up", "low": "2026-01-15"})["value"] == "2026-01-15"
    # every field the language knows can be built from the form
    for key, f in PROFILE_FIELDS.items():
        row: dict[str, Any] = {"field": key}
        if f.type == "bool":
            row["value"] = "true"
        elif f.type == "text":
            row["value"] = f.values[0] if f.values else "x"
        elif f.type == "date":
            row["low"] = "2026-01-01"
        else:
            row["low"] = "1"
        parse_definition({"name": {"ko": "x"}, "conditions": [one(row)]})


def test_the_librarys_field_paths_point_at_rows() -> None:
    assert locate("conditions[2].window.days") == (2, "days")
    assert locate("conditions[0].condition.segment") == (0, "segment")
    assert locate("conditions[1].count.at_least") == (1, "count")
    assert locate("conditions[3]") == (3, "kind")
    assert locate("name") == (None, "name_ko")
    assert locate("version") == (None, "conditions")


# -- in words -------------------------------------------------------------------------------------
EVERYTHING: dict[str, Any] = {
    "name": {"ko": "모든 조건"},
    "conditions": [
        {
            "kind": "event",
            "type": "product_view",
            "category": "라면",
            "count": {"at_least": 3},
            "window": {"kind": "last", "days": 30},
        },
        {
            "kind": "event",
            "name": "문의하기 클릭",
            "count": {"at_least": 2},
            "window": {"kind": "last", "days": 7},
        },
        {"kind": "event", "type": "page_view", "page": "/event/*", "window": {"kind": "last", "hours": 6}},
        {
            "kind": "not",
            "condition": {
                "kind": "event",
                "type": "banner_click",
                "where": [{"property": "banner_id", "op": "in", "value": ["겨울세일", "봄세일"]}],
            },
        },
        {
            "kind": "event",
            "type": "banner_click",
            "count": {"at_most": 0},
            "window": {"kind": "last", "days": 14},
        },
        {"kind": "event", "type": "order_completed", "category": "디지털", "count": {"exactly": 1}},
        {
            "kind": "event",
            "type": "product_view",
            "count": {"at_least": 8, "distinct": "category"},
            "window": {"kind": "since_first_visit", "days": 3},
        },
        {
            "kind": "event",
            "type": "search",
            "where": [{"property": "query", "op": "contains", "value": "김치"}],
            "window": {"kind": "between", "start": "2026-03-01", "end": "2026-03-31"},
        },
        {
            "kind": "sequence",
            "steps": [{"type": "banner_impression"}, {"type": "banner_click"}],
            "within_minutes": 30,
        },
        {"kind": "profile", "field": "purchase_probability_7d", "op": "between", "value": [0.3, 0.6]},
        {"kind": "profile", "field": "device", "value": "mobile"},
        {"kind": "profile", "field": "hour", "op": "between", "value": [18, 23]},
        {"kind": "profile", "field": "member", "value": True},
        {"kind": "profile", "field": "buyer", "value": False},
        {"kind": "profile", "field": "region", "op": "in", "value": ["서울", "부산"]},
        {"kind": "profile", "field": "clv_12m", "op": ">=", "value": 100000},
        {"kind": "profile", "field": "signed_up", "op": ">=", "value": "2026-01-15"},
        {"kind": "profile", "field": "gender", "op": "!=", "value": "male"},
        {"kind": "profile", "field": "age_band", "value": "60s+"},
        {"kind": "profile", "field": "price_band", "value": "high"},
        {"kind": "profile", "field": "send_channel", "value": "sms"},
        {"kind": "consent", "channel": "sms"},
        {"kind": "consent", "channel": "app_push", "purpose": "night_advertising", "granted": False},
        {"kind": "in_segment", "segment": "could_become_vip"},
        {"kind": "moved", "from": "vip", "to": "dormant_vip"},
        {"kind": "moved", "from": "loyal", "to": "potential_vip"},
        {"kind": "in_saved_segment", "segment_id": "abc123"},
        {
            "kind": "any",
            "conditions": [
                {"kind": "in_segment", "segment": "loyal"},
                {"kind": "profile", "field": "age_band", "value": "20s"},
            ],
        },
    ],
}


def test_a_definition_in_korean_reads_as_a_native_wrote_it() -> None:
    words = in_words(parse_definition(EVERYTHING), "ko", {"abc123": "봄 캠페인 반응 고객"})
    lines = [w.text for w in words.children]
    assert words.text == "다음 조건을 모두 만족하는 고객:"
    assert lines[:9] == [
        "최근 30일 동안 '라면' 카테고리의 상품 조회 3회 이상",
        "최근 7일 동안 '문의하기 클릭' 이벤트 2회 이상",
        "최근 6시간 동안 '/event/*' 페이지 조회 1회 이상",
        "제외: 지금까지 배너 클릭(배너가 '겨울세일', '봄세일' 중 하나) 1회 이상",
        "최근 14일 동안 배너 클릭 없음",
        "지금까지 '디지털' 카테고리의 주문 완료 정확히 1회",
        "첫 방문 후 3일 안에 서로 다른 카테고리 8개 이상에서 상품 조회",
        "2026-03-01부터 2026-03-31까지 검색(검색어에 '김치' 포함) 1회 이상",
        "지금까지 배너 노출 → 배너 클릭 순서로, 처음 행동 후 30분 안에",
    ]
    assert lines[9:] == [
        "7일 내 구매 확률이 30%~60%",  # 률 ends in ㄹ: 이
        "주로 쓰는 기기가 모바일",  # 기 ends in a vowel: 가
        "주로 방문하는 시각이 18시~23시",
        "회원",
        "구매한 적 없음",
        "지역이 '서울', '부산' 중 하나",
        "12개월 CLV가 ₩100,000 이상",  # CLV is read 씨엘브이: 가
        "가입일이 2026-01-15 이후",
        "성별이 남성이 아님",
        "연령대가 60대 이상",
        "가격대가 고가 상품 위주",
        "메시지에 가장 잘 반응하는 채널이 문자",
        "문자 광고성 정보 수신 동의 있음",
        "앱 푸시 야간 광고성 정보 수신 동의 없음",
        "지금 'VIP 유사 고객' 세그먼트에 속함",
        "최근 두 번의 분석 사이에 'RFM VIP'에서 '휴면 VIP'로 이동함",
        "최근 두 번의 분석 사이에 '충성 고객'에서 'VIP 후보'로 이동함",
        "저장한 세그먼트 '봄 캠페인 반응 고객'의 고객",
        "다음 중 하나 이상 만족:",
    ]
    assert [c.text for c in words.children[-1].children] == [
        "지금 '충성 고객' 세그먼트에 속함",
        "연령대가 20대",
    ]
    # the shop's own names are quoted, as they were written (a URL pattern, a category)
    ui = re.sub(r"'[^']*'", "''", "\n".join(words.lines()))
    assert not problems(ui, korean=True), problems(ui, korean=True)
    assert with_particle("'VIP 후보'", "으로/로").endswith("로")


def test_a_definition_in_english_names_no_code() -> None:
    words = in_words(parse_definition(EVERYTHING), "en")
    text = "\n".join(words.lines())
    assert "Product view in the category '라면' at least 3 times in the last 30 days" in text
    assert "Banner clicked: never in the last 14 days" in text
    assert "Product view across at least 8 different categories within 3 days of their first visit" in text
    assert "P(buy within 7 days) is 30% to 60%" in text and "Usual device is mobile" in text
    assert "Moved from RFM VIP to dormant VIP between the last two analysis runs" in text
    assert "A member of the saved segment 'abc123'" in text  # a name unknown: the id
    found = [p for p in problems(text, korean=False) if "raw code" in p]
    assert not found, found
    assert not any(code in text for code in RAW_TERMS)


def test_one_name_per_concept() -> None:
    """A profile field carries the catalogue's name, as the score's name elsewhere on the pages."""
    assert field_name("clv_12m", "ko") == MESSAGES["sc.clv_12m"][0]
    assert field_name("churn_risk", "ko") == MESSAGES["sc.churn_risk"][0]
    assert field_name("purchase_probability_7d", "ko") == MESSAGES["sc.purchase_probability_7d"][0]
    assert MESSAGES["c3x.band.high"][0] in "\n".join(in_words(parse_definition(EVERYTHING), "ko").lines())


# -- a saved segment: export audience and membership over time --------------------------------------
@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    shop = demo_workspace(tmp_path_factory.mktemp("builder") / "shop", customers=200, days=30)
    with Workspace(shop.folder).open_store() as found:
        yield found


def test_a_saved_segment_is_an_export_audience(store: Store, tmp_path: Path) -> None:
    as_of = START + timedelta(days=30)
    definition = {
        "name": {"ko": "최근 상품을 본 고객"},
        "conditions": [{"kind": "event", "type": "product_view", "window": {"kind": "last", "days": 7}}],
    }
    saved = create_segment(store, definition, as_of=as_of)
    _, rows = member_list(store, saved.segment_id, limit=None)
    audience = segment_audience(store, saved.segment_id)
    assert sorted(audience.profile_ids.to_pylist()) == sorted(r["profile_id"] for r in rows) and rows
    out = tmp_path / "segment.csv"
    hasher = Workspace(Path(store.path).parent).hasher()
    record = export_file(store, audience, "csv", out, hasher=hasher, actor="test")
    with out.open(encoding="utf-8-sig") as f:
        assert sorted(r["profile_id"] for r in csv.DictReader(f)) == sorted(r["profile_id"] for r in rows)
    assert export_log(store)[0].export_id == record.export_id
    assert record.audience == f"saved segment {saved.segment_id}"
    with pytest.raises(InvalidInputError) as refused:
        segment_audience(store, "no-such-segment")
    assert refused.value.errors[0].field == "segment"
    assert "saved segment" in refused.value.errors[0].reason and "vip" in refused.value.errors[0].reason
    assert set(SEGMENTS) <= set(re.findall(r"[a-z_]+", refused.value.errors[0].reason))


def test_membership_over_time_counts_who_entered_and_left_each_day(store: Store) -> None:
    definition = {
        "name": {"en": "Viewed a product in the last 2 days"},
        "conditions": [{"kind": "event", "type": "product_view", "window": {"kind": "last", "days": 2}}],
    }
    days = [START + timedelta(days=d, hours=3) for d in (10, 11, 20)]
    saved = create_segment(store, definition, as_of=days[0])
    previous: set[str] = set()
    expected = []
    for i, at in enumerate(days):
        if i:
            materialize(store, saved.segment_id, as_of=at)
        _, rows = member_list(store, saved.segment_id, limit=None)
        now = {r["profile_id"] for r in rows}
        expected.append((at.date(), len(now - previous), len(previous - now), len(now)))
        previous = now
    found = membership_timeline(store, saved.segment_id)
    # 03:00 UTC is noon in Seoul: the same day
    assert [(d.day, d.entered, d.exited, d.members) for d in found] == expected
    assert membership_timeline(store, saved.segment_id, days=1) == found[-1:]
    assert membership_timeline(store, "nothing") == []
    assert datetime.now(UTC) > days[-1]


def test_the_page_counts_a_history_as_of_its_newest_data_and_a_live_shop_as_of_now(store: Store) -> None:
    """As of now, "the last 30 days" of the demo shop (its history ended months ago) finds nobody:
    the page counts as of the later of its newest event and newest run; a live shop, as of now."""
    from shopmind.web._segments import _counting_moment

    newest_event = store.scalar("SELECT max(event_time) FROM events")
    newest_run = store.scalar("SELECT max(as_of) FROM job_runs WHERE status = 'ok'")
    history_end = max(newest_event, newest_run)
    assert _counting_moment(store, history_end + timedelta(days=200)) == history_end
    live = history_end + timedelta(hours=3)  # something happened within the day: the shop is live
    assert _counting_moment(store, live) == live
