"""The consent ledger (정보통신망법 §50): current state is the last entry per channel whatever the
order entries arrive in (equal times, re-sent entries, two identifiers of one customer); the
advertising decision at night in Asia/Seoul; informational messages; the two-yearly notice; the
ledger is append-only; the old ``consents`` table migrates into it."""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shopmind.core import InvalidInputError
from shopmind.store import (
    CHANNELS,
    LATEST_VERSION,
    MIGRATIONS,
    ConsentEntry,
    ConsentNotice,
    Store,
    advertising_allowed,
    consent_history,
    consent_state,
    is_night,
    may_send_advertising,
    may_send_informational,
    notices_due,
    profile_identifiers,
    record_consent_rows,
    record_consents,
    record_notices,
)

SEOUL = ZoneInfo("Asia/Seoul")
BASE = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)  # 12:00 in Seoul
SRC = Path(__file__).resolve().parents[1] / "src" / "shopmind"


def kst(*args: int) -> datetime:
    return datetime(*args, tzinfo=SEOUL)  # type: ignore[misc]


# -- the current state is the last entry --------------------------------------------------------
#: a few moments only, so that equal times are common; two identifiers of one customer
MOMENTS = [BASE + timedelta(hours=h) for h in (0, 0, 1, 5)]
WHO = ("user:m1", "phone:h1")
entry = st.tuples(
    st.sampled_from(WHO),
    st.sampled_from(("sms", "email", "kakao")),
    st.sampled_from(("advertising", "night_advertising")),
    st.booleans(),
    st.sampled_from(MOMENTS),
    st.sampled_from(("signup_form", "unsubscribe_link", "reply_080", "tracker")),
)


def _linked_store() -> Store:
    store = Store(":memory:")
    store.link_identities([("user:m1", "phone:h1", "contact")])
    store.rebuild_profiles()
    return store


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    entries=st.lists(entry, min_size=1, max_size=14),
    resend=st.lists(st.integers(min_value=0, max_value=13), max_size=6),
    cuts=st.lists(st.integers(min_value=1, max_value=13), max_size=3),
)
def test_state_is_the_last_entry_per_channel_whatever_the_order(
    entries: list[tuple[str, str, str, bool, datetime, str]], resend: list[int], cuts: list[int]
) -> None:
    made = [
        ConsentEntry(ident, ch, granted, at, method, purpose=purpose, entry_id=f"e{i}")
        for i, (ident, ch, purpose, granted, at, method) in enumerate(entries)
    ]
    # re-sent entries (same id, even with other content: the first one stored holds) and batches
    arrivals = made + [
        ConsentEntry(
            e.identifier, e.channel, not e.granted, e.occurred_at, e.method, e.purpose, entry_id=e.entry_id
        )
        for e in (made[i] for i in resend if i < len(made))
    ]
    edges = sorted({0, len(arrivals), *(c for c in cuts if c < len(arrivals))})
    with _linked_store() as store:
        stored = []
        for a, b in itertools.pairwise(edges):
            stored.append(record_consents(store, arrivals[a:b]).inserted)
        assert sum(stored) == len(made)  # every distinct entry once
        # the oracle: per channel and purpose, the entry that happened last, ties by arrival
        last: dict[tuple[str, str], ConsentEntry] = {}
        for e in made:  # ``made`` is the arrival order of the first copies
            key = (e.channel, e.purpose)
            if key not in last or e.occurred_at >= last[key].occurred_at:
                last[key] = e
        state = consent_state(store, "user:m1")
        for ch in CHANNELS:
            c = state.channel(ch)
            for purpose, fact in (("advertising", c.advertising), ("night_advertising", c.night)):
                want = last.get((ch, purpose))
                if want is None:
                    assert fact is None
                else:
                    assert fact is not None
                    assert (fact.granted, fact.occurred_at, fact.method, fact.identifier) == (
                        want.granted,
                        want.occurred_at,
                        want.method,
                        want.identifier,
                    )
        # the view every segment and export joins says the same, for the whole customer
        view = {
            (ch, p): g
            for ch, p, g in store.sql(
                "SELECT channel, purpose, granted FROM consent_current WHERE profile_id = 'user:m1'"
            )
        }
        assert view == {k: e.granted for k, e in last.items()}
        assert not store.sql("SELECT 1 FROM consent_current WHERE profile_id = 'phone:h1'")  # one customer
        for ch in ("sms", "email", "kakao"):
            ad = last.get((ch, "advertising"))
            night = last.get((ch, "night_advertising"))
            day_ok = ad is not None and ad.granted
            assert (advertising_allowed(store, ch) == {"user:m1"}) == day_ok
            night_ok = day_ok and (ch == "email" or (night is not None and night.granted))
            assert (advertising_allowed(store, ch, at=kst(2026, 3, 2, 23)) == {"user:m1"}) == night_ok
            assert may_send_advertising(store, "user:m1", ch, kst(2026, 3, 2, 23)).allowed == night_ok
        # the history is every entry in the order it holds
        history = consent_history(store, profile_identifiers(store, "user:m1"))
        assert [h.entry_id for h in history] == [
            e.entry_id for e in sorted(made, key=lambda e: (e.occurred_at, made.index(e)))
        ]


def test_a_resent_entry_without_an_id_is_stored_once(store: Store) -> None:
    e = ConsentEntry("user:m1", "sms", True, BASE, "signup_form", text_version="2024-01")
    assert record_consents(store, [e, e]).inserted == 1
    assert record_consents(store, [e]).inserted == 0
    assert store.scalar("SELECT count(*) FROM consent_ledger") == 1


def test_an_entrys_id_is_its_content_in_python_and_in_the_engine(store: Store) -> None:
    e = ConsentEntry("user:m1", "sms", True, kst(2026, 3, 2, 12, 0), "signup_form", text_version="v1")
    same_moment = ConsentEntry("user:m1", "sms", True, BASE, "signup_form", text_version="v1")
    assert e.key() == same_moment.key()  # one moment, written in any zone
    record_consents(store, [e])
    assert store.scalar("SELECT entry_id FROM consent_ledger") == e.key()
    bulk = pa.table(
        {
            "entry_id": pa.array([None, "given-id"], pa.string()),
            "identifier": ["user:m1", "user:m2"],
            "channel": ["sms", "email"],
            "purpose": ["advertising", "advertising"],
            "granted": [True, False],
            "occurred_at": pa.array([BASE, BASE], pa.timestamp("us", tz="UTC")),
            "method": ["signup_form", "import"],
            "text_version": ["v1", None],
            "source": ["bulk", "bulk"],
        }
    )
    written = record_consent_rows(store, bulk)
    assert (written.inserted, written.duplicates) == (1, 1)  # the first is the entry above
    bad = bulk.set_column(2, "channel", pa.array(["sms", "fax"]))
    bad = bad.set_column(4, "granted", pa.array([True, None], pa.bool_()))
    with pytest.raises(InvalidInputError) as caught:
        record_consent_rows(store, bad.set_column(0, "entry_id", pa.array(["x", "y"])))
    assert {e.field for e in caught.value.errors} == {"rows.1.channel", "rows.1.granted"}
    assert store.scalar("SELECT count(*) FROM consent_ledger") == 2


def test_bad_entries_name_the_field_and_store_nothing(store: Store) -> None:
    bad = [
        ConsentEntry("user:m1", "sms", True, BASE, "signup_form"),
        ConsentEntry("m1", "fax", True, datetime(2026, 3, 2), "mail", purpose="marketing"),
    ]
    with pytest.raises(InvalidInputError) as caught:
        record_consents(store, bad)
    fields = {e.field for e in caught.value.errors}
    assert fields == {
        "entries.1.identifier",
        "entries.1.channel",
        "entries.1.purpose",
        "entries.1.method",
        "entries.1.occurred_at",
    }
    assert "fax" in str(caught.value) and "email, sms, kakao, app_push, web_push" in str(caught.value)
    assert store.scalar("SELECT count(*) FROM consent_ledger") == 0


# -- may an advertising message go out now? --------------------------------------------------
@pytest.mark.parametrize(
    ("local", "night"),
    [((20, 59), False), ((21, 0), True), ((23, 30), True), ((0, 0), True), ((7, 59), True), ((8, 0), False)],
)
def test_the_night_is_21_to_8_in_the_shops_zone(local: tuple[int, int], night: bool) -> None:
    at = kst(2026, 3, 2, *local)
    assert is_night(at) is night
    assert is_night(at.astimezone(UTC), "Asia/Seoul") is night  # the same moment in UTC
    assert is_night(kst(2026, 3, 2, 21, 30), "Europe/London") is False  # 12:30 there: the shop's zone decides


def test_advertising_decisions_at_night_in_seoul(store: Store) -> None:
    signed_up = kst(2025, 6, 1, 10)
    record_consents(
        store,
        [
            ConsentEntry("user:day", "sms", True, signed_up, "signup_form"),
            ConsentEntry("user:night", "sms", True, signed_up, "signup_form"),
            ConsentEntry("user:night", "sms", True, signed_up, "signup_form", purpose="night_advertising"),
            ConsentEntry("user:day", "email", True, signed_up, "signup_form"),
            ConsentEntry("user:left", "sms", True, signed_up, "signup_form"),
            ConsentEntry("user:left", "sms", True, signed_up, "signup_form", purpose="night_advertising"),
            ConsentEntry("user:left", "sms", False, kst(2026, 1, 5, 9), "reply_080"),
            ConsentEntry("user:nightoff", "sms", True, signed_up, "signup_form"),
            ConsentEntry("user:nightoff", "sms", True, signed_up, "signup_form", purpose="night_advertising"),
            ConsentEntry(
                "user:nightoff", "sms", False, kst(2026, 2, 1, 9), "tracker", purpose="night_advertising"
            ),
        ],
    )
    evening, noon = kst(2026, 3, 2, 21, 30), kst(2026, 3, 2, 12)

    def decide(who: str, channel: str, at: datetime) -> tuple[bool, str]:
        d = may_send_advertising(store, who, channel, at, "Asia/Seoul")
        return d.allowed, d.reason

    assert decide("user:day", "sms", noon) == (True, "allowed")
    assert decide("user:day", "sms", evening) == (False, "night_without_consent")
    assert decide("user:night", "sms", evening) == (True, "allowed")
    assert decide("user:day", "email", evening) == (True, "allowed")  # e-mail: no night-time rule
    assert decide("user:nightoff", "sms", evening) == (False, "night_without_consent")
    assert decide("user:nightoff", "sms", noon) == (True, "allowed")
    left = may_send_advertising(store, "user:left", "sms", noon)
    assert (left.allowed, left.reason, left.since, left.method) == (
        False,
        "withdrawn",
        kst(2026, 1, 5, 9),
        "reply_080",
    )
    assert decide("user:nobody", "sms", noon) == (False, "no_consent")
    assert decide("user:day", "kakao", noon) == (False, "no_consent")
    # 20:59 and 08:00 are day; the same moments in UTC decide the same
    assert decide("user:day", "sms", kst(2026, 3, 2, 20, 59).astimezone(UTC)) == (True, "allowed")
    assert decide("user:day", "sms", kst(2026, 3, 3, 7, 59).astimezone(UTC)) == (
        False,
        "night_without_consent",
    )
    assert decide("user:day", "sms", kst(2026, 3, 3, 8, 0)) == (True, "allowed")
    # before they withdrew, it was allowed: the decision is as of the ledger now, at the time asked
    assert advertising_allowed(store, "sms") == {"user:day", "user:night", "user:nightoff"}
    assert advertising_allowed(store, "sms", at=evening) == {"user:night"}
    assert advertising_allowed(store, ["kakao", "email"]) == {"user:day"}
    assert advertising_allowed(store, "sms", profile_ids=["user:day", "user:left", "user:x"]) == {"user:day"}
    # informational messages are not advertising: always allowed, on every channel, at any hour
    for ch in CHANNELS:
        info = may_send_informational(ch, evening)
        assert info.allowed and info.reason == "informational"
    with pytest.raises(InvalidInputError, match="channel"):
        may_send_informational("fax")
    with pytest.raises(InvalidInputError, match="channel"):
        advertising_allowed(store, "fax")


def test_advertising_allowed_is_one_query_for_a_whole_segment(store: Store) -> None:
    n = 20_000
    record_consents(
        store,
        [ConsentEntry(f"user:m{i}", "sms", i % 3 != 0, BASE, "import") for i in range(n)],
    )
    segment = [f"user:m{i}" for i in range(0, n, 2)]
    allowed = advertising_allowed(store, "sms", profile_ids=segment)
    assert allowed == {p for p in segment if int(p[6:]) % 3 != 0}


# -- the two-yearly notice ---------------------------------------------------------------------
def test_the_notice_is_due_two_years_after_the_consent_or_the_last_notice(store: Store) -> None:
    record_consents(
        store,
        [
            ConsentEntry("user:old", "sms", True, kst(2024, 3, 1, 10), "signup_form"),
            ConsentEntry("user:old", "email", True, kst(2025, 7, 1, 10), "signup_form"),
            ConsentEntry("user:noticed", "sms", True, kst(2023, 1, 10), "signup_form"),
            ConsentEntry("user:young", "sms", True, kst(2025, 1, 1), "signup_form"),
            ConsentEntry("user:gone", "sms", True, kst(2022, 1, 1), "signup_form"),
            ConsentEntry("user:gone", "sms", False, kst(2023, 1, 1), "unsubscribe_link"),
            ConsentEntry("user:leap", "email", True, kst(2024, 2, 29, 12), "signup_form"),
        ],
    )
    record_notices(store, [ConsentNotice("user:noticed", "email", kst(2025, 1, 5))])
    due = {d.profile_id: d for d in notices_due(store, kst(2026, 3, 2))}
    assert set(due) == {"user:old", "user:leap"}  # the oldest consent in force counts
    assert due["user:old"].channels == ("email", "sms") and due["user:old"].last_notice_at is None
    assert due["user:old"].due_at == kst(2026, 3, 1, 10)
    assert due["user:leap"].due_at == kst(2026, 2, 28, 12)
    soon = {d.profile_id for d in notices_due(store, kst(2026, 3, 2), within=timedelta(days=366))}
    assert soon == {"user:old", "user:leap", "user:young", "user:noticed"}
    state = consent_state(store, "user:noticed")
    assert state.last_notice_at == kst(2025, 1, 5) and state.notice_due_at == kst(2027, 1, 5)
    assert consent_state(store, "user:leap").notice_due_at == kst(2026, 2, 28, 12)
    # the notice went out: they are not due again for two years
    record_notices(store, [ConsentNotice("user:old", "email", kst(2026, 3, 2, 9))])
    assert {d.profile_id for d in notices_due(store, kst(2026, 3, 2, 10))} == {"user:leap"}
    assert record_notices(store, [ConsentNotice("user:old", "email", kst(2026, 3, 2, 9))]).inserted == 0


# -- append-only, and the old table migrated -----------------------------------------------------
def test_the_ledger_is_only_ever_appended_to_except_by_an_erasure() -> None:
    changes = re.compile(
        r"(UPDATE\s+consent_(ledger|notices)|DELETE\s+FROM\s+consent_(ledger|notices))", re.I
    )
    found = [
        str(path.relative_to(SRC))
        for path in SRC.rglob("*.py")
        if changes.search(path.read_text(encoding="utf-8"))
    ]
    assert found == []  # the erasure deletes by table name from ERASED_TABLES, nothing else changes rows
    erasure = (SRC / "store" / "_erasure.py").read_text(encoding="utf-8")
    assert '"consent_ledger"' in erasure and '"consent_notices"' in erasure


def test_the_old_consents_table_migrates_into_the_ledger(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    con.execute("SET TimeZone = 'UTC'")
    con.execute(
        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name VARCHAR, applied_at TIMESTAMPTZ)"
    )
    for m in MIGRATIONS:
        if m.version <= 12:
            con.execute(m.sql)
            con.execute("INSERT INTO schema_migrations VALUES (?, ?, now())", [m.version, m.name])
    con.execute(
        """INSERT INTO consents VALUES
        ('user:m1', 'sms', 'marketing', true, '2025-01-01 00:00+00', 'test'),
        ('user:m1', 'sms', 'marketing', false, '2025-06-01 00:00+00', 'api'),
        ('user:m2', 'push', 'marketing', true, '2025-02-01 00:00+00', 'signup_form')"""
    )
    con.close()
    with Store(path) as store:
        assert store.schema_version() == LATEST_VERSION
        assert not store.sql("SELECT 1 FROM information_schema.tables WHERE table_name = 'consents'")
        rows = store.sql(
            "SELECT identifier, channel, purpose, granted, method, source FROM consent_ledger ORDER BY seq"
        )
        assert rows == [
            ("user:m1", "sms", "advertising", True, "api", "test"),
            ("user:m2", "app_push", "advertising", True, "signup_form", "signup_form"),
            ("user:m1", "sms", "advertising", False, "api", "api"),
        ]
        assert not consent_state(store, "user:m1").channel("sms").advertising_granted
        assert consent_state(store, "user:m2").channel("app_push").advertising_granted
        # new entries come after the migrated ones, even at the same moment
        record_consents(
            store, [ConsentEntry("user:m1", "sms", True, datetime(2025, 6, 1, tzinfo=UTC), "admin")]
        )
        assert consent_state(store, "user:m1").channel("sms").advertising_granted


def test_the_surfaces_name_the_ledgers_channels_and_methods() -> None:
    from typing import get_args

    from shopmind.api._consent import Channel, Method
    from shopmind.cli._consent import CHANNEL_NAMES, METHOD_NAMES
    from shopmind.core import LABELS
    from shopmind.store import METHODS, PURPOSES, REASONS

    assert CHANNEL_NAMES == CHANNELS and METHOD_NAMES == METHODS
    assert get_args(Channel) == CHANNELS and get_args(Method) == METHODS
    # every code a surface shows has its words in both languages (one catalogue)
    for kind, codes in (
        ("channel", CHANNELS),
        ("consent_method", METHODS),
        ("consent_purpose", PURPOSES),
        ("consent_reason", REASONS),
    ):
        assert set(codes) <= set(LABELS[kind]), kind
