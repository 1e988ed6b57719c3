"""Korean particles follow the word as it is read: Hangul by its final consonant, numbers, units and
Latin letters by their Korean reading (issue 17: "1kg을(를)" must print as "1kg을")."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shopmind.core import particle, resolve_particles, with_particle

GOLDEN = [
    # (word, particle, expected form)
    ("김치", "을/를", "를"),
    ("라면", "을/를", "을"),
    ("농심 신라면 멀티팩 5입", "과/와", "과"),  # 입 closes
    ("종가 포기김치 1kg", "을/를", "을"),  # 킬로그램
    ("종가 포기김치 500g", "이/가", "이"),  # 그램
    ("생수 2L", "을/를", "를"),  # 리터
    ("우유 1000ml", "은/는", "는"),  # 밀리리터
    ("책상 120cm", "과/와", "와"),  # 센티미터
    ("할인 10%", "이/가", "가"),  # 퍼센트
    ("'abc'", "은/는", "는"),  # 에이비씨
    ("VIP", "을/를", "를"),  # 브이아이피
    ("RFM", "으로/로", "으로"),  # 알에프엠
    ("URL", "으로/로", "로"),  # 엘: ㄹ takes 로
    ("L", "이/가", "이"),
    ("M", "은/는", "은"),
    ("A", "은/는", "는"),
    ("R", "과/와", "과"),
    ("서울", "으로/로", "로"),  # ㄹ takes 로
    ("부산", "으로/로", "으로"),
    ("제주", "으로/로", "로"),
    ("1", "이/가", "이"),  # 일
    ("2", "이/가", "가"),  # 이
    ("3", "을/를", "을"),  # 삼
    ("6", "을/를", "을"),  # 육
    ("7", "으로/로", "로"),  # 칠: ㄹ
    ("9", "은/는", "는"),  # 구
    ("10", "은/는", "은"),  # 십
    ("100", "으로/로", "으로"),  # 백
    ("1,000", "은/는", "은"),  # 천
    ("20000", "이/가", "이"),  # 이만
    ("100000000", "이/가", "이"),  # 일억
    ("0", "이/가", "이"),  # 영
    ("1.5", "은/는", "는"),  # 일 점 오
    ("2.0", "은/는", "은"),  # 이 점 영
    ("shop", "을/를", "을"),  # 숍
    ("mall", "으로/로", "로"),  # 몰
    ("app", "으로/로", "으로"),  # 앱
    ("email", "으로/로", "로"),  # 이메일
    ("mobile", "으로/로", "로"),  # 모바일
    ("desktop", "과/와", "과"),  # 데스크톱
    ("push", "으로/로", "로"),  # 푸시
    ("coupon", "을/를", "을"),  # 쿠폰
    ("SMS", "으로/로", "로"),  # 에스엠에스
    ("서울(Seoul)", "은/는", "은"),  # the parenthesis is a remark
    ("「신라면」", "을/를", "을"),
    ("₩", "으로/로", "으로"),  # 원
]


@pytest.mark.parametrize(("word", "which", "expected"), GOLDEN)
def test_golden_words(word: str, which: str, expected: str) -> None:
    assert particle(word, which) == expected


def test_every_spelling_of_a_particle_is_understood() -> None:
    for spelling in ("을/를", "를/을", "을(를)", "를(을)"):
        assert with_particle("라면", spelling) == "라면을"
    for spelling in ("과/와", "와/과", "와(과)", "과(와)"):
        assert with_particle("김치", spelling) == "김치와"
    assert with_particle("물", "(으)로") == "물로"
    assert with_particle("밥", "(으)로") == "밥으로"
    with pytest.raises(ValueError, match="unknown particle"):
        particle("김치", "에게/한테")


def test_placeholders_in_a_sentence_are_resolved() -> None:
    text = "농심 신라면 멀티팩 5입와(과) 자주 함께 구매 · 종가 포기김치 1kg을(를) 고른 고객이 · 'abc'은(는) · 서울(으)로"
    assert resolve_particles(text) == (
        "농심 신라면 멀티팩 5입과 자주 함께 구매 · 종가 포기김치 1kg을 고른 고객이 · 'abc'는 · 서울로"
    )


# -- properties --------------------------------------------------------------------------------
_SYLLABLES = st.integers(0xAC00, 0xD7A3).map(chr)


@given(prefix=st.text(max_size=8), syllable=_SYLLABLES)
@settings(max_examples=300, deadline=None)
def test_a_hangul_word_takes_its_particle_from_its_last_syllable(prefix: str, syllable: str) -> None:
    final = (ord(syllable) - 0xAC00) % 28
    word = prefix + syllable
    assert particle(word, "을/를") == ("를" if final == 0 else "을")
    assert particle(word, "과/와") == ("와" if final == 0 else "과")
    assert particle(word, "(으)로") == ("로" if final in (0, 8) else "으로")


_DIGITS = "영일이삼사오육칠팔구"


def _read(n: int) -> str:
    """A Sino-Korean reading of ``n``, written independently of the code under test."""
    if n == 0:
        return "영"
    words = []
    for unit_index, big in enumerate(["", "만", "억", "조"]):
        group = (n // 10 ** (4 * unit_index)) % 10000
        if not group:
            continue
        part = ""
        for power, small in ((3, "천"), (2, "백"), (1, "십"), (0, "")):
            digit = (group // 10**power) % 10
            if digit:
                part += ("" if digit == 1 and power else _DIGITS[digit]) + small
        words.append(part + big)
    return "".join(reversed(words))


@given(n=st.integers(0, 10**15 - 1), comma=st.booleans())
@settings(max_examples=400, deadline=None)
def test_a_number_takes_the_particle_of_its_korean_reading(n: int, comma: bool) -> None:
    written = f"{n:,}" if comma else str(n)
    reading = _read(n)
    assert particle(written, "을/를") == particle(reading, "을/를"), (written, reading)
    assert particle(written, "(으)로") == particle(reading, "(으)로"), (written, reading)


@given(
    word=st.text(min_size=1, max_size=12),
    which=st.sampled_from(["을(를)", "와(과)", "은(는)", "이(가)", "(으)로"]),
)
@settings(max_examples=300, deadline=None)
def test_resolving_a_placeholder_equals_attaching_the_particle(word: str, which: str) -> None:
    if "(" in word or ")" in word:
        return  # a word that itself contains placeholders is not this property
    assert resolve_particles(word + which) == with_particle(word, which)
    assert "(" not in resolve_particles(word + which)


def test_dashboard_templates_attach_particles_with_the_josa_filter() -> None:
    from shopmind.web._frame import _ENV

    template = _ENV.from_string('{{ a|josa("을/를") }} · {{ b|josa("과/와") }} · {{ c|josa("(으)로") }}')
    assert (
        template.render(a="종가 포기김치 1kg", b="김치", c="서울") == "종가 포기김치 1kg을 · 김치와 · 서울로"
    )
