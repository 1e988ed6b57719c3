"""Which fields of incoming data hold personal data, and what becomes of them (개인정보 보호법).

Keys are compared in a normalised form: case folded, with ``_``, ``-``, ``.`` and spaces removed,
so ``Email``, ``e_mail``, ``E-Mail``, ``phoneNumber``, ``phone_number`` and ``Phone Number`` are
each one name. Three kinds:

* contact keys (e-mail-like and phone-like): their value is replaced by a keyed hash
  (``email_hash``/``phone_hash``) so a customer can still be matched; the plain value is dropped;
* other personal keys (address, birthday, real names, resident numbers, ...): dropped;
* URL keys (``url``, ``referrer``, ``search``, ...): kept without the query parameters whose names
  are personal keys (``?email=…&phone=…``).

A few names are personal only among a person's ``traits`` (``name``: in ``properties`` it is the
product's or page's name). ``PersonalFields.changed`` adds or removes names (a workspace's
``privacy.toml``); the built-in lists are ``EMAIL_KEYS``, ``PHONE_KEYS``, ``DROP_KEYS``,
``TRAIT_DROP_KEYS`` and ``URL_KEYS``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import unquote_plus

from shopmind.core._errors import FieldError, InvalidInputError

Kind = Literal["email", "phone", "drop"]

#: E-mail-like keys: hashed into ``email_hash``.
EMAIL_KEYS = (
    "email",
    "e_mail",
    "email_address",
    "emailaddr",
    "user_email",
    "customer_email",
    "buyer_email",
    "orderer_email",
    "이메일",
    "이메일주소",
    "전자우편",
    "메일주소",
)
#: Phone-like keys: hashed into ``phone_hash``.
PHONE_KEYS = (
    "phone",
    "phone_number",
    "phone_no",
    "mobile",
    "mobile_phone",
    "mobile_number",
    "mobile_no",
    "cellphone",
    "cell_phone",
    "tel",
    "tel_no",
    "telephone",
    "hp",
    "hp_no",
    "handphone",
    "user_phone",
    "customer_phone",
    "buyer_phone",
    "orderer_phone",
    "휴대폰",
    "휴대폰번호",
    "휴대전화",
    "휴대전화번호",
    "핸드폰",
    "핸드폰번호",
    "전화",
    "전화번호",
    "연락처",
)
#: Other personal keys: dropped (nothing would match a customer by them).
DROP_KEYS = (
    "address",
    "addr",
    "address1",
    "address2",
    "address_line1",
    "address_line2",
    "street",
    "street_address",
    "postal_code",
    "postcode",
    "zip",
    "zipcode",
    "zip_code",
    "shipping_address",
    "billing_address",
    "주소",
    "상세주소",
    "배송지",
    "배송주소",
    "우편번호",
    "birthday",
    "birth_date",
    "birthdate",
    "date_of_birth",
    "dob",
    "birth_year",
    "생년월일",
    "생일",
    "first_name",
    "last_name",
    "full_name",
    "real_name",
    "customer_name",
    "buyer_name",
    "orderer_name",
    "recipient_name",
    "이름",
    "성명",
    "실명",
    "고객명",
    "주문자명",
    "수령인",
    "수령인명",
    "주민등록번호",
    "주민번호",
    "resident_registration_number",
    "rrn",
    "ssn",
    "card_number",
    "카드번호",
    "계좌번호",
    "account_number",
    "ip",
    "ip_address",
)
#: Personal only among a person's traits (elsewhere: a product's or a page's name).
TRAIT_DROP_KEYS = ("name", "nickname", "username", "닉네임")
#: Keys whose string values are URLs (or a URL's query): their personal query parameters go.
URL_KEYS = ("url", "referrer", "referer", "search", "href", "page_url", "referrer_url", "landing_page")

REDACTED = "[redacted]"
_SEPARATORS = str.maketrans("", "", "_-. ")
_MEMO_LIMIT = 4096  # distinct keys remembered per policy (beyond them, each is classified anew)

# Rejected input is redacted more broadly than events are scrubbed: a key merely containing one of
# these is treated as personal there (``email_opt_in`` too: redacting a flag costs nothing).
_REDACT_MARKERS = (
    "email",
    "phone",
    "mobile",
    "address",
    "birth",
    "주소",
    "연락처",
    "전화",
    "휴대",
    "핸드폰",
    "이메일",
    "메일",
    "생년월일",
    "생일",
    "주문자",
    "수령인",
    "성명",
    "이름",
    "주민",
    "firstname",
    "lastname",
    "fullname",
)
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_PHONE = re.compile(
    r"(?<![A-Za-z0-9-])(?:"
    r"(?:\+|00)82[-. ]?0?1[016789][-. ]?\d{3,4}[-. ]?\d{4}"  # +82 10 1234 5678
    r"|01[016789][-. ]?\d{3,4}[-. ]?\d{4}"  # 010-1234-5678, 01012345678
    r"|0\d{1,2}[-. )]\d{3,4}[-. ]\d{4}"  # 02-123-4567 (separators required)
    r"|\+\d{1,3}[-. ]?\d{2,4}[-. ]?\d{3,4}[-. ]?\d{3,4}"  # other international numbers
    r")(?![A-Za-z0-9-])"
)
_QUERY_PARAM = re.compile(r"([?&;])([^=&#;\s\"']+)=([^&#;\s\"']*)")
_JSON_PAIR = re.compile(r'"((?:[^"\\]|\\.)*)"(\s*:\s*)("(?:[^"\\]|\\.)*(?:"|$)|-?\d[\d.eE+-]*)')


def normalise_key(key: str) -> str:
    """The form keys are compared in: ``Phone_Number`` → ``phonenumber``."""
    return key.translate(_SEPARATORS).casefold()


@dataclass(frozen=True)
class Found:
    """A contact value found in an event: where (``traits.mobile``), how deep, which kind."""

    path: str
    depth: int
    kind: Literal["email", "phone"]
    value: object


@dataclass(frozen=True, eq=False)
class PersonalFields:
    """The names (normalised) of personal fields; ``DEFAULT_PERSONAL_FIELDS`` is the built-in list."""

    email: frozenset[str]
    phone: frozenset[str]
    drop: frozenset[str]
    trait_drop: frozenset[str]
    url: frozenset[str]
    # key -> kind, among traits and elsewhere: keys repeat across events, so each is normalised once
    _memo: tuple[dict[str, str], dict[str, str]] = field(default_factory=lambda: ({}, {}), repr=False)
    _urls: dict[str, str] = field(default_factory=dict, repr=False)  # a URL's tail -> cleaned
    #: keys known to hold nothing personal (elsewhere, among traits), so a caller on a hot path
    #: can skip ``scrub`` with one set operation: ``plain[False].issuperset(properties)``
    plain: tuple[set[str], set[str]] = field(default_factory=lambda: (set(), set()), repr=False)

    @classmethod
    def of(
        cls,
        email: Iterable[str],
        phone: Iterable[str],
        drop: Iterable[str],
        trait_drop: Iterable[str] = TRAIT_DROP_KEYS,
        url: Iterable[str] = URL_KEYS,
    ) -> PersonalFields:
        return cls(
            frozenset(map(normalise_key, email)),
            frozenset(map(normalise_key, phone)),
            frozenset(map(normalise_key, drop)),
            frozenset(map(normalise_key, trait_drop)),
            frozenset(map(normalise_key, url)),
        )

    def changed(self, settings: Mapping[str, object], where: str = "personal_fields") -> PersonalFields:
        """These fields with names added (``email``, ``phone``, ``drop``, ``url`` lists) or made
        ordinary again (``keep``), e.g. from ``{"phone": ["contact_no"], "keep": ["hp"]}``."""
        known = ("email", "phone", "drop", "url", "keep")
        errors = [
            FieldError(f"{where}.{k}", f"unknown list; expected one of {', '.join(known)}")
            for k in settings
            if k not in known
        ]
        lists: dict[str, frozenset[str]] = {}
        for name in known:
            value = settings.get(name, [])
            if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
                errors.append(FieldError(f"{where}.{name}", "expected a list of non-empty strings"))
                continue
            lists[name] = frozenset(normalise_key(v) for v in value)
        if errors:
            raise InvalidInputError(errors)
        keep = lists["keep"]
        # a name moved from one list to another leaves the first
        email = (self.email - lists["phone"] - lists["drop"] | lists["email"]) - keep
        phone = (self.phone - lists["email"] - lists["drop"] | lists["phone"]) - keep
        drop = (self.drop - lists["email"] - lists["phone"] | lists["drop"]) - keep
        trait_drop = self.trait_drop - lists["email"] - lists["phone"] - keep
        return PersonalFields(email, phone, drop, trait_drop, (self.url | lists["url"]) - keep)

    def listing(self) -> dict[str, list[str]]:
        """The normalised names of each kind, sorted (for people to read)."""
        return {
            "email": sorted(self.email),
            "phone": sorted(self.phone),
            "drop": sorted(self.drop),
            "drop_in_traits": sorted(self.trait_drop),
            "url": sorted(self.url),
        }

    # -- events --------------------------------------------------------------------------------
    def kind(self, key: str, in_traits: bool) -> Kind | Literal["url", ""]:
        """What ``key`` holds: ``email``, ``phone``, ``drop``, ``url`` or ``""`` (nothing personal)."""
        memo = self._memo[in_traits]
        found = memo.get(key)
        if found is not None:
            return found  # type: ignore[return-value]
        name = normalise_key(key)
        kind: Kind | Literal["url", ""]
        if name in self.email:
            kind = "email"
        elif name in self.phone:
            kind = "phone"
        elif name in self.drop or (in_traits and name in self.trait_drop):
            kind = "drop"
        elif name in self.url:
            kind = "url"
        else:
            kind = ""
        if len(memo) < _MEMO_LIMIT:
            memo[key] = kind
            if kind == "":
                self.plain[in_traits].add(key)
        return kind

    def scrub(
        self, mapping: dict[str, Any], in_traits: bool, prefix: str, found: list[Found], depth: int = 0
    ) -> dict[str, Any]:
        """``mapping`` without its personal fields (at any depth; an object left empty by them
        goes too) and with the personal query parameters of its URL values removed; each contact
        value is appended to ``found``. Returns ``mapping`` itself when nothing changed (the
        usual case: no copy)."""
        out: dict[str, Any] | None = None
        memo = self._memo[in_traits]  # (``kind``, without a call per key: this runs per event)
        for key, value in mapping.items():
            kind = memo.get(key)
            if kind is None:
                kind = self.kind(key, in_traits)
            if kind == "":
                if type(value) is dict:
                    cleaned: Any = self.scrub(value, in_traits, f"{prefix}{key}.", found, depth + 1)
                    if cleaned is value:
                        continue
                    if not cleaned:  # held personal fields only
                        out = out if out is not None else dict(mapping)
                        del out[key]
                        continue
                elif type(value) is list:
                    cleaned = self._scrub_list(value, in_traits, f"{prefix}{key}.", found, depth + 1)
                    if cleaned is value:
                        continue
                else:
                    continue
            elif kind == "url":
                if type(value) is not str:
                    continue
                cleaned = self.clean_url(value)
                if cleaned is value:
                    continue
            else:
                if kind != "drop" and value is not None and value != "":
                    found.append(
                        Found(f"{prefix}{key}", depth, "email" if kind == "email" else "phone", value)
                    )
                out = out if out is not None else dict(mapping)
                del out[key]
                continue
            out = out if out is not None else dict(mapping)
            out[key] = cleaned
        return mapping if out is None else out

    def _scrub_list(
        self, values: list[Any], in_traits: bool, prefix: str, found: list[Found], depth: int
    ) -> list[Any]:
        out: list[Any] | None = None
        for at, value in enumerate(values):
            if type(value) is dict:
                cleaned: Any = self.scrub(value, in_traits, f"{prefix}{at}.", found, depth)
            elif type(value) is list:
                cleaned = self._scrub_list(value, in_traits, f"{prefix}{at}.", found, depth)
            else:
                continue
            if cleaned is not value:
                out = out if out is not None else list(values)
                out[at] = cleaned
        return values if out is None else out

    def clean_url(self, url: str) -> str:
        """``url`` without query parameters (also in the fragment, as single-page shops route)
        whose names are personal keys; the rest exactly as it was. ``url`` itself if none."""
        start = url.find("?")
        if start < 0:
            start = url.find("#")
            if start < 0:
                return url
        # query strings repeat across pages (campaign tags): each is cleaned once
        tail = url[start:]
        cleaned = self._urls.get(tail)
        if cleaned is None:
            cleaned = _QUERY_PARAM.sub(self._url_param, tail)
            if cleaned != tail:  # a query left empty, or starting with a separator, is tidied
                cleaned = re.sub(r"\?(?=#|$)", "", re.sub(r"\?(?:[&;])+", "?", cleaned))
            if len(self._urls) < _MEMO_LIMIT:
                self._urls[tail] = cleaned
        return url if cleaned == tail else url[:start] + cleaned

    def _url_param(self, match: re.Match[str]) -> str:
        name = unquote_plus(match.group(2))
        kind = self.kind(name, True)
        return match.group(0) if kind in ("", "url") else ("" if match.group(1) == "&" else match.group(1))

    # -- rejected input ------------------------------------------------------------------------
    def redacts(self, key: str) -> bool:
        """Whether rejected input's ``key`` is redacted (broader than ``kind``: see the markers)."""
        if self.kind(key, True) in ("email", "phone", "drop"):
            return True
        name = normalise_key(key)
        return any(marker in name for marker in _REDACT_MARKERS)

    def redact(self, value: Any) -> Any:
        """A parsed JSON value with every personal field's value replaced by ``REDACTED``, the
        personal query parameters of URLs removed, and e-mail addresses and phone numbers in any
        other text replaced."""
        if type(value) is dict:
            return {
                k: REDACTED if self.redacts(k) and v not in (None, "") else self.redact(v)
                for k, v in value.items()
            }
        if type(value) is list:
            return [self.redact(v) for v in value]
        if type(value) is str:
            return self.redact_text(value)
        return value

    def redact_text(self, text: str) -> str:
        """Free text (a line that is not JSON, a truncated one, a reason) with its e-mail
        addresses, phone numbers, personal ``"key": value`` pairs and personal URL query
        parameters replaced."""
        text = _JSON_PAIR.sub(self._json_pair, text)
        text = _QUERY_PARAM.sub(self._text_param, text)
        text = _EMAIL.sub(REDACTED, text)
        return _PHONE.sub(REDACTED, text)

    def _json_pair(self, match: re.Match[str]) -> str:
        if not self.redacts(match.group(1)):
            return match.group(0)
        return f'"{match.group(1)}"{match.group(2)}"{REDACTED}"'

    def _text_param(self, match: re.Match[str]) -> str:
        if not match.group(3) or not self.redacts(unquote_plus(match.group(2))):
            return match.group(0)
        return f"{match.group(1)}{match.group(2)}={REDACTED}"


DEFAULT_PERSONAL_FIELDS = PersonalFields.of(EMAIL_KEYS, PHONE_KEYS, DROP_KEYS)
