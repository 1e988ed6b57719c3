"""An ad platform's customer list: the shop's contact file matched to the audience, and only the
SHA-256 hashes of the normalised e-mail and phone written out.

shopmind stores no plain contact data (only a keyed HMAC, which cannot become a platform's plain
SHA-256), so the contacts come from the shop at export time. A contact row matches an audience
member by member id (``user:<id>``), or, for guests, by the keyed hash of its e-mail or phone (the
identifiers the store holds). An identifier leaves only if the member's advertising consent on
its channel allows it (``ConsentChannels``). Each customer leaves once (their first matching row).

The plain values live only in the batches being processed, in this process's memory and in an
in-memory DuckDB connection of its own (never the store); they are not logged."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv

from shopmind.audiences._audience import Audience
from shopmind.audiences._consent import DEFAULT_CHANNELS, ConsentChannels, ConsentFilter, allowed_profiles
from shopmind.audiences._members import STAGED, MemberDigest
from shopmind.audiences._platforms import (
    DEFAULT_COUNTRY,
    Platform,
    email_sql,
    normalise_email_for,
    phone_e164,
    phone_sql,
    sha256_hex,
)
from shopmind.core import IdentifierHasher
from shopmind.store import Store

HASHED_SCHEMA = pa.schema([("profile_id", pa.string()), ("email", pa.string()), ("phone", pa.string())])


@dataclass
class HashedOutcome:
    """What a platform export did: rows written, and the audience members left out and why."""

    columns: tuple[str, str]
    rows: int = 0
    audience: int = 0
    unknown: int = 0  # not a profile the store knows (erased, or never seen)
    no_consent: int = 0  # neither identifier's channel allows advertising
    no_contact: int = 0  # allowed, but no usable contact row in the file
    contact_rows: int = 0  # rows read from the contact file
    matched_by: dict[str, int] = field(default_factory=lambda: {"member_id": 0, "keyed_hash": 0})

    def counts(self) -> dict[str, object]:
        return {
            "audience": self.audience,
            "unknown": self.unknown,
            "no_consent": self.no_consent,
            "no_contact": self.no_contact,
            "contact_rows": self.contact_rows,
            "matched_by": dict(self.matched_by),
        }


def _people(
    store: Store, audience: Audience, consent: ConsentFilter | None, channels: ConsentChannels
) -> pa.Table:
    """The audience's identifiers (member ids and keyed contact hashes) with whether e-mail and
    phone may leave for each profile."""
    with store.staged(STAGED, audience.table()):
        known = store.query_arrow(
            f"""SELECT a.profile_id, p.kind, p.identifier FROM (SELECT DISTINCT profile_id FROM {STAGED}) a
            JOIN profiles p ON p.profile_id = a.profile_id WHERE p.kind IN ('user', 'email', 'phone')
            UNION ALL SELECT DISTINCT a.profile_id, NULL, NULL FROM {STAGED} a
            WHERE a.profile_id IN (SELECT profile_id FROM profiles)"""
        )
    email_ok = allowed_profiles(store, consent, channels.email)
    phone_ok = allowed_profiles(store, consent, channels.phone)
    con = duckdb.connect()
    try:
        con.register("known", known)
        con.register("email_ok", pa.table({"profile_id": email_ok}))
        con.register("phone_ok", pa.table({"profile_id": phone_ok}))
        return con.sql(
            """SELECT k.profile_id, k.kind, k.identifier,
                   k.profile_id IN (SELECT profile_id FROM email_ok) AS email_ok,
                   k.profile_id IN (SELECT profile_id FROM phone_ok) AS phone_ok
            FROM known k"""
        ).to_arrow_table()
    finally:
        con.close()


def write_platform_file(
    store: Store,
    audience: Audience,
    platform: Platform,
    contacts: Iterator[pa.RecordBatch],
    out: IO[bytes],
    *,
    hasher: IdentifierHasher,
    digest: MemberDigest,
    consent: ConsentFilter | None = None,
    channels: ConsentChannels = DEFAULT_CHANNELS,
    columns: tuple[str, str] | None = None,
    country: str = DEFAULT_COUNTRY,
) -> HashedOutcome:
    """Write ``platform``'s customer list for ``audience`` from the ``contacts`` batches (see
    ``contact_batches``) to ``out`` as CSV; what was written and left out. ``columns`` renames the
    two columns (e-mail, phone), e.g. to follow a platform's newer template."""
    header = columns or platform.columns()
    outcome = HashedOutcome(header)
    people = _people(store, audience, consent, channels)
    con = duckdb.connect()  # in memory, this process only: where the plain values are hashed
    try:
        con.execute("SET threads = 2")
        con.register("people", people)
        con.execute(
            """CREATE TABLE members AS SELECT DISTINCT substr(identifier, 6) AS member_id, profile_id,
                   email_ok, phone_ok FROM people WHERE kind = 'user'"""
        )
        con.execute(
            """CREATE TABLE guests AS SELECT DISTINCT identifier, profile_id, email_ok, phone_ok
            FROM people WHERE kind IN ('email', 'phone')"""
        )
        con.execute("CREATE TABLE seen (profile_id VARCHAR PRIMARY KEY)")
        audience_size = len(audience)
        in_store, allowed = con.execute(
            "SELECT count(DISTINCT profile_id), count(DISTINCT profile_id) FILTER (WHERE email_ok OR phone_ok) "
            "FROM people"
        ).fetchall()[0]
        outcome.audience, outcome.unknown = audience_size, audience_size - int(in_store)
        outcome.no_consent = int(in_store) - int(allowed)
        has_guests = bool(con.execute("SELECT count(*) FROM guests").fetchall()[0][0])
        email = email_sql("b.email", gmail_dots=platform.gmail_dots)
        phone = phone_sql("b.phone", plus=platform.phone_plus, country=country)
        by_member = f"""
            SELECT profile_id, email, phone FROM (
                SELECT m.profile_id,
                       CASE WHEN m.email_ok THEN sha256({email}) END AS email,
                       CASE WHEN m.phone_ok THEN sha256({phone}) END AS phone,
                       b._row
                FROM batch b JOIN members m ON m.member_id = trim(b.member_id)
                WHERE m.profile_id NOT IN (SELECT profile_id FROM seen)
            ) WHERE email IS NOT NULL OR phone IS NOT NULL
            QUALIFY row_number() OVER (PARTITION BY profile_id ORDER BY _row) = 1"""
        options = pacsv.WriteOptions(include_header=False, quoting_style="none")
        out.write((",".join(header) + "\n").encode())
        for batch in contacts:
            outcome.contact_rows += batch.num_rows
            numbered = pa.Table.from_batches([batch]).append_column(
                "_row", pa.array(range(batch.num_rows), pa.int64())
            )
            con.register("batch", numbered)
            found = con.sql(by_member).to_arrow_table()
            if has_guests:
                guests = _guests(con, found, platform, hasher, country)
                outcome.matched_by["keyed_hash"] += guests.num_rows
                found = pa.concat_tables([found, guests])
            con.unregister("batch")
            if found.num_rows == 0:
                continue
            con.register("found", found)
            con.execute("INSERT INTO seen SELECT DISTINCT profile_id FROM found")
            con.unregister("found")
            outcome.rows += found.num_rows
            pacsv.write_csv(found.select(["email", "phone"]), out, write_options=options)
        outcome.matched_by["member_id"] = outcome.rows - outcome.matched_by["keyed_hash"]
        outcome.no_contact = int(allowed) - outcome.rows
        reader = con.sql("SELECT profile_id FROM seen ORDER BY profile_id").to_arrow_reader(65_536)
        for ids in reader:
            digest.update(ids.column(0).to_pylist())
    finally:
        con.close()
    return outcome


def _guests(
    con: duckdb.DuckDBPyConnection,
    matched: pa.Table,
    platform: Platform,
    hasher: IdentifierHasher,
    country: str,
) -> pa.Table:
    """Rows of the staged ``batch`` that matched no member id, matched by the keyed hash of their e-mail or
    phone to the audience's guests (the store knows guests by those hashes only)."""
    rows = con.sql(
        """SELECT b.email, b.phone FROM batch b
        WHERE (b.email IS NOT NULL OR b.phone IS NOT NULL)
          AND (b.member_id IS NULL OR trim(b.member_id) NOT IN (SELECT member_id FROM members))"""
    ).fetchall()
    if not rows:
        return HASHED_SCHEMA.empty_table()
    guests = {
        identifier: (profile_id, bool(email_ok), bool(phone_ok))
        for identifier, profile_id, email_ok, phone_ok in con.sql("SELECT * FROM guests").fetchall()
    }
    seen = {p for (p,) in con.sql("SELECT profile_id FROM seen").fetchall()}
    seen |= set(matched.column("profile_id").to_pylist())
    out: dict[str, tuple[str | None, str | None]] = {}
    for raw_email, raw_phone in rows:
        keyed = [
            f"email:{h}" if raw_email and (h := hasher.email(raw_email)) else None,
            f"phone:{h}" if raw_phone and (h := hasher.phone(raw_phone)) else None,
        ]
        hit = next((guests[k] for k in keyed if k in guests), None)
        if hit is None or hit[0] in seen or hit[0] in out:
            continue
        profile_id, email_ok, phone_ok = hit
        email = normalise_email_for(raw_email, gmail_dots=platform.gmail_dots) if email_ok else None
        phone = phone_e164(raw_phone, country=country, plus=platform.phone_plus) if phone_ok else None
        if email or phone:
            out[profile_id] = (sha256_hex(email) if email else None, sha256_hex(phone) if phone else None)
    return pa.table(
        {
            "profile_id": list(out),
            "email": [e for e, _ in out.values()],
            "phone": [p for _, p in out.values()],
        },
        schema=HASHED_SCHEMA,
    )
