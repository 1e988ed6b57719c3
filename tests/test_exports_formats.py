"""Each platform's customer-list format: its columns, its normalisation and SHA-256 hashing against
known values; the Python rules equal the SQL that a million rows go through; member exports in
CSV (formula-safe) and Parquet."""

from __future__ import annotations

import csv
import hashlib
import io
import random
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from shopmind.audiences import (
    PLATFORMS,
    audience_from_ids,
    contact_batches,
    export_file,
    export_for_platform,
    normalise_email_for,
    phone_e164,
    score_band_audience,
    segment_audience,
    sha256_hex,
)
from shopmind.audiences._platforms import normalised_sql
from shopmind.core import ImportFileError, InvalidInputError
from tests.exports_shop import GUEST, PEOPLE, STRANGER, build, contact_csv

#: a normalised test address and its SHA-256 as published in an ad platform's customer-file
#: documentation (TikTok's list of supported ids: "janedoe@gmail.com")
PUBLISHED = ("janedoe@gmail.com", "d6117306485ed0e50afab3ac871e98f81699151f30281527d63ff5f233656c69")


def test_hashing_matches_a_published_value() -> None:
    address, digest = PUBLISHED
    assert sha256_hex(address) == digest
    # Google's rules: trimmed, lower-cased, and dots before @gmail.com removed
    assert sha256_hex(normalise_email_for("  Jane.Doe@Gmail.com\t", gmail_dots=True) or "") == digest
    # Meta's keep the dots: another person to Meta
    assert normalise_email_for("Jane.Doe@Gmail.com", gmail_dots=False) == "jane.doe@gmail.com"
    assert normalise_email_for("jane.doe@googlemail.com", gmail_dots=True) == "janedoe@googlemail.com"
    assert normalise_email_for("jane.doe@example.com", gmail_dots=True) == "jane.doe@example.com"


@pytest.mark.parametrize(
    ("raw", "plus", "expected"),
    [
        ("010-1234-5678", True, "+821012345678"),
        ("01012345678", True, "+821012345678"),
        (" +82 10 1234 5678 ", True, "+821012345678"),
        ("+82 010-1234-5678", True, "+821012345678"),  # the trunk 0 written after the code
        ("0082-10-1234-5678", True, "+821012345678"),
        ("1012345678", True, "+821012345678"),  # a spreadsheet dropped the leading 0
        ("821012345678", True, "+821012345678"),
        ("02-123-4567", True, "+8221234567"),
        ("+1 (657) 777-0000", True, "+16577770000"),
        ("010-1234-5678", False, "821012345678"),  # Meta: no +
        ("1234", True, None),
        ("", True, None),
        ("+1234567890123456", True, None),  # longer than E.164 allows
    ],
)
def test_phone_numbers_become_e164(raw: str, plus: bool, expected: str | None) -> None:
    assert phone_e164(raw, plus=plus) == expected


@pytest.mark.parametrize(
    "raw", ["", "no-at-sign", "two@@example.com", "a@b", "a b@example.com", "@example.com"]
)
def test_not_an_address_gives_nothing(raw: str) -> None:
    assert normalise_email_for(raw, gmail_dots=True) is None


def test_the_sql_rules_equal_the_python_rules() -> None:
    rng = random.Random(18)
    pieces = [
        "a",
        "B",
        ".",
        "+",
        "-",
        "_",
        "@",
        " ",
        "\t",
        "é",
        "김",
        "0",
        "1",
        "(",
        ")",
        "gmail.com",
        "googlemail.com",
    ]
    emails = ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 12))) for _ in range(3000)]
    emails += [
        f"{rng.choice(['Kim.Min', ' LEE ', 'p.a.r.k'])}@{rng.choice(['gmail.com', 'Example.co.kr'])} "
        for _ in range(500)
    ]
    digits = ["0", "1", "8", "2", "-", " ", "+", "(", ")", "00", "010", "82"]
    phones = ["".join(rng.choice(digits) for _ in range(rng.randint(0, 14))) for _ in range(len(emails))]
    con = duckdb.connect()
    con.register("t", pa.table({"e": emails, "p": phones}))
    for gmail in (True, False):
        for plus in (True, False):
            got = con.sql(normalised_sql("t", gmail_dots=gmail, plus=plus, email="e", phone="p")).fetchall()
            assert [e for e, _ in got] == [normalise_email_for(e, gmail_dots=gmail) for e in emails]
            assert [p for _, p in got] == [phone_e164(p, plus=plus) for p in phones]
    con.close()


def _rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))


@pytest.mark.parametrize("key", ["google", "meta", "kakao", "naver"])
def test_each_platform_file_has_its_columns_and_hashes(tmp_path: Path, key: str) -> None:
    shop = build(tmp_path)
    target = PLATFORMS[key]
    everyone = {p.profile_id: p for p in PEOPLE}
    consent = {"email": list(everyone), "sms": list(everyone)}  # every identifier may leave here
    out = tmp_path / f"{key}.csv"
    with shop.ws.open_store() as store:
        record = export_for_platform(
            store,
            audience_from_ids(list(everyone)),
            key,
            shop.contacts,
            out,
            hasher=shop.ws.hasher(),
            actor="test",
            consent=consent,
        )
    header = out.read_text().splitlines()[0]
    assert header == f"{target.email_column},{target.phone_column}"
    rows = _rows(out)
    want = {
        (
            sha256_hex(normalise_email_for(p.email, gmail_dots=target.gmail_dots) or ""),
            sha256_hex(phone_e164(p.phone, plus=target.phone_plus) or ""),
        )
        for p in PEOPLE
    }
    assert {(r[target.email_column], r[target.phone_column]) for r in rows} == want
    assert record.members == len(PEOPLE) and record.status == "ok"
    text = out.read_text()
    for p in PEOPLE:  # no plain contact data in the file
        assert p.email.strip().lower() not in text.lower() and p.phone not in text
    assert STRANGER[1] not in text and sha256_hex(STRANGER[1]) not in text  # not in the audience


def test_google_and_meta_phone_hashes_differ_as_documented(tmp_path: Path) -> None:
    shop = build(tmp_path)
    kim = PEOPLE[0]
    hashes = {}
    with shop.ws.open_store() as store:
        for key in ("google", "meta"):
            export_for_platform(
                store,
                audience_from_ids([kim.profile_id]),
                key,
                shop.contacts,
                tmp_path / f"{key}.csv",
                hasher=shop.ws.hasher(),
                actor="test",
                consent={"email": [kim.profile_id], "sms": [kim.profile_id]},
            )
            hashes[key] = _rows(tmp_path / f"{key}.csv")[0]
    assert hashes["google"]["Phone"] == hashlib.sha256(b"+821012340001").hexdigest()
    assert hashes["meta"]["phone"] == hashlib.sha256(b"821012340001").hexdigest()
    assert hashes["google"]["Email"] == hashlib.sha256(b"kimminji@gmail.com").hexdigest()
    assert hashes["meta"]["email"] == hashlib.sha256(b"kim.minji@gmail.com").hexdigest()


def test_a_guest_is_matched_by_the_keyed_hash_of_their_email(tmp_path: Path) -> None:
    shop = build(tmp_path)
    out = tmp_path / "meta.csv"
    with shop.ws.open_store() as store:
        record = export_for_platform(
            store,
            audience_from_ids([shop.guest_profile]),
            "meta",
            shop.contacts,
            out,
            hasher=shop.ws.hasher(),
            actor="test",
        )
    rows = _rows(out)
    assert rows == [{"email": sha256_hex(GUEST.email), "phone": sha256_hex("821099990000")}]
    assert '"keyed_hash":1' in record.detail


def test_contact_columns_are_found_or_mapped_and_bad_ones_named(tmp_path: Path) -> None:
    text = contact_csv([("m1", "a@b.co", "010")])
    found, _ = contact_batches(text)
    assert found.mapping() == {"member_id": "아이디", "email": "이메일", "phone": "휴대폰"}
    renamed = "회원ID,메일,핸드폰번호\nm1,a@b.co,010\n"
    found, batches = contact_batches(renamed, {"member_id": "회원ID", "email": "메일"})
    assert found.mapping() == {"member_id": "회원ID", "email": "메일", "phone": "핸드폰번호"}
    assert next(batches).to_pylist() == [{"member_id": "m1", "email": "a@b.co", "phone": "010"}]
    with pytest.raises(InvalidInputError) as missing:
        contact_batches(renamed, {"email": "E-mail"})
    assert missing.value.errors[0].field == "contacts.email" and "E-mail" in str(missing.value)
    with pytest.raises(InvalidInputError) as nothing:
        contact_batches("아이디,이름\nm1,김\n")
    assert nothing.value.errors[0].field == "contacts"
    with pytest.raises(ImportFileError):
        contact_batches(tmp_path / "absent.csv")
    cp949 = tmp_path / "cp949.csv"
    cp949.write_bytes("아이디,이메일\nm1,a@b.co\n".encode("cp949"))
    with pytest.raises(ImportFileError, match="cp949"):
        contact_batches(cp949)
    found, batches = contact_batches(cp949, encoding="cp949")
    assert next(batches).to_pylist()[0]["member_id"] == "m1"


def test_member_csv_is_formula_safe_and_parquet_keeps_the_values(tmp_path: Path) -> None:
    shop = build(tmp_path)
    with shop.ws.open_store() as store:
        audience = segment_audience(store, "vip")
        assert len(audience) == 3
        record = export_file(
            store, audience, "csv", tmp_path / "c.csv", hasher=shop.ws.hasher(), actor="test"
        )
        export_file(store, audience, "parquet", tmp_path / "c.parquet", hasher=shop.ws.hasher(), actor="test")
    raw = (tmp_path / "c.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # Excel reads the Korean text as UTF-8
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert list(rows[0]) == [
        "profile_id",
        "member_id",
        "segment",
        "clv_12m",
        "p_alive",
        "churn_risk",
        "purchase_probability_7d",
        "vip_lookalike",
    ]
    by_member = {r["member_id"]: r for r in rows}
    assert set(by_member) == {"m001", "m002", "'=cmd|' /C calc'!A0"}  # the formula became text
    assert by_member["'=cmd|' /C calc'!A0"]["profile_id"] == "user:=cmd|' /C calc'!A0"
    assert all(not cell.startswith(("=", "+", "-", "@")) for r in rows for cell in r.values())
    assert (
        by_member["m001"]["segment"] == "vip" and float(by_member["m001"]["purchase_probability_7d"]) == 0.45
    )
    table = pq.read_table(tmp_path / "c.parquet")
    assert sorted(table.column("member_id").to_pylist()) == sorted(["m001", "m002", "=cmd|' /C calc'!A0"])
    assert record.members == 3 and record.rows_out == 3


def test_a_score_band_takes_the_latest_run_and_names_a_bad_band(tmp_path: Path) -> None:
    shop = build(tmp_path)
    with shop.ws.open_store() as store:
        band = score_band_audience(store, "purchase_probability_7d", 0.3, 0.5)
        assert set(band.profile_ids.to_pylist()) == {
            "user:m001",
            "user:m002",
            "user:=cmd|' /C calc'!A0",
            shop.guest_profile,
        }
        assert band.score == "purchase_probability_7d" and "0.3-0.5" in band.label
        with pytest.raises(InvalidInputError) as unknown:
            score_band_audience(store, "lifetime_love", 0, 1)
        assert unknown.value.errors[0].field == "band" and "purchase_probability_7d" in str(unknown.value)
