"""The customer-list formats of the ad platforms: column names and how each normalises an e-mail
address and a phone number before SHA-256 (lower-case hex).

Sources (docs/exports.md has the details and what could not be confirmed):

* Google Ads Customer Match: columns ``Email`` and ``Phone`` (English headers, CSV, UTF-8); e-mail
  trimmed and lower-cased, and for gmail.com / googlemail.com addresses the dots before the ``@``
  removed (Google's normalisation for hashed e-mail); phone in E.164 with ``+`` and country code.
* Meta Custom Audiences (customer list): columns ``email`` and ``phone``; e-mail trimmed and
  lower-cased; phone as digits with the country code and no ``+`` (Meta: "remove symbols,
  letters and any leading zeros"; ``447123456``, not ``+447123456``).
* Kakao Moment 고객파일 and Naver 맞춤 타겟 (고객 파일): their documented customer files are built
  on advertising ids (ADID/IDFA), which a shop's member export does not hold; a hashed e-mail or
  phone layout could not be confirmed. The layouts here (``email_sha256``, ``phone_sha256``,
  E.164 with ``+``) are marked ``confirmed=False``: check the platform's current template, and
  rename the columns (``columns=``) before uploading.

The same rules exist twice: in Python (``normalise_email_for``, ``phone_e164``: the reference,
used for single values and tests) and as DuckDB SQL (``normalised_sql``: what a million rows go
through); a test holds them equal."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

DEFAULT_COUNTRY = "82"
_SPACE = "[ \\t\\n\\r\\f\\v]"
_EDGE_SPACE = re.compile(f"^{_SPACE}+|{_SPACE}+$")
_EMAIL = re.compile(r"[^@ \t\n\r\f\v]+@[^@ \t\n\r\f\v]+\.[^@ \t\n\r\f\v]+")
_NON_DIGITS = re.compile(r"[^0-9]")
GMAIL_DOMAINS = ("gmail.com", "googlemail.com")


@dataclass(frozen=True)
class Platform:
    """A platform's customer-list file: its columns, and its normalisation rules."""

    key: str
    name: str
    email_column: str
    phone_column: str
    #: remove the dots before the @ of gmail.com / googlemail.com addresses (Google documents it)
    gmail_dots: bool
    #: phone as ``+8210…`` (E.164) or as digits only ``8210…`` (Meta)
    phone_plus: bool
    #: whether the column names and rules were confirmed in the platform's documentation
    confirmed: bool
    source: str

    def columns(self) -> tuple[str, str]:
        return (self.email_column, self.phone_column)


PLATFORMS: dict[str, Platform] = {
    "google": Platform(
        "google",
        "Google Ads Customer Match",
        "Email",
        "Phone",
        gmail_dots=True,
        phone_plus=True,
        confirmed=True,
        source="support.google.com/google-ads/answer/7659867; developers.google.com/data-manager "
        "(formatting: lower-case, trim, gmail dots, E.164)",
    ),
    "meta": Platform(
        "meta",
        "Meta Custom Audiences (customer list)",
        "email",
        "phone",
        gmail_dots=False,
        phone_plus=False,
        confirmed=True,
        source="facebook.com/business/help/2082575038703844; developers.facebook.com/docs/marketing-api/"
        "audiences/guides/custom-audiences (hashing and normalising)",
    ),
    "kakao": Platform(
        "kakao",
        "Kakao Moment 고객파일",
        "email_sha256",
        "phone_sha256",
        gmail_dots=False,
        phone_plus=True,
        confirmed=False,
        source="developers.kakao.com/docs/latest/ko/kakaomoment (customer files are ADID lists; "
        "no hashed e-mail or phone layout found)",
    ),
    "naver": Platform(
        "naver",
        "Naver 광고 맞춤 타겟 (고객 파일)",
        "email_sha256",
        "phone_sha256",
        gmail_dots=False,
        phone_plus=True,
        confirmed=False,
        source="ads.naver.com help (no hashed e-mail or phone layout found)",
    ),
}


def platform(key: str) -> Platform:
    from shopmind.core import FieldError, InvalidInputError

    if key not in PLATFORMS:
        raise InvalidInputError(
            [FieldError("to", f"unknown ad platform {key!r}; one of {', '.join(PLATFORMS)}")]
        )
    return PLATFORMS[key]


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def normalise_email_for(raw: str | None, *, gmail_dots: bool = False) -> str | None:
    """Trimmed, lower-cased address (gmail dots removed if asked), or None when it is not one."""
    if raw is None:
        return None
    value = _EDGE_SPACE.sub("", raw).lower()
    if not _EMAIL.fullmatch(value):
        return None
    if gmail_dots:
        local, _, domain = value.partition("@")
        if domain in GMAIL_DOMAINS:
            value = local.replace(".", "") + "@" + domain
    return value


def phone_e164(raw: str | None, *, country: str = DEFAULT_COUNTRY, plus: bool = True) -> str | None:
    """The number in E.164 (``+821012345678``; without ``+`` if ``plus`` is false), or None.

    A number written with ``+`` or ``00`` carries its country code; a national number (leading
    ``0``: ``010-1234-5678``) gets ``country``; digits starting with the country code are taken as
    international (a trunk 0 written after the code, ``+82 010…``, is dropped); other digits are a national number whose leading 0 was lost (a spreadsheet
    reading ``01012345678`` as a number) and get ``country`` too. E.164 allows 8 to 15 digits."""
    if raw is None:
        return None
    text = _EDGE_SPACE.sub("", raw)
    digits = _NON_DIGITS.sub("", text)
    if text.startswith("+"):
        full = digits
    elif digits.startswith("00"):
        full = digits[2:]
    elif digits.startswith("0"):
        full = country + digits[1:]
    elif digits.startswith(country):
        full = digits
    else:
        full = country + digits
    if full.startswith(country + "0"):  # +82 010-…: the national trunk 0 written after the code
        full = country + full[len(country) + 1 :]
    if not 8 <= len(full) <= 15:
        return None
    return ("+" if plus else "") + full


#: the whitespace ``trim`` removes (the same characters as ``_SPACE``)
_WS_CHARS = "chr(32) || chr(9) || chr(10) || chr(13) || chr(12) || chr(11)"


def normalised_sql(
    source: str,
    *,
    gmail_dots: bool,
    plus: bool,
    country: str = DEFAULT_COUNTRY,
    keep: tuple[str, ...] = (),
    email: str = "email",
    phone: str = "phone",
) -> str:
    """DuckDB SQL selecting ``keep`` columns of ``source`` and ``email`` / ``phone`` as
    ``normalise_email_for`` and ``phone_e164`` make them (NULL where they give None). Each step
    is computed once, in nested selects (a regular expression per value at most twice)."""
    if not country.isdigit():
        raise ValueError("the country code is digits")
    kept = "".join(f"{k}, " for k in keep)
    digits = "_d"
    national = (
        f"CASE WHEN starts_with(trim({phone}, {_WS_CHARS}), '+') THEN {digits} "
        f"WHEN starts_with({digits}, '00') THEN substr({digits}, 3) "
        f"WHEN starts_with({digits}, '0') THEN '{country}' || substr({digits}, 2) "
        f"WHEN starts_with({digits}, '{country}') THEN {digits} "
        f"ELSE '{country}' || {digits} END"
    )
    gmail = (
        "CASE WHEN split_part(_e1, '@', 2) IN ('gmail.com', 'googlemail.com') "
        "THEN replace(split_part(_e1, '@', 1), '.', '') || '@' || split_part(_e1, '@', 2) ELSE _e1 END"
        if gmail_dots
        else "_e1"
    )
    prefix = "'+' || " if plus else ""
    return f"""
        SELECT {kept}{gmail} AS email, CASE WHEN length(_f1) BETWEEN 8 AND 15 THEN {prefix}_f1 END AS phone
        FROM (
            SELECT {kept}CASE WHEN regexp_full_match(_e0, '{_EMAIL.pattern}') THEN _e0 END AS _e1,
                   CASE WHEN starts_with(_f0, '{country}0') THEN '{country}' || substr(_f0, {len(country) + 2})
                        ELSE _f0 END AS _f1
            FROM (
                SELECT {kept}lower(trim({email}, {_WS_CHARS})) AS _e0, {national} AS _f0
                FROM (SELECT *, regexp_replace({phone}, '[^0-9]', '', 'g') AS {digits} FROM {source})
            )
        )"""
