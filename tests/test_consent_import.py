"""Importing advertising consent from a shop's member export (Cafe24-style 수신동의 columns): the
ledger's entries, bad rows quarantined with their reason, contact data hashed and never stored,
re-importing stores nothing twice, an undated export records only changes, and an erased member
is not brought back by an old export."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from shopmind.core import ImportFileError
from shopmind.ingest import consent_value, detect_columns, import_consents
from shopmind.store import (
    ConsentEntry,
    Workspace,
    consent_history,
    consent_state,
    erase_profile,
    profile_identifiers,
    record_consents,
    resolve_customer,
)
from tests.test_privacy import holding, shopmind

SEOUL = ZoneInfo("Asia/Seoul")
HEADER = [
    "아이디",
    "이름",
    "휴대폰번호",
    "이메일",
    "SMS 수신여부",
    "이메일 수신여부",
    "야간 SMS 수신여부",
    "수신동의일",
]
#: a Cafe24-style 회원 목록 (as its CSV download writes it, with a byte-order mark)
MEMBERS = [
    ["kimcs", "김철수", "010-1234-5678", "kimcs@example.com", "Y", "N", "Y", "2024-03-02 10:15:00"],
    ["leeyh", "이영희", "010 2222 3333", "lee.yh@example.com", "수신거부", "수신", "", "2025-01-05"],
    ["", "최지우", "+82 10 9999 0000", "", "동의", "", "", "2025.02.01"],  # a guest: the phone is who
    ["parkms", "박민수", "", "park@example.com", "모름", "Y", "", "2025-02-01"],  # not a consent value
    ["jungdh", "정동하", "", "", "Y", "", "", "어제"],  # not a date
    ["", "한가람", "", "not-an-email", "Y", "", "", "2025-02-01"],  # no one to record it for
    ["songmj", "송민지", "", "", "Y", "", "", "2099-01-01"],  # in the future
]
PLAIN = [
    "010-1234-5678",
    "01012345678",
    "kimcs@example.com",
    "lee.yh@example.com",
    "01099990000",
    "김철수",
    "이영희",
]


def write_members(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace.init(tmp_path / "shop")


def test_the_usual_korean_columns_and_values_are_understood() -> None:
    assert detect_columns(HEADER) == {
        "user_id": "아이디",
        "phone": "휴대폰번호",
        "email": "이메일",
        "consent_sms": "SMS 수신여부",
        "consent_email": "이메일 수신여부",
        "night_sms": "야간 SMS 수신여부",
        "occurred_at": "수신동의일",
    }
    for yes in ("Y", "y", "수신", "동의", "수신동의", "true", "1", "O"):
        assert consent_value(yes) is True
    for no in ("N", "수신거부", "거부", "미동의", "false", "0", "X"):
        assert consent_value(no) is False
    assert consent_value("") is None and consent_value(None) is None
    with pytest.raises(ValueError):
        consent_value("모름")


def test_a_cafe24_member_export_becomes_ledger_entries(ws: Workspace, tmp_path: Path) -> None:
    path = write_members(tmp_path / "members.csv", HEADER, MEMBERS)
    hasher = ws.hasher()
    with ws.open_store() as store:
        report = import_consents(store, path, hasher=hasher)
        assert (report.rows_read, report.stored, report.rejected) == (7, 6, 4)
        assert dict(report.extra)["member ids newly linked to their contacts"] == 4
        entries = store.sql(
            "SELECT identifier, channel, purpose, granted, occurred_at, method FROM consent_ledger ORDER BY seq"
        )
        guest = f"phone:{hasher.phone('010-9999-0000')}"
        at_kim, at_lee = datetime(2024, 3, 2, 10, 15, tzinfo=SEOUL), datetime(2025, 1, 5, tzinfo=SEOUL)
        assert entries == [
            ("user:kimcs", "email", "advertising", False, at_kim, "import"),
            ("user:kimcs", "sms", "advertising", True, at_kim, "import"),
            ("user:kimcs", "sms", "night_advertising", True, at_kim, "import"),
            ("user:leeyh", "email", "advertising", True, at_lee, "import"),
            ("user:leeyh", "sms", "advertising", False, at_lee, "import"),
            (guest, "sms", "advertising", True, datetime(2025, 2, 1, tzinfo=SEOUL), "import"),
        ]
        quarantined = dict(store.sql("SELECT line_no, reason FROM quarantine ORDER BY line_no"))
        assert set(quarantined) == {5, 6, 7, 8}
        assert "consent_sms: '모름' is not a consent value" in quarantined[5]
        assert "occurred_at: cannot read '어제' as a date" in quarantined[6]
        assert quarantined[7].startswith("identifier: no member id")
        assert "occurred_at: '2099-01-01' is in the future" in quarantined[8]
        # the member's contacts are theirs: a withdrawal by 080 call arrives as a phone number
        assert resolve_customer(store, "010-1234-5678", hasher) == "user:kimcs"
        record_consents(
            store,
            [
                ConsentEntry(
                    f"phone:{hasher.phone('01012345678')}", "sms", False, datetime.now(UTC), "reply_080"
                )
            ],
        )
        kim = consent_state(store, "user:kimcs").channel("sms")
        assert (
            not kim.advertising_granted
            and kim.advertising is not None
            and kim.advertising.method == "reply_080"
        )
        assert kim.night_granted  # the night-time consent is its own: moot while the consent is withdrawn
        # plain contact data and names are nowhere: not in the ledger, the links, the quarantine
        assert holding(store, PLAIN) == []

        again = import_consents(store, path, hasher=hasher)
        assert (again.stored, again.duplicates) == (0, 6)
        assert store.scalar("SELECT count(*) FROM consent_ledger") == 7
        assert store.scalar("SELECT count(*) FROM quarantine") == 4


def test_an_undated_export_needs_its_date_and_records_only_changes(ws: Workspace, tmp_path: Path) -> None:
    header = ["회원아이디", "SMS수신여부", "뉴스메일 수신여부"]
    january = write_members(
        tmp_path / "january.csv", header, [["m1", "Y", "Y"], ["m2", "N", "Y"], ["m3", "Y", ""]]
    )
    hasher = ws.hasher()
    with ws.open_store() as store:
        with pytest.raises(ImportFileError, match="--exported-at"):
            import_consents(store, january, hasher=hasher)
        exported = datetime(2026, 1, 31, 18, tzinfo=SEOUL)
        first = import_consents(store, january, hasher=hasher, exported_at=exported)
        assert first.stored == 5
        # m1 unsubscribes from e-mail on 10 February; m3 withdraws text messages
        record_consents(
            store,
            [
                ConsentEntry(
                    "user:m1", "email", False, datetime(2026, 2, 10, tzinfo=SEOUL), "unsubscribe_link"
                ),
                ConsentEntry(
                    "user:m3", "sms", False, datetime(2026, 2, 11, tzinfo=SEOUL), "unsubscribe_link"
                ),
            ],
        )
        # the February export was taken on 1 February, before those, and imported in March;
        # m2 agreed to text messages meanwhile
        february = write_members(
            tmp_path / "february.csv", header, [["m1", "Y", "Y"], ["m2", "Y", "Y"], ["m3", "Y", ""]]
        )
        second = import_consents(
            store, february, hasher=hasher, exported_at=datetime(2026, 2, 1, tzinfo=SEOUL)
        )
        extra = dict(second.extra)
        assert second.stored == 3  # m2's new consent; m1's e-mail and m3's text as the export said then
        assert extra["undated rows the ledger already holds (skipped)"] == 2  # m1's and m2's unchanged ones
        m1 = consent_state(store, "user:m1")
        assert not m1.channel("email").advertising_granted  # the later withdrawal holds
        # the date of a consent the export only repeated stays the date it was given
        sms = m1.channel("sms").advertising
        assert sms is not None and sms.occurred_at == exported
        assert consent_state(store, "user:m2").channel("sms").advertising_granted
        assert not consent_state(store, "user:m3").channel("sms").advertising_granted
        history = consent_history(store, profile_identifiers(store, "user:m1"))
        assert [(h.channel, h.granted, h.method, h.occurred_at) for h in history] == [
            ("email", True, "import", exported),
            ("sms", True, "import", exported),
            ("email", True, "import", datetime(2026, 2, 1, tzinfo=SEOUL)),  # what the export said then
            ("email", False, "unsubscribe_link", datetime(2026, 2, 10, tzinfo=SEOUL)),
        ]
        third = import_consents(
            store, february, hasher=hasher, exported_at=datetime(2026, 2, 1, tzinfo=SEOUL)
        )
        assert third.stored == 0


def test_an_erased_member_is_not_brought_back_by_an_old_export(ws: Workspace, tmp_path: Path) -> None:
    path = write_members(tmp_path / "members.csv", HEADER, MEMBERS)
    hasher = ws.hasher()
    with ws.open_store() as store:
        import_consents(store, path, hasher=hasher)
        erased = erase_profile(store, "user:kimcs", hasher)
        counts = dict(erased.counts)
        assert counts["consent_ledger"] == 3 and counts["identity_links"] == 2
        assert not store.sql("SELECT 1 FROM consent_current WHERE profile_id = 'user:kimcs'")
        again = import_consents(store, path, hasher=hasher)
        assert dict(again.extra)["entries and rows of erased customers (skipped)"] == 3
        assert again.stored == 0
        kim = [f"phone:{hasher.phone('010-1234-5678')}", f"email:{hasher.email('kimcs@example.com')}"]
        assert holding(store, ["kimcs", *(k.split(":")[1] for k in kim)]) == []
        assert resolve_customer(store, "user:kimcs") is None
        # a consent given after the erasure (they joined again) is theirs to give
        later = write_members(
            tmp_path / "later.csv",
            HEADER,
            [["kimcs", "김철수", "", "", "Y", "", "", datetime.now(UTC).isoformat()]],
        )
        assert import_consents(store, later, hasher=hasher).stored == 1


def test_the_cli_imports_an_xlsx_with_a_mapping_and_remembers_it(ws: Workspace, tmp_path: Path) -> None:
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["member", "mobile no", "sms ok", "push ok", "changed"])
    sheet.append(["m10", "010-5555-6666", "Y", "N", datetime(2025, 5, 1, 9, 30)])
    sheet.append(["m11", "", "maybe", "Y", datetime(2025, 5, 2)])
    path = tmp_path / "members.xlsx"
    book.save(path)
    maps = [
        "--map",
        "user_id=member",
        "--map",
        "phone=mobile no",
        "--map",
        "consent_sms=sms ok",
        "--map",
        "consent_app_push=push ok",
        "--map",
        "occurred_at=changed",
    ]
    done = shopmind("consent", "import", str(path), "-w", str(ws.path), *maps)
    assert done.returncode == 3, done.stdout + done.stderr  # a row quarantined
    assert "sms entries" in done.stdout and "consent_sms" in done.stdout
    again = shopmind("consent", "import", str(path), "-w", str(ws.path))  # the saved mapping
    assert again.returncode == 3 and "using the saved mapping for consents" in again.stdout
    assert "already stored (skipped)" in again.stdout
    unknown = shopmind("consent", "import", str(path), "-w", str(ws.path), "--map", "sms=sms ok")
    assert unknown.returncode == 4 and "unknown mapping field" in unknown.stderr
    with ws.open_store(read_only=True) as store:
        state = consent_state(store, "user:m10")
        assert state.channel("sms").advertising_granted and not state.channel("app_push").advertising_granted
        sms = state.channel("sms").advertising
        assert sms is not None and sms.occurred_at == datetime(2025, 5, 1, 9, 30, tzinfo=SEOUL)
        assert "010-5555-6666" not in str(store.sql("SELECT * FROM quarantine"))
