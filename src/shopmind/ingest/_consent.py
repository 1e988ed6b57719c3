"""Importing advertising consent from a shop's member export (CSV/Parquet/XLSX), such as Cafe24's
회원 목록: a member id and/or contact columns, and per channel a 수신여부 column (``Y``/``N``,
``수신``/``수신거부``, ``동의``/``거부``, …), with the date of the consent if the file has one.

Every row becomes ledger entries (``store.record_consents``), one per channel with a value:

* the customer is the member id (``user:…``), else the anonymous id, else the keyed hash of the
  e-mail address, else of the phone number; a member's contact columns are linked to the member
  (so a withdrawal by 080 call, which arrives as a phone number, reaches them). Plain contact
  data is never stored: it is hashed here and only the hash goes on.
* a row's consent happened at its date column (``occurred_at``, or a channel's own); a file
  without one needs ``exported_at``, when the export was taken. An undated row that says what the
  ledger says already is skipped: re-importing next month's export records only what changed,
  and never moves the date of a consent to the export's.
* bad rows (an unknown value, an unreadable date, no identifier) go to the quarantine with the
  field and the reason; re-importing the same file stores nothing twice (each entry's id is its
  content).
* rows of a customer who was erased, dated before the erasure, are skipped and counted: an old
  export does not bring them back.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pyarrow as pa

from shopmind.core import DEFAULT_SHOP_TZ, IdentifierHasher, ImportFileError
from shopmind.ingest._report import ImportReport, Progress, count_by_field, finish_import, no_progress
from shopmind.ingest._tabular import LINE, read_tabular, unreadable_table
from shopmind.store import (
    CHANNELS,
    METHODS,
    NIGHT_EXEMPT,
    ConsentEntry,
    Store,
    WriteResult,
    erasure_token,
    record_consents,
)

#: the fields a column can be mapped to (``--map FIELD=COLUMN``)
ID_FIELDS = ("user_id", "anonymous_id", "email", "phone")
CONSENT_FIELDS = tuple(f"consent_{c}" for c in CHANNELS)
NIGHT_FIELDS = tuple(f"night_{c}" for c in CHANNELS if c not in NIGHT_EXEMPT)
DATE_FIELDS = ("occurred_at", *(f"occurred_at_{c}" for c in CHANNELS))
FIELDS = (*ID_FIELDS, *CONSENT_FIELDS, *NIGHT_FIELDS, *DATE_FIELDS, "text_version")

#: column names the common Korean shop platforms' member exports use (Cafe24 and the like),
#: compared without spaces, underscores, hyphens or case
HEADERS: dict[str, tuple[str, ...]] = {
    "user_id": ("아이디", "회원아이디", "회원id", "회원번호", "memberid", "userid", "customerid"),
    "anonymous_id": ("anonymousid",),
    "email": ("이메일", "이메일주소", "email", "emailaddress", "메일주소"),
    "phone": ("휴대폰번호", "휴대폰", "휴대전화", "휴대전화번호", "핸드폰번호", "핸드폰", "phone", "mobile"),
    "consent_sms": (
        "sms수신여부",
        "sms수신동의",
        "sms수신동의여부",
        "문자수신여부",
        "문자수신동의",
        "smsconsent",
    ),
    "consent_email": (
        "이메일수신여부",
        "뉴스메일수신여부",
        "메일수신여부",
        "이메일수신동의",
        "이메일수신동의여부",
        "email수신여부",
        "emailconsent",
    ),
    "consent_kakao": ("카카오톡수신여부", "친구톡수신여부", "카카오수신여부", "kakaoconsent"),
    "consent_app_push": ("앱푸시수신여부", "푸시수신여부", "앱푸시수신동의", "apppushconsent"),
    "consent_web_push": ("웹푸시수신여부", "webpushconsent"),
    "night_sms": ("야간sms수신여부", "야간문자수신여부", "야간수신여부", "smsnightconsent"),
    "night_kakao": ("야간카카오톡수신여부", "야간친구톡수신여부"),
    "night_app_push": ("야간앱푸시수신여부", "야간푸시수신여부"),
    "night_web_push": ("야간웹푸시수신여부",),
    "occurred_at": (
        "수신동의일",
        "수신동의일자",
        "수신동의일시",
        "수신여부변경일",
        "수신동의변경일",
        "동의일",
        "동의일시",
    ),
    "occurred_at_sms": ("sms수신동의일", "sms수신여부변경일", "문자수신동의일"),
    "occurred_at_email": ("이메일수신동의일", "이메일수신여부변경일", "뉴스메일수신동의일"),
    "text_version": ("동의문구버전", "약관버전", "textversion"),
}

YES = frozenset({"y", "yes", "true", "t", "1", "o", "수신", "동의", "수신동의", "예", "허용"})
NO = frozenset(
    {
        "n",
        "no",
        "false",
        "f",
        "0",
        "x",
        "수신거부",
        "거부",
        "미동의",
        "비동의",
        "아니오",
        "미수신",
        "수신안함",
        "동의안함",
        "철회",
    }
)
_DATE_FORMATS = (
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d",
    "%Y.%m.%d %H:%M:%S",
    "%Y.%m.%d",
    "%Y/%m/%d",
    "%Y%m%d",
)
#: how far past now a consent's date may lie (clocks differ a little)
FUTURE_TOLERANCE = timedelta(minutes=5)
_SQUASH = re.compile(r"[\s_\-]+")


def _squash(name: str) -> str:
    return _SQUASH.sub("", name).lower()


def detect_columns(columns: list[str]) -> dict[str, str]:
    """field → column for the columns a member export names the usual way."""
    found: dict[str, str] = {}
    by_name = {_squash(c): c for c in columns}
    for field, names in HEADERS.items():
        for name in names:
            if name in by_name:
                found[field] = by_name[name]
                break
    return found


def consent_value(text: str | None) -> bool | None:
    """True for a consent, False for a refusal, None for an empty cell; ValueError otherwise."""
    if text is None or not str(text).strip():
        return None
    value = str(text).strip().lower()
    if value in YES:
        return True
    if value in NO:
        return False
    raise ValueError(text)


def parse_moment(text: str, zone: str) -> datetime:
    """A date or date and time as member exports write them; read in ``zone`` without an offset."""
    value = text.strip()
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(value, fmt).replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)
        except ValueError:
            continue
    parsed = datetime.fromisoformat(value)  # ISO 8601, maybe with an offset (ValueError if not)
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=ZoneInfo(zone))).astimezone(UTC)


def import_consents(
    store: Store,
    path: str | Path,
    *,
    hasher: IdentifierHasher,
    mapping: Mapping[str, str] | None = None,
    exported_at: datetime | None = None,
    zone: str = DEFAULT_SHOP_TZ,
    method: str = "import",
    text_version: str | None = None,
    progress: Progress = no_progress,
) -> ImportReport:
    """Import a member export's consent columns (see the module's doc). ``mapping``: field →
    column (``FIELDS``); without one the usual Korean column names are found. ``exported_at``:
    when the export was taken, the date of rows without one."""
    if method not in METHODS:
        raise ImportFileError(f"unknown method {method!r}; expected one of {', '.join(METHODS)}")
    data = read_tabular(path)
    present = [c for c in data.rows.column_names if c != LINE]
    columns = dict(mapping) if mapping else detect_columns(present)
    unknown = sorted(set(columns) - set(FIELDS))
    if unknown:
        raise ImportFileError(f"unknown mapping field(s) {unknown}; the fields are {', '.join(FIELDS)}")
    missing = sorted(f"{f}={c}" for f, c in columns.items() if c not in present)
    if missing:
        raise ImportFileError(f"{path}: no column for {', '.join(missing)}; its columns are {present}")
    if not any(f in columns for f in ID_FIELDS):
        raise ImportFileError(
            f"{path}: no member id, anonymous id, e-mail or phone column found among {present}; "
            "map one, e.g. --map user_id=아이디"
        )
    if not any(f in columns for f in (*CONSENT_FIELDS, *NIGHT_FIELDS)):
        raise ImportFileError(
            f"{path}: no consent column found among {present}; map one, e.g. --map 'consent_sms=SMS 수신여부'"
        )
    dated = any(f in columns for f in DATE_FIELDS)
    if not dated and exported_at is None:
        raise ImportFileError(
            f"{path}: the file has no date of consent (map one, e.g. --map occurred_at=수신동의일): "
            "say when it was exported (--exported-at), the date its rows' consents held"
        )
    now = store._clock.now()
    if exported_at is not None and exported_at > now + FUTURE_TOLERANCE:
        raise ImportFileError(f"--exported-at {exported_at.isoformat()} is in the future")
    import_id = store.begin_import("consents", str(path), data.sha256)
    values = {f: data.rows.column(c).to_pylist() for f, c in columns.items()}
    lines = data.rows.column(LINE).to_pylist()
    kept_columns = [c for c in present if c not in {columns.get("email"), columns.get("phone")}]
    kept = {c: data.rows.column(c).to_pylist() for c in kept_columns}

    read = [_read_row(i, values, hasher, zone, exported_at, now, text_version) for i in range(len(lines))]
    progress("read", len(lines), len(lines))
    # an erased customer's rows from before the erasure leave no trace: no entry, no link, nothing
    # quarantined (a rejected row would keep their member id)
    erased = _erased_before(store, hasher, {r.subject for r in read if r.subject})
    rows: list[_Row] = []
    rejected: list[dict[str, Any]] = []
    links: dict[tuple[str, str, str], None] = {}
    invalid_contacts = skipped_erased = 0
    for i, row in enumerate(read):
        gone = erased.get(row.subject)
        if gone is not None:
            kept_entries = [e for e in row.entries if e.occurred_at > gone]
            skipped_erased += len(row.entries) - len(kept_entries) + (1 if row.errors else 0)
            row.entries = kept_entries
            if row.errors or not row.entries:
                continue
        invalid_contacts += row.invalid_contacts
        if row.errors:
            raw = {c: kept[c][i] for c in kept_columns}
            raw.update({f"{k}_hash": v for k, v in row.contacts.items()})
            rejected.append(
                {
                    "line_no": lines[i],
                    "field": row.errors[0].partition(":")[0],
                    "reason": "; ".join(row.errors),
                    "raw": orjson.dumps(raw).decode(),
                }
            )
            continue
        rows.append(row)
        for contact in row.linked:
            links[(row.subject, contact, "member_export")] = None
    quarantined = pa.concat_tables(
        [
            unreadable_table(data.unreadable),
            pa.Table.from_pylist(rejected, schema=unreadable_table(()).schema),
        ]
    )
    store.quarantine(quarantined, source=str(path), import_id=import_id, file_sha256=data.sha256)

    new_links = store.link_identities(list(links)) if links else []
    if new_links:  # the undated rows are compared with the state of the customers they now are
        store.rebuild_profiles()
    current = _current_state(store, {r.subject for r in rows if any(not e.dated for e in r.entries)})
    entries: list[ConsentEntry] = []
    unchanged = 0
    for row in rows:
        for e in row.entries:
            if not e.dated:
                key = (row.subject, e.channel, e.purpose)
                if current.get(key) == e.granted:
                    unchanged += 1
                    continue
                current[key] = e.granted  # a later row of the same customer compares with this one
            entries.append(
                ConsentEntry(
                    identifier=row.subject,
                    channel=e.channel,
                    purpose=e.purpose,
                    granted=e.granted,
                    occurred_at=e.occurred_at,
                    method=method,
                    text_version=row.text_version,
                    source=f"import:{import_id}",
                )
            )
    written = record_consents(store, entries) if entries else WriteResult(0, 0)
    if written.inserted:
        store.rebuild_profiles()  # a member known only from the export is a customer too
    progress("store", 1, 1)
    per_channel = {c: sum(1 for e in entries if e.channel == c) for c in CHANNELS}
    return finish_import(
        store,
        import_id=import_id,
        kind="consents",
        source=str(path),
        rows_read=len(lines) + len(data.unreadable),
        written=written,
        rejected=quarantined.num_rows,
        rejected_by_reason=count_by_field(quarantined),
        extra=(
            *((f"{c} entries", n) for c, n in per_channel.items() if n),
            ("undated rows the ledger already holds (skipped)", unchanged),
            ("entries and rows of erased customers (skipped)", skipped_erased),
            ("member ids newly linked to their contacts", len(new_links)),
            ("contact values that are not valid (not linked)", invalid_contacts),
        ),
    )


class _Value:
    __slots__ = ("channel", "dated", "granted", "occurred_at", "purpose")

    def __init__(self, channel: str, purpose: str, granted: bool, occurred_at: datetime, dated: bool) -> None:
        self.channel, self.purpose, self.granted = channel, purpose, granted
        self.occurred_at, self.dated = occurred_at, dated


class _Row:
    def __init__(self) -> None:
        self.subject = ""
        self.contacts: dict[str, str] = {}
        self.linked: list[str] = []
        self.entries: list[_Value] = []
        self.errors: list[str] = []
        self.invalid_contacts = 0
        self.text_version: str | None = None


def _cell(values: dict[str, list[Any]], field: str, i: int) -> str | None:
    column = values.get(field)
    if column is None or column[i] is None:
        return None
    text = str(column[i]).strip()
    return text or None


def _read_row(
    i: int,
    values: dict[str, list[Any]],
    hasher: IdentifierHasher,
    zone: str,
    exported_at: datetime | None,
    now: datetime,
    text_version: str | None,
) -> _Row:
    row = _Row()
    for kind in ("email", "phone"):
        raw = _cell(values, kind, i)
        if raw is None:
            continue
        hashed = hasher.email(raw) if kind == "email" else hasher.phone(raw)
        if hashed is None:
            row.invalid_contacts += 1
        else:
            row.contacts[kind] = hashed
    user, anon = _cell(values, "user_id", i), _cell(values, "anonymous_id", i)
    if user is not None:
        row.subject = f"user:{user}"
    elif anon is not None:
        row.subject = f"anon:{anon}"
    elif "email" in row.contacts:
        row.subject = f"email:{row.contacts['email']}"
    elif "phone" in row.contacts:
        row.subject = f"phone:{row.contacts['phone']}"
    else:
        row.errors.append("identifier: no member id, anonymous id, valid e-mail address or phone number")
        return row
    row.linked = [f"{k}:{v}" for k, v in row.contacts.items() if f"{k}:{v}" != row.subject]
    row.text_version = _cell(values, "text_version", i) or text_version
    general = _moment(values, "occurred_at", i, zone, now, row)
    for channel in CHANNELS:
        own = _moment(values, f"occurred_at_{channel}", i, zone, now, row)
        for purpose, field in (
            ("advertising", f"consent_{channel}"),
            ("night_advertising", f"night_{channel}"),
        ):
            text = _cell(values, field, i)
            try:
                granted = consent_value(text)
            except ValueError:
                row.errors.append(
                    f"{field}: {text!r} is not a consent value (Y/N, 수신/수신거부, 동의/거부, true/false)"
                )
                continue
            if granted is None:
                continue
            at = own or general
            if at is None and exported_at is None:
                row.errors.append(
                    f"{field}: the row has no date of consent; give --exported-at for such rows"
                )
                continue
            row.entries.append(
                _Value(channel, purpose, granted, at or exported_at, at is not None)  # type: ignore[arg-type]
            )
    return row


def _moment(
    values: dict[str, list[Any]], field: str, i: int, zone: str, now: datetime, row: _Row
) -> datetime | None:
    text = _cell(values, field, i)
    if text is None:
        return None
    try:
        moment = parse_moment(text, zone)
    except ValueError:
        row.errors.append(f"{field}: cannot read {text!r} as a date (e.g. 2024-03-02 or 2024-03-02 14:05)")
        return None
    if moment > now + FUTURE_TOLERANCE:
        row.errors.append(f"{field}: {text!r} is in the future")
        return None
    return moment


def _erased_before(store: Store, hasher: IdentifierHasher, subjects: set[str]) -> dict[str, datetime]:
    """subject → when the customer it names was erased (the latest time), for erased ones."""
    if not subjects:
        return {}
    tokens = {erasure_token(hasher, s): s for s in subjects}
    rows = store.sql(
        "SELECT token, max(erased_at) FROM erasures WHERE list_contains(?, token) GROUP BY token",
        [list(tokens)],
    )
    return {tokens[token]: at for token, at in rows}


def _current_state(store: Store, subjects: set[str]) -> dict[tuple[str, str, str], bool]:
    """(subject, channel, purpose) → the current state of the customer the subject is."""
    if not subjects:
        return {}
    rows = store.sql(
        """SELECT s.subject, c.channel, c.purpose, c.granted
        FROM (SELECT unnest(?::VARCHAR[]) AS subject) s
        LEFT JOIN profiles p ON p.identifier = s.subject
        JOIN consent_current c ON c.profile_id = coalesce(p.profile_id, s.subject)""",
        [sorted(subjects)],
    )
    return {(s, c, p): bool(g) for s, c, p, g in rows}
