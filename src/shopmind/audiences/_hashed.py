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
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from shopmind.audiences._audience import Audience
from shopmind.audiences._consent import DEFAULT_CHANNELS, ConsentChannels, ConsentFilter, allowed_profiles
from shopmind.audiences._contacts import CONTACT_SCHEMA
from shopmind.audiences._members import STAGED, MemberDigest
from shopmind.audiences._platforms import (
    DEFAULT_COUNTRY,
    Platform,
    normalise_email_for,
    normalised_sql,
    phone_e164,
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
) -> tuple[int, pa.Table]:
    """How many of the audience the store knows, and their identifiers (member ids and keyed
    contact hashes) with whether e-mail and phone may leave for each profile."""
    with store.staged(STAGED, audience.table()):
        known = store.query_arrow(
            f"""SELECT a.profile_id, p.kind, p.identifier FROM (SELECT DISTINCT profile_id FROM {STAGED}) a
            JOIN profiles p ON p.profile_id = a.profile_id WHERE p.kind IN ('user', 'email', 'phone')"""
        )
        in_store = int(
            store.scalar(
                f"SELECT count(*) FROM (SELECT DISTINCT profile_id FROM {STAGED}) "
                "WHERE profile_id IN (SELECT profile_id FROM profiles)"
            )
        )
    email_ok = allowed_profiles(store, consent, channels.email)
    phone_ok = allowed_profiles(store, consent, channels.phone)
    con = duckdb.connect()
    try:
        con.register("known", known)
        con.register("email_ok", pa.table({"profile_id": email_ok}))
        con.register("phone_ok", pa.table({"profile_id": phone_ok}))
        return in_store, con.sql(
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
    two columns (e-mail, phone), e.g. to follow a platform's newer template.

    The contact rows are read once into an in-memory DuckDB connection of this call (never the
    store; spilling to disk is off, so plain values never reach a file), joined to the members in
    one hash join, and hashed there (DuckDB's vectorised ``sha256``)."""
    header = columns or platform.columns()
    outcome = HashedOutcome(header)
    in_store, people = _people(store, audience, consent, channels)
    con = duckdb.connect()  # in memory, this process only: where the plain values are hashed
    try:
        con.execute("SET temp_directory = ''")  # never offload (plain contact data) to disk
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
        allowed = con.execute(
            "SELECT count(DISTINCT profile_id) FILTER (WHERE email_ok OR phone_ok) FROM people"
        ).fetchall()[0][0]
        con.unregister("people")
        del people
        outcome.audience, outcome.unknown = len(audience), len(audience) - int(in_store)
        outcome.no_consent = int(in_store) - int(allowed)
        con.register("contact_stream", pa.RecordBatchReader.from_batches(CONTACT_SCHEMA, contacts))
        con.execute("CREATE TABLE contacts AS SELECT * FROM contact_stream")
        con.unregister("contact_stream")
        outcome.contact_rows = int(con.execute("SELECT count(*) FROM contacts").fetchall()[0][0])
        normalised = normalised_sql(
            "picked",
            gmail_dots=platform.gmail_dots,
            plus=platform.phone_plus,
            country=country,
            keep=("profile_id", "email_ok", "phone_ok"),
        )
        by_member = f"""
            WITH firsts AS (
                SELECT m.profile_id, any_value(m.email_ok) AS email_ok, any_value(m.phone_ok) AS phone_ok,
                       min(c.rowid) AS first_row
                FROM contacts c JOIN members m ON m.member_id = trim(c.member_id)
                WHERE m.email_ok OR m.phone_ok
                GROUP BY m.profile_id
            ),
            picked AS (
                SELECT f.profile_id, f.email_ok, f.phone_ok, c.email, c.phone
                FROM firsts f JOIN contacts c ON c.rowid = f.first_row
            )
            SELECT profile_id, email, phone FROM (
                SELECT profile_id,
                       CASE WHEN email_ok THEN sha256(email) END AS email,
                       CASE WHEN phone_ok THEN sha256(phone) END AS phone
                FROM ({normalised})
            ) WHERE email IS NOT NULL OR phone IS NOT NULL"""
        options = pacsv.WriteOptions(include_header=False, quoting_style="none")
        out.write((",".join(header) + "\n").encode())
        exported: list[pa.Array] = []
        for batch in con.sql(by_member).to_arrow_reader(65_536):
            if batch.num_rows:
                exported.append(batch.column(0))
                pacsv.write_csv(
                    pa.Table.from_batches([batch]).select(["email", "phone"]), out, write_options=options
                )
                outcome.rows += batch.num_rows
        outcome.matched_by["member_id"] = outcome.rows
        if con.execute("SELECT count(*) FROM guests").fetchall()[0][0]:
            seen = pa.chunked_array(exported, pa.string()) if exported else pa.chunked_array([], pa.string())
            guests = _guests(con, seen, platform, hasher, country)
            if guests.num_rows:
                exported.append(guests.column("profile_id").combine_chunks())
                pacsv.write_csv(guests.select(["email", "phone"]), out, write_options=options)
                outcome.rows += guests.num_rows
                outcome.matched_by["keyed_hash"] = guests.num_rows
        outcome.no_contact = int(allowed) - outcome.rows
        if exported:
            ids = pa.chunked_array(exported, pa.string()).combine_chunks()
            ordered = ids.take(pc.sort_indices(ids))
            for start in range(0, len(ordered), 65_536):
                digest.update(ordered.slice(start, 65_536).to_pylist())
    finally:
        con.close()
    return outcome


def _guests(
    con: duckdb.DuckDBPyConnection,
    exported: pa.ChunkedArray,
    platform: Platform,
    hasher: IdentifierHasher,
    country: str,
) -> pa.Table:
    """Contact rows that matched no member id, matched by the keyed hash of their e-mail or
    phone to the audience's guests (the store knows guests by those hashes only)."""
    rows = con.execute(
        """SELECT c.email, c.phone FROM contacts c
        WHERE (c.email IS NOT NULL OR c.phone IS NOT NULL)
          AND (c.member_id IS NULL OR trim(c.member_id) NOT IN (SELECT member_id FROM members))
        ORDER BY c.rowid"""
    ).fetchall()
    if not rows:
        return HASHED_SCHEMA.empty_table()
    guests = {
        identifier: (profile_id, bool(email_ok), bool(phone_ok))
        for identifier, profile_id, email_ok, phone_ok in con.execute("SELECT * FROM guests").fetchall()
    }
    seen = set(exported.to_pylist())
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
