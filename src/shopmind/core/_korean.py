"""Korean particles chosen by the word they follow: 을/를, 은/는, 이/가, 과/와, (으)로, 아/야, 이나/나,
이랑/랑, 이라/라.

A particle depends on whether the word *as read aloud* ends in a final consonant (받침), and (으)로
on whether that consonant is ㄹ. The product prints names it does not control (products, brands,
numbers, units, Latin letters), so the reading of the end of a word is worked out here:
Hangul syllables from their code point; numbers as Korean reads them (1 일, 10 십, 100 백,
1,000 천, 10,000 만, 1.5 일 점 오); common units by their Korean name (1kg 킬로그램, 500ml
밀리리터); Latin acronyms letter by letter (VIP 브이아이피, L 엘); other Latin words by their
spelling's usual Korean transcription (shop 숍, mall 몰, app 앱). A parenthesised or quoted tail
is skipped or looked into as a reader would: "서울(Seoul)" reads as 서울, "'abc'" as abc.

Pure functions, no dependencies: every layer may use them."""

from __future__ import annotations

import re

__all__ = ["PARTICLES", "final_consonant", "particle", "resolve_particles", "with_particle"]

# the final consonant of a reading: None (open syllable), "ㄹ", or "other" (any other 받침)
_NONE, _RIEUL, _OTHER = None, "ㄹ", "other"

#: each particle as (after a consonant, after a vowel); (으)로 also takes 로 after ㄹ
PARTICLES: dict[str, tuple[str, str]] = {
    "을/를": ("을", "를"),
    "은/는": ("은", "는"),
    "이/가": ("이", "가"),
    "과/와": ("과", "와"),
    "으로/로": ("으로", "로"),
    "아/야": ("아", "야"),
    "이나/나": ("이나", "나"),
    "이랑/랑": ("이랑", "랑"),
    "이라/라": ("이라", "라"),
    "이에요/예요": ("이에요", "예요"),
}
# the spellings people write, in either order or with the placeholder parentheses
_ALIASES: dict[str, str] = {}
for _key, (_c, _v) in PARTICLES.items():
    for _spelling in (_key, f"{_v}/{_c}", f"{_c}({_v})", f"{_v}({_c})"):
        _ALIASES[_spelling] = _key
_ALIASES.update({"(으)로": "으로/로", "로/으로": "으로/로", "으로": "으로/로", "로": "으로/로"})
for _key, (_c, _v) in PARTICLES.items():
    _ALIASES.setdefault(_c, _key)
    _ALIASES.setdefault(_v, _key)

_HANGUL_FIRST, _HANGUL_LAST = 0xAC00, 0xD7A3
_RIEUL_INDEX = 8  # ㄹ among the 27 finals of a precomposed syllable

# digits and powers of ten as Korean reads them (Sino-Korean): the reading's last syllable decides
_DIGIT = {
    "0": "영",
    "1": "일",
    "2": "이",
    "3": "삼",
    "4": "사",
    "5": "오",
    "6": "육",
    "7": "칠",
    "8": "팔",
    "9": "구",
}
_TENS = {1: "십", 2: "백", 3: "천"}  # trailing zeros within a group of four
_GROUPS = ["", "만", "억", "조", "경"]

# units and symbols after a number, by their Korean reading (longest first when matching)
_UNITS = {
    "kg": "킬로그램",
    "mg": "밀리그램",
    "g": "그램",
    "ml": "밀리리터",
    "l": "리터",
    "km": "킬로미터",
    "cm": "센티미터",
    "mm": "밀리미터",
    "m": "미터",
    "ea": "개",
    "pcs": "개",
    "p": "페이지",
    "oz": "온스",
    "lb": "파운드",
    "gb": "기가바이트",
    "mb": "메가바이트",
    "kb": "킬로바이트",
    "tb": "테라바이트",
    "%": "퍼센트",
    "°c": "도",
    "℃": "도",
    "°": "도",
    "x": "배",
    "h": "시간",
    "min": "분",
    "s": "초",
    "ms": "밀리초",
    "d": "일",
    "w": "주",
    "₩": "원",
}
_UNIT_PATTERN = re.compile(
    r"(\d)\s*(" + "|".join(re.escape(u) for u in sorted(_UNITS, key=len, reverse=True)) + r")$", re.IGNORECASE
)

# the names of the Latin letters (an acronym is read letter by letter)
_LETTER = {
    "a": "에이", "b": "비", "c": "씨", "d": "디", "e": "이", "f": "에프", "g": "지", "h": "에이치",
    "i": "아이", "j": "제이", "k": "케이", "l": "엘", "m": "엠", "n": "엔", "o": "오", "p": "피",
    "q": "큐", "r": "알", "s": "에스", "t": "티", "u": "유", "v": "브이", "w": "더블유", "x": "엑스",
    "y": "와이", "z": "지",
}  # fmt: skip

# words whose transcription the spelling rules below would get wrong
_WORDS = {
    "mobile": "모바일",
    "apple": "애플",
    "google": "구글",
    "file": "파일",
    "style": "스타일",
    "home": "홈",
    "game": "게임",
    "time": "타임",
    "name": "네임",
    "phone": "폰",
    "line": "라인",
    "one": "원",
    "cake": "케이크",
    "bike": "바이크",
    "kakao": "카카오",
    "naver": "네이버",
    "shopmind": "숍마인드",
}

_CLOSERS = "'\"’”」』》〉]"
_OPENERS = {"'": "'", '"': '"', "’": "‘", "”": "“", "」": "「", "』": "『", "》": "《", "〉": "〈", "]": "["}


def _hangul_final(char: str) -> str | None:
    index = (ord(char) - _HANGUL_FIRST) % 28
    if index == 0:
        return _NONE
    return _RIEUL if index == _RIEUL_INDEX else _OTHER


def _reading_final(reading: str) -> str | None:
    return _hangul_final(reading[-1])


def _number_reading(number: str) -> str:
    """The last syllable of a number read in Sino-Korean: 1 일, 10 십, 100 백, 10000 만, 1.50 영."""
    number = number.replace(",", "")
    if "." in number:
        decimals = number.split(".", 1)[1]
        if decimals:
            return _DIGIT[decimals[-1]]  # after 점 digits are read one by one
        number = number.split(".", 1)[0]
    digits = number.lstrip("0")
    if not digits:
        return "영"
    zeros = len(digits) - len(digits.rstrip("0"))
    if zeros == 0:
        return _DIGIT[digits[-1]]
    group, within = divmod(zeros, 4)
    if within:
        return _TENS[within]
    return _GROUPS[group] if group < len(_GROUPS) else "경"


_ASCII_WORD = re.compile(r"[A-Za-z]+$")
_NUMBER = re.compile(r"\d[\d,]*(?:\.\d*)?$")


def _latin_final(word: str) -> str | None:
    """The final consonant of a Latin-letter word as Korean usually transcribes it."""
    lower = word.lower()
    if lower in _WORDS:
        return _reading_final(_WORDS[lower])
    vowels = sum(ch in "aeiouy" for ch in lower)
    # an acronym (VIP, CLV, RFM, SMS) or a vowelless or single-letter token is spelled out
    if len(word) == 1 or (word.isupper() and len(word) <= 5) or vowels == 0:
        return _reading_final(_LETTER[lower[-1]])
    if lower.endswith("ng"):
        return _OTHER  # 링, 쇼핑
    if lower.endswith(("le", "l")):
        return _RIEUL if not lower.endswith("le") or lower.endswith(("ile", "ale", "ole")) else _NONE
    last = lower[-1]
    if last in "mn":
        return _OTHER  # 프로그램, 디자인
    if last in "kbpt" or lower.endswith("ck"):
        # a short vowel before k/b/p/t closes the syllable (book 북, web 웹, shop 숍, cat 캣);
        # after a long vowel or a cluster it opens one (kite 카이트 — handled by the "e" below)
        closed = lower[-2:-1] in ("a", "e", "i", "o", "u", "c", last)  # app 앱, back 백
        return _OTHER if closed else _NONE
    return _NONE  # vowels, r, s, x, d, g, f, ...: 컴퓨터, 박스, 코드


def final_consonant(word: str) -> str | None:
    """How ``word`` ends when read aloud: ``None`` (a vowel), ``"ㄹ"`` or ``"other"`` (another
    final consonant). Looks past closing quotes and a trailing parenthesised remark."""
    text = word.rstrip()
    while text:
        last = text[-1]
        if last == ")":
            opening = text.rfind("(")
            inner = text[opening + 1 : -1] if opening >= 0 else ""
            before = text[:opening].rstrip() if opening >= 0 else ""
            text = before if before else inner  # "서울(Seoul)" → 서울; "(5입)" → 5입
            continue
        if last in _CLOSERS:
            text = text[:-1]
            continue
        break
    if not text:
        return _NONE
    last = text[-1]
    if _HANGUL_FIRST <= ord(last) <= _HANGUL_LAST:
        return _hangul_final(last)
    unit = _UNIT_PATTERN.search(text)
    if unit:
        return _reading_final(_UNITS[unit.group(2).lower()])
    number = _NUMBER.search(text)
    if number:
        return _reading_final(_number_reading(number.group()))
    if last in _UNITS and not last.isalpha():  # a symbol alone: "₩", "%"
        return _reading_final(_UNITS[last])
    latin = _ASCII_WORD.search(text)
    if latin:
        return _latin_final(latin.group())
    return _NONE  # punctuation or a script we cannot read: the vowel form reads least oddly


def particle(word: str, which: str) -> str:
    """The form of particle ``which`` ("을/를", "과/와", "(으)로", "은(는)", ...) that follows
    ``word``: ``particle("김치", "을/를") == "를"``, ``particle("1kg", "을/를") == "을"``."""
    try:
        key = _ALIASES[which]
    except KeyError:
        raise ValueError(f"unknown particle {which!r}: one of {sorted(PARTICLES)}") from None
    after_consonant, after_vowel = PARTICLES[key]
    final = final_consonant(word)
    if key == "으로/로":
        return after_consonant if final is _OTHER else after_vowel
    return after_vowel if final is _NONE else after_consonant


def with_particle(word: str, which: str) -> str:
    """``word`` followed by the right form of ``which``: ``with_particle("신라면", "과/와")`` is
    "신라면과"."""
    return word + particle(word, which)


_PLACEHOLDER = re.compile(
    r"(을\(를\)|를\(을\)|은\(는\)|는\(은\)|이\(가\)|가\(이\)|과\(와\)|와\(과\)|\(으\)로|아\(야\)|야\(아\))"
)


def resolve_particles(text: str) -> str:
    """Every placeholder particle of ``text`` ("을(를)", "와(과)", "(으)로", ...) replaced by the form
    the text before it takes: "1kg을(를) 고른" → "1kg을 고른"."""

    def choose(match: re.Match[str]) -> str:
        return particle(text[: match.start()], match.group())

    return _PLACEHOLDER.sub(choose, text)
