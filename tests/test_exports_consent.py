"""Only customers whose ad consent allows it go to an ad platform, and only the identifier whose
channel allows it: a hashed e-mail needs e-mail ad consent, a hashed phone SMS ad consent (or the
channels the shop configures); the latest decision across a customer's identifiers counts."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from shopmind.audiences import (
    ConsentChannels,
    ad_consented_profiles,
    audience_from_ids,
    export_for_platform,
    normalise_email_for,
    phone_e164,
    sha256_hex,
)
from shopmind.core import InvalidInputError
from tests.exports_shop import PEOPLE, build

BY_MEMBER = {p.member: p for p in PEOPLE}


def _hashes(member: str) -> tuple[str, str]:
    p = BY_MEMBER[member]
    return (
        sha256_hex(normalise_email_for(p.email, gmail_dots=True) or ""),
        sha256_hex(phone_e164(p.phone) or ""),
    )


def _google(path: Path) -> set[tuple[str, str]]:
    return {(r["Email"], r["Phone"]) for r in csv.DictReader(io.StringIO(path.read_text()))}


def test_the_ledger_decides_per_channel_latest_decision_first(tmp_path: Path) -> None:
    shop = build(tmp_path)
    with shop.ws.open_store() as store:
        # the e-mail consents were withdrawn or given again on the e-mail identifier, later
        assert ad_consented_profiles(store, "email") == {
            "user:m001",
            "user:m002",
            "user:m005",
            "user:=cmd|' /C calc'!A0",
            shop.guest_profile,
        }
        assert "user:m002" not in ad_consented_profiles(store, "sms")
        out = tmp_path / "google.csv"
        record = export_for_platform(
            store,
            audience_from_ids([p.profile_id for p in PEOPLE]),
            "google",
            shop.contacts,
            out,
            hasher=shop.ws.hasher(),
            actor="test",
        )
    m001, m002, m003 = _hashes("m001"), _hashes("m002"), _hashes("m003")
    rows = _google(out)
    assert m001 in rows  # both consents
    assert (m002[0], "") in rows  # e-mail only: SMS consent withdrawn
    assert ("", m003[1]) in rows  # phone only: e-mail consent withdrawn
    assert not any(h in row for h in _hashes("m004") for row in rows)  # neither
    assert len(rows) == 5 and record.members == 5
    assert (
        '"no_consent":1' in record.detail
        and '"consent_channels":{"email":"email","phone":"sms"}' in record.detail
    )


def test_the_channels_are_configurable(tmp_path: Path) -> None:
    shop = build(tmp_path)
    out = tmp_path / "google.csv"
    with shop.ws.open_store() as store:
        export_for_platform(
            store,
            audience_from_ids(["user:m002", "user:m003"]),
            "google",
            shop.contacts,
            out,
            hasher=shop.ws.hasher(),
            actor="test",
            channels=ConsentChannels.parse("email=sms,phone=sms"),
        )
    # SMS consent now counts for both: m002 (no SMS consent) leaves nothing, m003 leaves both
    assert _google(out) == {_hashes("m003")}
    with pytest.raises(InvalidInputError) as bad:
        ConsentChannels.parse("fax=sms")
    assert bad.value.errors[0].field == "consent"


def test_a_consent_filter_can_be_a_mapping_or_a_callable(tmp_path: Path) -> None:
    shop = build(tmp_path)
    asked: list[str] = []

    def allowed(channel: str) -> set[str]:
        asked.append(channel)
        return {"user:m004"} if channel == "email" else set()

    with shop.ws.open_store() as store:
        audience = audience_from_ids(["user:m001", "user:m004"])
        export_for_platform(
            store,
            audience,
            "google",
            shop.contacts,
            tmp_path / "a.csv",
            hasher=shop.ws.hasher(),
            actor="t",
            consent=allowed,
        )
        export_for_platform(
            store,
            audience,
            "google",
            shop.contacts,
            tmp_path / "b.csv",
            hasher=shop.ws.hasher(),
            actor="t",
            consent={"sms": ["user:m001"]},
        )
    assert sorted(asked) == ["email", "sms"]
    assert _google(tmp_path / "a.csv") == {(_hashes("m004")[0], "")}  # the ledger said no; the filter yes
    assert _google(tmp_path / "b.csv") == {("", _hashes("m001")[1])}
