"""The consent ledger (정보통신망법 제50조): every advertising consent a customer gave or withdrew,
per channel, with when they did it, when shopmind stored it, how (sign-up form, checkout, 080
reply, unsubscribe link, import, API, tracker, admin) and the version of the consent text they
saw; and the §50⑧ notices of consent status sent to them.

The ledger is append-only: entries are only ever added (a re-sent entry, same ``entry_id``, is
stored once), never changed; only an erasure deletes them. The current state is derived from it
(``store._consent_state``). Each write is one batch: its entries' ``seq`` is the batch's number
(a sequence, so concurrent writers never collide) times 2^20 plus their position, which breaks
ties between entries that happened at the same moment in the order they were stored.

Entries name the customer by an identifier as the identity graph does: ``user:…``, ``anon:…``,
``email:<hmac>``, ``phone:<hmac>``; the current state of a profile is derived from the entries of
all its identifiers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pyarrow as pa

from shopmind.core import FieldError, IdentifierHasher, InvalidInputError
from shopmind.store._store import Store, WriteResult

#: the channels advertising is sent through; ``sms`` covers SMS, LMS and MMS; ``kakao`` is
#: KakaoTalk, where advertising goes out as 친구톡 (알림톡 carries informational messages only)
CHANNELS = ("email", "sms", "kakao", "app_push", "web_push")
#: advertising consent, and the separate consent to advertising between 21:00 and 08:00 (§50③)
PURPOSES = ("advertising", "night_advertising")
#: how a consent was given or withdrawn
METHODS = (
    "signup_form",
    "checkout",
    "reply_080",
    "unsubscribe_link",
    "import",
    "api",
    "tracker",
    "admin",
)
#: the identifier kinds an entry may name (the identity graph's)
SUBJECT_KINDS = ("user", "anon", "email", "phone")
#: entries in one batch at most: their positions must stay below 2^20
BATCH_SIZE = 1 << 20
_TEXT_LIMIT = 512
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

#: the layout ``record_consent_rows`` takes (``entry_id`` may be null: the content's hash)
ENTRY_SCHEMA = pa.schema(
    [
        ("entry_id", pa.string()),
        ("identifier", pa.string()),
        ("channel", pa.string()),
        ("purpose", pa.string()),
        ("granted", pa.bool_()),
        ("occurred_at", pa.timestamp("us", tz="UTC")),
        ("method", pa.string()),
        ("text_version", pa.string()),
        ("source", pa.string()),
    ]
)
#: an entry's id when none is given, computed in the engine: ``ConsentEntry.key`` in SQL
CONTENT_KEY_SQL = (
    "'sha256:' || sha256(concat_ws('|', identifier, channel, purpose, CASE WHEN granted THEN '1' ELSE '0' END, "
    "CAST(epoch_us(occurred_at) AS VARCHAR), method, coalesce(text_version, '')))"
)


@dataclass(frozen=True)
class ConsentEntry:
    """One consent given (``granted``) or withdrawn by the customer known by ``identifier``, on
    ``channel`` for ``purpose``, at ``occurred_at`` (timezone-aware), by ``method``.

    ``entry_id`` makes a re-sent entry idempotent; without one, the entry's content is its id (the
    same decision at the same moment by the same method is one entry)."""

    identifier: str
    channel: str
    granted: bool
    occurred_at: datetime
    method: str
    purpose: str = "advertising"
    text_version: str | None = None
    source: str = ""
    entry_id: str | None = None

    def key(self) -> str:
        """The entry's id: the given one, or a hash of what it says (``CONTENT_KEY_SQL``)."""
        if self.entry_id:
            return self.entry_id
        content = "|".join(
            (
                self.identifier,
                self.channel,
                self.purpose,
                "1" if self.granted else "0",
                str((self.occurred_at - _EPOCH) // timedelta(microseconds=1)),  # any zone: one moment
                self.method,
                self.text_version or "",
            )
        )
        return "sha256:" + hashlib.sha256(content.encode()).hexdigest()

    def problems(self, where: str = "") -> list[FieldError]:
        """What is wrong with the entry, each field named (prefixed with ``where``)."""
        errors = []
        kind, sep, value = self.identifier.partition(":")
        if not sep or kind not in SUBJECT_KINDS or not value:
            errors.append(
                FieldError(
                    f"{where}identifier",
                    f"{self.identifier!r} is not an identifier: expected user:…, anon:…, email:<hash> or phone:<hash>",
                )
            )
        if self.channel not in CHANNELS:
            errors.append(
                FieldError(f"{where}channel", f"{self.channel!r}: expected one of {', '.join(CHANNELS)}")
            )
        if self.purpose not in PURPOSES:
            errors.append(
                FieldError(f"{where}purpose", f"{self.purpose!r}: expected one of {', '.join(PURPOSES)}")
            )
        if self.method not in METHODS:
            errors.append(
                FieldError(f"{where}method", f"{self.method!r}: expected one of {', '.join(METHODS)}")
            )
        if not isinstance(self.granted, bool):
            errors.append(FieldError(f"{where}granted", "expected true (given) or false (withdrawn)"))
        if not isinstance(self.occurred_at, datetime) or self.occurred_at.tzinfo is None:
            errors.append(FieldError(f"{where}occurred_at", "expected a date and time with its time zone"))
        for name in ("text_version", "entry_id", "identifier"):
            value = getattr(self, name)
            if value is not None and len(value) > _TEXT_LIMIT:
                errors.append(FieldError(f"{where}{name}", f"longer than {_TEXT_LIMIT} characters"))
        return errors


@dataclass(frozen=True)
class ConsentNotice:
    """A §50⑧ notice of consent status sent to the customer known by ``identifier`` through
    ``channel`` at ``sent_at``."""

    identifier: str
    channel: str
    sent_at: datetime
    text_version: str | None = None
    source: str = ""
    notice_id: str | None = None

    def key(self) -> str:
        if self.notice_id:
            return self.notice_id
        content = f"{self.identifier}|{self.channel}|{self.sent_at.isoformat()}"
        return "sha256:" + hashlib.sha256(content.encode()).hexdigest()

    def problems(self, where: str = "") -> list[FieldError]:
        entry = ConsentEntry(self.identifier, self.channel, True, self.sent_at, "api")
        return [
            FieldError(e.field.replace("occurred_at", "sent_at"), e.reason) for e in entry.problems(where)
        ]


def record_consents(store: Store, entries: Sequence[ConsentEntry]) -> WriteResult:
    """Append ``entries`` to the ledger, in their order (one transaction per ``BATCH_SIZE``);
    entries whose id is stored already (or repeated in ``entries``) are skipped and counted as
    duplicates. InvalidInputError names every bad field (``entries.3.channel: …``) and stores
    nothing."""
    errors = [e for at, entry in enumerate(entries) for e in entry.problems(f"entries.{at}.")]
    if errors:
        raise InvalidInputError(errors)
    rows = pa.table(
        {
            "entry_id": [e.entry_id for e in entries],
            "identifier": [e.identifier for e in entries],
            "channel": [e.channel for e in entries],
            "purpose": [e.purpose for e in entries],
            "granted": [e.granted for e in entries],
            "occurred_at": [e.occurred_at for e in entries],
            "method": [e.method for e in entries],
            "text_version": [e.text_version for e in entries],
            "source": [e.source for e in entries],
        },
        schema=ENTRY_SCHEMA,
    )
    return _append_all(store, rows)


def record_consent_rows(store: Store, rows: pa.Table) -> WriteResult:
    """``record_consents`` for many entries at once: an Arrow table in the ``ENTRY_SCHEMA``
    layout (a bulk load, checked in the engine; InvalidInputError names the first bad rows'
    fields, ``rows.7.channel: …``, and stores nothing)."""
    rows = rows.select(ENTRY_SCHEMA.names).cast(ENTRY_SCHEMA)
    with store.staged("_consent_checked", rows) as src:
        bad = store.sql(
            f"""SELECT pos, errors FROM (
                SELECT row_number() OVER () - 1 AS pos, list_filter([
                    CASE WHEN identifier IS NULL OR NOT regexp_full_match(identifier, '(user|anon|email|phone):.+')
                         THEN 'identifier: expected user:…, anon:…, email:<hash> or phone:<hash>' END,
                    CASE WHEN channel IS NULL OR NOT list_contains(?, channel)
                         THEN 'channel: expected one of {", ".join(CHANNELS)}' END,
                    CASE WHEN purpose IS NULL OR NOT list_contains(?, purpose)
                         THEN 'purpose: expected one of {", ".join(PURPOSES)}' END,
                    CASE WHEN method IS NULL OR NOT list_contains(?, method)
                         THEN 'method: expected one of {", ".join(METHODS)}' END,
                    CASE WHEN granted IS NULL THEN 'granted: expected true or false' END,
                    CASE WHEN occurred_at IS NULL THEN 'occurred_at: missing' END,
                    CASE WHEN greatest(length(entry_id), length(identifier), length(text_version)) > {_TEXT_LIMIT}
                         THEN 'text: longer than {_TEXT_LIMIT} characters' END
                ], lambda e: e IS NOT NULL) AS errors FROM {src}
            ) WHERE len(errors) > 0 ORDER BY pos LIMIT 20""",
            [list(CHANNELS), list(PURPOSES), list(METHODS)],
        )
    if bad:
        raise InvalidInputError(
            [
                FieldError(f"rows.{pos}.{e.partition(':')[0]}", e.partition(": ")[2])
                for pos, errors in bad
                for e in errors
            ]
        )
    return _append_all(store, rows)


def _append_all(store: Store, rows: pa.Table) -> WriteResult:
    result = WriteResult(0, 0)
    for start in range(0, rows.num_rows, BATCH_SIZE - 1):
        result += _append(store, rows.slice(start, BATCH_SIZE - 1))
    return result


def _append(store: Store, rows: pa.Table) -> WriteResult:
    if rows.num_rows == 0:
        return WriteResult(0, 0)
    rows = rows.append_column("pos", pa.array(range(rows.num_rows), pa.int64()))
    with store.atomically(), store.staged("_consent_entries", rows) as src:
        batch = int(store.scalar("SELECT nextval('consent_batches')"))
        inserted = int(
            store.sql(
                f"""INSERT INTO consent_ledger (seq, entry_id, identifier, channel, purpose, granted,
                    occurred_at, recorded_at, method, text_version, source)
                SELECT ? * {BATCH_SIZE} + pos, id, identifier, channel, purpose, granted,
                    occurred_at, ?, method, text_version, coalesce(source, '')
                FROM (SELECT *, coalesce(entry_id, {CONTENT_KEY_SQL}) AS id FROM {src}) s
                WHERE NOT EXISTS (SELECT 1 FROM consent_ledger c WHERE c.entry_id = s.id)
                QUALIFY row_number() OVER (PARTITION BY id ORDER BY pos) = 1""",
                [batch, store._clock.now()],
            )[0][0]
        )
    return WriteResult(inserted, rows.num_rows - inserted)


def record_notices(store: Store, notices: Sequence[ConsentNotice]) -> WriteResult:
    """Record §50⑧ notices that went out; a notice id stored already is skipped."""
    errors = [e for at, notice in enumerate(notices) for e in notice.problems(f"notices.{at}.")]
    if errors:
        raise InvalidInputError(errors)
    if not notices:
        return WriteResult(0, 0)
    rows = pa.table(
        {
            "notice_id": [n.key() for n in notices],
            "identifier": [n.identifier for n in notices],
            "channel": [n.channel for n in notices],
            "sent_at": pa.array([n.sent_at for n in notices], pa.timestamp("us", tz="UTC")),
            "text_version": pa.array([n.text_version for n in notices], pa.string()),
            "source": [n.source for n in notices],
        }
    )
    with store.atomically(), store.staged("_consent_notices", rows) as src:
        inserted = int(
            store.sql(
                f"""INSERT INTO consent_notices (notice_id, identifier, channel, sent_at, recorded_at, text_version, source)
                SELECT DISTINCT ON (notice_id) notice_id, identifier, channel, sent_at, ?, text_version, source
                FROM {src} s WHERE NOT EXISTS (SELECT 1 FROM consent_notices n WHERE n.notice_id = s.notice_id)""",
                [store._clock.now()],
            )[0][0]
        )
    return WriteResult(inserted, len(notices) - inserted)


def profile_identifiers(store: Store, profile_id: str) -> list[str]:
    """Every identifier of the customer ``profile_id`` (the profile id itself included: an
    identifier without a profile row is its own customer)."""
    rows = store.sql("SELECT identifier FROM profiles WHERE profile_id = ?", [profile_id])
    return sorted({profile_id, *(r[0] for r in rows)})


def resolve_customer(store: Store, reference: str, hasher: IdentifierHasher | None = None) -> str | None:
    """The profile id of the customer ``reference`` names: a profile id or identifier
    (``user:…``, ``anon:…``, ``email:<hash>``, ``phone:<hash>``), a bare member or anonymous id,
    or, with the workspace's ``hasher``, an e-mail address or phone number as typed. A customer
    known only from the consent ledger is found too. None when nothing is known of them."""
    text = reference.strip()
    candidates = [text, f"user:{text}", f"anon:{text}"]
    if hasher is not None:
        if "@" in text and (email := hasher.email(text)):
            candidates.append(f"email:{email}")
        elif any(ch.isdigit() for ch in text) and (phone := hasher.phone(text)):
            candidates.append(f"phone:{phone}")
    for candidate in candidates:
        rows = store.sql(
            "SELECT profile_id FROM profiles WHERE identifier = ? OR profile_id = ? LIMIT 1",
            [candidate, candidate],
        )
        if rows:
            return str(rows[0][0])
    for candidate in candidates:
        if store.sql(
            "SELECT 1 FROM consent_ledger WHERE identifier = ? UNION ALL "
            "SELECT 1 FROM consent_notices WHERE identifier = ? LIMIT 1",
            [candidate, candidate],
        ):
            return candidate
    return None


@dataclass(frozen=True)
class LedgerEntry:
    """A stored entry, as ``consent_history`` reads it back."""

    seq: int
    entry_id: str
    identifier: str
    channel: str
    purpose: str
    granted: bool
    occurred_at: datetime
    recorded_at: datetime
    method: str
    text_version: str | None
    source: str

    def to_dict(self) -> dict[str, object]:
        return {
            "seq": self.seq,
            "entry_id": self.entry_id,
            "identifier": self.identifier,
            "channel": self.channel,
            "purpose": self.purpose,
            "granted": self.granted,
            "occurred_at": self.occurred_at.isoformat(),
            "recorded_at": self.recorded_at.isoformat(),
            "method": self.method,
            "text_version": self.text_version,
            "source": self.source,
        }


@dataclass(frozen=True)
class StoredNotice:
    notice_id: str
    identifier: str
    channel: str
    sent_at: datetime
    recorded_at: datetime
    text_version: str | None
    source: str

    def to_dict(self) -> dict[str, object]:
        return {
            "notice_id": self.notice_id,
            "identifier": self.identifier,
            "channel": self.channel,
            "sent_at": self.sent_at.isoformat(),
            "recorded_at": self.recorded_at.isoformat(),
            "text_version": self.text_version,
            "source": self.source,
        }


def consent_history(store: Store, identifiers: Iterable[str]) -> list[LedgerEntry]:
    """Every ledger entry of ``identifiers`` (a customer's: ``profile_identifiers``), in the
    order they hold: by when they happened, ties by the order they were stored."""
    rows = store.sql(
        """SELECT seq, entry_id, identifier, channel, purpose, granted, occurred_at, recorded_at, method,
               text_version, source
        FROM consent_ledger WHERE list_contains(?, identifier) ORDER BY occurred_at, seq""",
        [sorted(set(identifiers))],
    )
    return [LedgerEntry(*row) for row in rows]


def notice_history(store: Store, identifiers: Iterable[str]) -> list[StoredNotice]:
    """Every §50⑧ notice sent to ``identifiers``, oldest first."""
    rows = store.sql(
        """SELECT notice_id, identifier, channel, sent_at, recorded_at, text_version, source
        FROM consent_notices WHERE list_contains(?, identifier) ORDER BY sent_at, notice_id""",
        [sorted(set(identifiers))],
    )
    return [StoredNotice(*row) for row in rows]
