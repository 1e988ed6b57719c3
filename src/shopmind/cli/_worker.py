"""``shopmind worker``: send the campaigns' outbox (and the sender that ``shopmind serve --send``
runs on a thread of its own)."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated
from urllib.parse import urlsplit

import typer

from shopmind.cli._common import (
    EXIT_BAD_FILE,
    EXIT_USAGE,
    EXIT_WORKSPACE,
    WorkspaceOpt,
    app,
    console,
    err_console,
    fail,
)
from shopmind.core import Clock, ImportFileError, ShopmindError, WorkspaceError, WorkspaceLockedError

if TYPE_CHECKING:  # imported where used: ``shopmind --help`` stays quick
    from shopmind.activation import Channel, JourneysTurn, OutboxSender, SenderStats
    from shopmind.store import Store

#: seconds between two progress lines of a running worker
PROGRESS_EVERY_S = 10.0


def workspace_channels(folder: Path, clock: Clock) -> Channel:
    """The workspace's channels (its ``channels.toml``, or every channel to ``outbox/<channel>.jsonl``
    in the workspace), behind one channel."""
    from shopmind.activation import Channels, load_channel_config

    return Channels(load_channel_config(folder), folder, clock=clock)


def check_sending(folder: Path, contacts: Path | None) -> None:
    """Fail now, with the reason, if the outbox could not be sent: the contact file missing, the
    workspace's channels.toml invalid (the server checks before it starts)."""
    from shopmind.activation import load_channel_config

    if contacts is not None and not contacts.is_file():
        raise fail(f"--contacts: {contacts}: no such file", EXIT_BAD_FILE)
    try:
        load_channel_config(folder)
    except ShopmindError as exc:
        raise fail(str(exc), EXIT_USAGE) from None


#: where ``shopmind serve`` listens unless told otherwise: the worker's links point there by default
DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000"


def check_public_url(value: str) -> str:
    """``--public-url`` as the links' base (no trailing slash); BadParameter saying what is wrong."""
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise typer.BadParameter(
            f"{value!r}: expected the server's address as customers reach it, e.g. https://crm.shop.example",
            param_hint="--public-url",
        )
    if parts.query or parts.fragment:
        raise typer.BadParameter(
            f"{value!r}: the address takes no query or fragment", param_hint="--public-url"
        )
    return value.strip().rstrip("/")


def sender_factory(
    folder: Path,
    *,
    contacts: Path | None,
    public_url: str,
    columns: dict[str, str] | None = None,
    encoding: str = "utf-8",
    batch: int,
    max_attempts: int,
    clock: Clock,
    zone: str,
    progress: Callable[[SenderStats], None] | None = None,
    journey_interval: float = 60.0,
) -> Callable[[Store], OutboxSender]:
    """What makes the sender for a connection: the workspace's channels, the contact book (the
    shop's contact file, then the store's push subscriptions), each advertising message's
    one-click unsubscribe link on the server at ``public_url``, and the campaigns' journeys,
    advanced every ``journey_interval`` seconds with the settings scheduling uses."""

    def make(store: Store) -> OutboxSender:
        from shopmind.activation import (
            ChainedContacts,
            ContactBook,
            FileContacts,
            MessageLinks,
            OutboxSender,
            PushSubscriptions,
            campaign_settings,
            run_journeys,
            workspace_link_key,
        )
        from shopmind.store import Workspace

        ws = Workspace(folder)
        hasher = ws.hasher()
        link_key = workspace_link_key(ws)
        books: list[ContactBook] = []
        if contacts is not None:
            books.append(FileContacts(store, contacts, columns, encoding=encoding, hasher=hasher))
        books.append(PushSubscriptions(store))

        def unsubscribe_url(message_key: str) -> str:
            return MessageLinks(public_url, link_key, message_key).unsubscribe()

        settings = campaign_settings(ws, public_url=public_url, zone=zone)

        def journeys(now: datetime) -> JourneysTurn:
            return run_journeys(store, settings, now=now)

        return OutboxSender(
            store,
            workspace_channels(folder, clock),
            ChainedContacts(books),
            clock=clock,
            zone=zone,
            batch=batch,
            max_attempts=max_attempts,
            unsubscribe_url=unsubscribe_url,
            hasher=hasher,
            progress=progress,
            journeys=journeys,
            journey_interval=journey_interval,
        )

    return make


def parse_columns(values: list[str]) -> dict[str, str] | None:
    """``--column phone=휴대폰`` options as a mapping (None: find the columns by name)."""
    found: dict[str, str] = {}
    for value in values:
        field, sep, column = value.partition("=")
        if not sep or not field.strip() or not column.strip():
            raise typer.BadParameter(
                f"{value!r}: expected FIELD=COLUMN, e.g. phone=휴대폰", param_hint="--column"
            )
        found[field.strip()] = column.strip()
    return found or None


ContactsOpt = Annotated[
    Path | None,
    typer.Option(
        "--contacts",
        help="The shop's contact file (CSV, Parquet or XLSX with member id, e-mail and phone columns, "
        "e.g. its member export with 아이디, 이메일, 휴대폰): read into memory at start, never stored. "
        "Without it only Web Push subscriptions have addresses, and every other message is suppressed "
        "as unreachable.",
    ),
]
ColumnOpt = Annotated[
    list[str],
    typer.Option(
        "--column", help="FIELD=COLUMN: which column of the contact file holds member_id, email or phone."
    ),
]
EncodingOpt = Annotated[
    str, typer.Option(help="The contact file's text encoding (cp949 for a Korean Excel CSV).")
]
BatchOpt = Annotated[
    int,
    typer.Option(
        min=1,
        max=10_000,
        help="Messages claimed per round. A worker killed mid-round may send at most these again "
        "(with the same idempotency key); larger rounds send faster.",
    ),
]
PublicUrlOpt = Annotated[
    str | None,
    typer.Option(
        "--public-url",
        envvar="SHOPMIND_PUBLIC_URL",
        help="The address customers reach the shopmind server at (https://crm.shop.example): each "
        "advertising e-mail's one-click unsubscribe link (List-Unsubscribe) points at "
        "<public-url>/m/u/…, which 'shopmind serve' answers. Default: the address 'shopmind serve' "
        "listens on (for 'shopmind worker': " + DEFAULT_PUBLIC_URL + "); behind a reverse proxy or "
        "when customers read mail elsewhere, give the public one.",
    ),
]
JourneyIntervalOpt = Annotated[
    float,
    typer.Option(
        "--journey-interval",
        min=0.1,
        help="Seconds between two turns of the journeys: every scheduled or running campaign with "
        "more than one step or a trigger (segment entry, an event such as an abandoned cart) is "
        "advanced, and the customers it brings in and the steps that came due are queued.",
    ),
]
AttemptsOpt = Annotated[
    int, typer.Option(min=1, max=100, help="Tries before a message the provider keeps deferring is failed.")
]


@app.command()
def worker(
    workspace: WorkspaceOpt = Path(".shopmind"),
    contacts: ContactsOpt = None,
    column: ColumnOpt = [],  # noqa: B006 (typer reads the default, never mutates it)
    encoding: EncodingOpt = "utf-8",
    batch: BatchOpt = 50,
    max_attempts: AttemptsOpt = 6,
    public_url: PublicUrlOpt = None,
    journey_interval: JourneyIntervalOpt = 60.0,
    once: Annotated[
        bool,
        typer.Option("--once", help="Send what is due now, then exit (else: keep sending until stopped)."),
    ] = False,
    idle: Annotated[
        float, typer.Option(min=0.05, help="Seconds to wait when nothing is due before looking again.")
    ] = 1.0,
) -> None:
    """Send the campaigns' outbox: due messages go out through the workspace's channels
    (channels.toml; without one, every channel is written to outbox/<channel>.jsonl in the
    workspace), each with its idempotency key (the e-mail's Message-ID, the gateways' request key).

    At hand-over the worker asks the contact file for the address (none: suppressed as
    unreachable) and checks advertising consent in the consent ledger again (an opt-out recorded a
    moment ago stops the message; at night a message without night-time consent waits for 08:00).
    Refusals for now are retried with exponential backoff. Killed, it loses nothing: at the next
    start the messages it was handing over are marked 'unknown' and resent with the same key, so
    a gateway drops the repeat and a mail reader recognises it.

    It also runs the journeys: every --journey-interval seconds (and once with --once) each
    scheduled or running campaign with more than one step, or with a trigger other than 'now',
    lets in the customers its trigger brings (e.g. an abandoned cart an hour on) and queues each
    member's step once it is due (wait_hours after the previous one, if its 'when' holds); a
    purchase ends a member's journey. A campaign whose turn fails is logged and the others go on.

    Ctrl-C or SIGTERM stop it after the message in flight. While 'shopmind serve' owns the
    workspace, start the server with --send instead: it runs this worker itself.

    Exit codes: 0 stopped cleanly, 2 bad option or channels.toml, 4 unreadable contact file,
    5 workspace problem (missing, locked)."""
    from shopmind.core import Settings, ShiftedClock, SystemClock
    from shopmind.store import Workspace, outbox_counts

    settings = Settings()
    zone = settings.shop_timezone
    # SHOPMIND_CLOCK_SHIFT_FILE: a test (or a replay) moves the worker's time forward, as the server's
    clock = ShiftedClock(settings.clock_shift_file) if settings.clock_shift_file else SystemClock()
    links = check_public_url(public_url or DEFAULT_PUBLIC_URL)
    try:
        ws = Workspace(workspace)
        store = ws.open_store()
    except WorkspaceLockedError:
        raise fail(
            f"the store of {workspace} is owned by a running 'shopmind serve'",
            EXIT_WORKSPACE,
            "stop it, or start it with --send (and --contacts) to send the outbox from the server",
        ) from None
    except (WorkspaceError, ShopmindError) as exc:
        raise fail(str(exc), EXIT_WORKSPACE) from None
    last = [time.monotonic()]

    def progress(stats: SenderStats) -> None:
        if time.monotonic() - last[0] >= PROGRESS_EVERY_S:
            last[0] = time.monotonic()
            err_console.print(_line(stats))

    try:
        make = sender_factory(
            ws.path,
            contacts=contacts,
            public_url=links,
            columns=parse_columns(column),
            encoding=encoding,
            batch=batch,
            max_attempts=max_attempts,
            clock=clock,
            zone=zone,
            progress=progress,
            journey_interval=journey_interval,
        )
        try:
            sender = make(store)
        except ImportFileError as exc:  # the contact file is missing or unreadable
            raise fail(f"--contacts: {exc}", EXIT_BAD_FILE) from None
        except ShopmindError as exc:  # channels.toml or the contact file's columns, each field named
            raise fail(str(exc), EXIT_USAGE) from None
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: sender.stop())
        recovered = sender.recover()
        if recovered:
            err_console.print(
                f"[yellow]{recovered} message(s) were being handed over when the last worker stopped:[/] "
                "resent with the same key"
            )
        err_console.print(
            f"sending the outbox of {workspace}" + (" (what is due now)" if once else " (Ctrl-C stops)")
        )
        err_console.print(f"unsubscribe links point at {links}" + ("" if public_url else " (--public-url)"))
        stats = sender.drain() if once else sender.run_forever(idle)
        err_console.print(_line(stats))
        sender.close()
        counts = outbox_counts(store)
    finally:
        store.close()
    console.print(" ".join(f"{state}={n}" for state, n in counts.items()))


def _line(stats: SenderStats) -> str:
    suppressed = sum(stats.suppressed.values())
    why = ", ".join(f"{reason} {n}" for reason, n in sorted(stats.suppressed.items()))
    return (
        f"sent {stats.sent} ({stats.per_second:.0f}/s), suppressed {suppressed}"
        + (f" ({why})" if why else "")
        + f", deferred {stats.deferred}, retrying {stats.retried}, failed {stats.failed}, "
        f"unknown {stats.unknown}, resent after a stop {stats.recovered}"
        + (f", push subscriptions revoked {stats.revoked}" if stats.revoked else "")
        + (
            f"; journeys: {stats.journey_entered} entered, {stats.journey_queued} queued"
            + (f", {stats.journey_errors} failed (see the log)" if stats.journey_errors else "")
            if stats.journey_turns
            else ""
        )
    )
