"""Exports of an audience, each recorded in the export log (what left, when, to whom, who ran it;
counts and a keyed digest, no identifiers), failed ones too:

* ``export_file``: CSV or Parquet of profile id, member id, segment and scores;
* ``export_for_platform``: an ad platform's hashed customer list from the shop's contact file;
* ``export_to_webhook``: the members POSTed in signed JSON batches to a named destination."""

from __future__ import annotations

import io
import os
import secrets
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import httpx
import orjson

from shopmind.audiences._audience import Audience
from shopmind.audiences._consent import DEFAULT_CHANNELS, ConsentChannels, ConsentFilter
from shopmind.audiences._contacts import contact_batches
from shopmind.audiences._errors import UnknownDestinationError
from shopmind.audiences._hashed import write_platform_file
from shopmind.audiences._members import (
    MemberDigest,
    member_batches,
    member_columns,
    member_records,
    write_members_csv,
    write_members_parquet,
)
from shopmind.audiences._platforms import DEFAULT_COUNTRY, platform
from shopmind.audiences._webhook import DEFAULT_RETRY, RetryPolicy, deliver
from shopmind.core import Clock, FieldError, IdentifierHasher, InvalidInputError, SystemClock
from shopmind.store import (
    Destination,
    ExportRecord,
    Store,
    add_destination,
    find_destination,
    record_export,
)

FILE_FORMATS = ("csv", "parquet")
FORMATS = ("csv", "parquet", "google", "meta", "kakao", "naver", "webhook")
Output = Path | IO[bytes]


@contextmanager
def _opened(out: Output) -> Iterator[IO[bytes]]:
    """A binary stream for ``out``; a path is written beside itself and renamed into place only
    when the export succeeded (a failed export leaves no half file)."""
    if not isinstance(out, Path):
        yield out
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
        os.replace(temp, out)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


class _Run:
    """One export being made: its id and start, and how it is logged when it ends."""

    def __init__(
        self, store: Store, fmt: str, destination: str, audience: Audience, actor: str, clock: Clock
    ) -> None:
        self.store, self.clock = store, clock
        self.export_id = uuid.uuid4().hex[:16]
        self.started_at = clock.now()
        self.fmt, self.destination, self.audience, self.actor = fmt, destination, audience, actor

    def record(
        self,
        status: str,
        *,
        members: int,
        rows: int,
        digest: str | None,
        columns: list[str],
        detail: dict[str, Any],
    ) -> ExportRecord:
        record = ExportRecord(
            export_id=self.export_id,
            started_at=self.started_at,
            finished_at=self.clock.now(),
            format=self.fmt,
            destination=self.destination,
            audience=self.audience.label,
            members=members,
            rows_out=rows,
            members_digest=digest,
            columns=orjson.dumps(columns).decode(),
            detail=orjson.dumps(detail).decode(),
            actor=self.actor,
            status=status,
        )
        record_export(self.store, record)
        return record

    @contextmanager
    def failing(self, columns: list[str]) -> Iterator[None]:
        """Log the export as failed (with the reason) if the block raises."""
        try:
            yield
        except Exception as exc:
            self.record("failed", members=0, rows=0, digest=None, columns=columns, detail={"error": str(exc)})
            raise


def _destination_label(out: Output, destination: str | None) -> str:
    if destination is not None:
        return destination
    return str(out.resolve()) if isinstance(out, Path) else "stream"


def export_file(
    store: Store,
    audience: Audience,
    fmt: str,
    out: Output,
    *,
    hasher: IdentifierHasher,
    actor: str,
    destination: str | None = None,
    clock: Clock | None = None,
) -> ExportRecord:
    """Write ``audience`` as ``fmt`` (csv: UTF-8 with a byte-order mark so Excel reads Korean,
    cells through ``spreadsheet_safe``; parquet) to ``out``; the log's record. ``destination``
    names where it went in the log (default: the file's path)."""
    if fmt not in FILE_FORMATS:
        raise InvalidInputError(
            [FieldError("format", f"{fmt!r} is not a file format; one of {', '.join(FILE_FORMATS)}")]
        )
    run = _Run(store, fmt, _destination_label(out, destination), audience, actor, clock or SystemClock())
    columns = member_columns(audience)
    digest = MemberDigest(hasher)
    with run.failing(columns), _opened(out) as fh:
        batches = member_batches(store, audience)
        if fmt == "csv":
            text = io.TextIOWrapper(fh, encoding="utf-8-sig", newline="")
            rows = write_members_csv(batches, text, columns, digest)
            text.flush()
            text.detach()
        else:
            rows = write_members_parquet(batches, fh, columns, digest)
    detail = {"audience": len(audience), "unknown": len(audience) - rows}
    return run.record(
        "ok", members=rows, rows=rows, digest=digest.hexdigest(), columns=columns, detail=detail
    )


def export_for_platform(
    store: Store,
    audience: Audience,
    to: str,
    contacts: Path | str,
    out: Output,
    *,
    hasher: IdentifierHasher,
    actor: str,
    consent: ConsentFilter | None = None,
    channels: ConsentChannels = DEFAULT_CHANNELS,
    contact_columns: Mapping[str, str] | None = None,
    encoding: str = "utf-8",
    columns: tuple[str, str] | None = None,
    country: str = DEFAULT_COUNTRY,
    destination: str | None = None,
    clock: Clock | None = None,
) -> ExportRecord:
    """Write ad platform ``to``'s customer list (google, meta, kakao, naver) for ``audience`` to
    ``out``: the ``contacts`` file (a path, or CSV text) matched to the members, only SHA-256
    hashes of normalised e-mail and phone written, and only where the member's ad consent on the
    identifier's channel (``channels``) allows it; the log's record."""
    target = platform(to)
    header = list(columns or target.columns())
    run = _Run(store, to, _destination_label(out, destination), audience, actor, clock or SystemClock())
    digest = MemberDigest(hasher)
    with run.failing(header):
        found, batches = contact_batches(contacts, contact_columns, encoding=encoding)
        with _opened(out) as fh:
            outcome = write_platform_file(
                store,
                audience,
                target,
                batches,
                fh,
                hasher=hasher,
                digest=digest,
                consent=consent,
                channels=channels,
                columns=columns,
                country=country,
            )
    detail = {
        **outcome.counts(),
        "consent_channels": channels.to_dict(),
        "contact_columns": found.mapping(),
        "platform_format_confirmed": target.confirmed,
    }
    return run.record(
        "ok",
        members=outcome.rows,
        rows=outcome.rows,
        digest=digest.hexdigest(),
        columns=header,
        detail=detail,
    )


def _with_last(batches: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """The batches with ``last`` true on the final one (a receiver knows the list is whole)."""
    previous = next(batches, None)
    for batch in batches:
        assert previous is not None
        yield {**previous, "last": False}
        previous = batch
    if previous is not None:
        yield {**previous, "last": True}


def export_to_webhook(
    store: Store,
    audience: Audience,
    destination: str,
    *,
    hasher: IdentifierHasher,
    actor: str,
    batch_size: int = 500,
    policy: RetryPolicy = DEFAULT_RETRY,
    client: httpx.Client | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Clock | None = None,
) -> ExportRecord:
    """POST ``audience`` (profile id, member id, segment, scores) in signed JSON batches of
    ``batch_size`` members to the destination named ``destination``; the log's record."""
    found = find_destination(store, destination)
    if found is None:
        raise UnknownDestinationError(
            f"no destination {destination!r}: add one with 'shopmind export destinations add NAME URL'"
        )
    if not 1 <= batch_size <= 10_000:
        raise InvalidInputError([FieldError("batch_size", "between 1 and 10000 members a request")])
    run = _Run(store, "webhook", f"webhook:{found.name}", audience, actor, clock or SystemClock())
    columns = member_columns(audience)
    digest = MemberDigest(hasher)

    def bodies() -> Iterator[dict[str, Any]]:
        for number, batch in enumerate(member_batches(store, audience, rows=batch_size), start=1):
            digest.update(batch.column("profile_id").to_pylist())
            yield {
                "export_id": run.export_id,
                "audience": audience.label,
                "batch": number,
                "members": member_records(batch, columns),
            }

    with run.failing(columns):
        report = deliver(
            found.url,
            found.secret,
            _with_last(bodies()),
            export_id=run.export_id,
            policy=policy,
            client=client,
            sleep=sleep,
        )
    detail = {"audience": len(audience), "batches": report.batches, "requests": report.attempts}
    return run.record(
        "ok",
        members=report.members,
        rows=report.members,
        digest=digest.hexdigest(),
        columns=columns,
        detail=detail,
    )


def add_webhook(
    store: Store,
    name: str,
    url: str,
    *,
    created_by: str,
    secret: str | None = None,
    clock: Clock | None = None,
) -> tuple[Destination, str]:
    """Keep a webhook destination (its secret made if not given: ``whsec_`` and 32 random bytes);
    the destination and its secret, which the receiver needs to check signatures."""
    errors = []
    if not name or not all(c.isalnum() or c in "-_." for c in name) or len(name) > 64:
        errors.append(FieldError("name", "1-64 letters, digits, '-', '_' or '.'"))
    try:
        parsed: httpx.URL | None = httpx.URL(url) if url else None
    except httpx.InvalidURL:
        parsed = None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
        errors.append(FieldError("url", f"{url!r} is not an http(s) URL"))
    if secret is not None and len(secret) < 16:
        errors.append(FieldError("secret", "at least 16 characters"))
    if errors:
        raise InvalidInputError(errors)
    secret = secret or "whsec_" + secrets.token_urlsafe(32)
    at: datetime = (clock or SystemClock()).now()
    destination = Destination(name, "webhook", url, secret, at, created_by)
    add_destination(store, destination)
    return destination, secret
