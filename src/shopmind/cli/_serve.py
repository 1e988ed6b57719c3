"""``shopmind serve`` (the HTTP API) and ``shopmind keys`` (its API keys)."""

from __future__ import annotations

import os
import signal
import sys
from datetime import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from shopmind.cli._common import EXIT_USAGE, EXIT_WORKSPACE, WorkspaceOpt, app, console, err_console, fail
from shopmind.cli._format import local_time
from shopmind.cli._worker import (
    BatchOpt,
    ContactsOpt,
    EncodingOpt,
    JourneyIntervalOpt,
    PublicUrlOpt,
    check_public_url,
)
from shopmind.core import InvalidInputError, ShopmindError, WorkspaceError

if TYPE_CHECKING:  # the rest is imported where it is used: ``shopmind --help`` stays quick
    from shopmind.store import KeyRing

keys_app = typer.Typer(
    help="API keys: a write key (collect only; may sit in a web page) and secret keys (everything else).",
    no_args_is_help=True,
)
app.add_typer(keys_app, name="keys")


def _ring(workspace: Path) -> KeyRing:
    from shopmind.store import KeyRing, Workspace

    try:
        return KeyRing(Workspace(workspace).path)
    except WorkspaceError as exc:
        raise fail(str(exc), EXIT_WORKSPACE) from None


@keys_app.command("create")
def keys_create(
    kind: Annotated[str, typer.Option("--kind", help="write (collect events only) or secret (everything)")],
    workspace: WorkspaceOpt = Path(".shopmind"),
) -> None:
    """Create a key and print it once: only its hash is kept, so copy it now."""
    from shopmind.store import KINDS

    if kind not in KINDS:
        raise fail(f"--kind must be one of {', '.join(KINDS)}, not {kind!r}", EXIT_USAGE)
    described, key = _ring(workspace).create(kind)
    err_console.print(
        f"[green]created {described.kind} key {described.key_id}[/] (shown once; store it safely)"
    )
    console.print(key, soft_wrap=True)


@keys_app.command("list")
def keys_list(workspace: WorkspaceOpt = Path(".shopmind")) -> None:
    """The workspace's keys: ids, kinds and dates (never the keys)."""
    keys = _ring(workspace).list()
    if not keys:
        err_console.print("no keys yet: shopmind keys create --kind write")
        return
    table = Table("key id", "kind", "created", "state")
    for k in keys:
        table.add_row(
            k.key_id,
            k.kind,
            local_time(k.created_at),
            "revoked" if k.revoked else "active",
        )
    console.print(table)


@keys_app.command("identity-secret")
def keys_identity_secret(workspace: WorkspaceOpt = Path(".shopmind")) -> None:
    """Print the workspace's identity secret, for the shop's server only: it signs the member id a
    page is showing, HMAC-SHA256(secret, member id) in hex, and the page passes the signature to
    shopmind.identify(id, traits, {signature}). /v1/decide serves personal content (a VIP's picks)
    only for a member id with its valid signature: the write key is public, a member id is not proof."""
    from shopmind.store import IdentitySigner, Workspace

    try:
        signer = IdentitySigner(Workspace(workspace).path)
    except WorkspaceError as exc:
        raise fail(str(exc), EXIT_WORKSPACE) from None
    err_console.print(
        "the identity secret (keep it on your server, never in a page); a member id's signature is\n"
        "HMAC-SHA256(secret, member id) in hex, e.g.\n"
        '  python -c "import hmac,hashlib,sys; print(hmac.new(sys.argv[1].encode(), sys.argv[2].encode(), '
        'hashlib.sha256).hexdigest())" SECRET MEMBER_ID'
    )
    console.print(signer.secret, soft_wrap=True)


@keys_app.command("revoke")
def keys_revoke(key_id: str, workspace: WorkspaceOpt = Path(".shopmind")) -> None:
    """Revoke a key at once (a running server refuses it from its next request)."""
    try:
        described = _ring(workspace).revoke(key_id)
    except InvalidInputError as exc:
        raise fail(str(exc), EXIT_USAGE) from None
    err_console.print(f"revoked {described.kind} key {described.key_id}")


def _own_url(host: str, port: int) -> str:
    """The server's own address, for links when no --public-url is given (an address listening on
    every interface is named by the machine's name)."""
    if host in ("0.0.0.0", "::", ""):
        import socket  # here: every command's start-up would pay for it

        host = socket.getfqdn()
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _daily(value: str) -> time | None:
    if value.strip().lower() == "off":
        return None
    try:
        return time.fromisoformat(value.strip())
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not a time of day (HH:MM) or 'off'", param_hint="--run-at"
        ) from None


@app.command()
def serve(
    workspace: WorkspaceOpt = Path(".shopmind"),
    host: Annotated[str, typer.Option(help="Address to listen on (0.0.0.0: every interface).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    max_pending: Annotated[
        int, typer.Option(help="Events accepted but not yet written before requests get 503 + Retry-After.")
    ] = 200_000,
    rate: Annotated[
        float | None, typer.Option(help="Requests per second allowed per key (429 + Retry-After above it).")
    ] = None,
    demo: Annotated[
        bool,
        typer.Option("--demo", help="Also serve a demo shop at /demo/ that uses the tracker end to end."),
    ] = False,
    forwarded_proto: Annotated[
        bool,
        typer.Option(
            "--forwarded-proto",
            help="Trust X-Forwarded-Proto from the reverse proxy that terminates TLS in front of the "
            "server (the dashboard's cookies are then Secure); without it the header is ignored.",
        ),
    ] = False,
    recommender: Annotated[
        bool,
        typer.Option(
            "--recommender/--no-recommender",
            help="Learn the hybrid recommender from the store in the background at start.",
        ),
    ] = True,
    run_at: Annotated[
        str,
        typer.Option(
            "--run-at",
            help="Run every customer-intelligence job daily at this time (HH:MM) in the shop's zone "
            "(SHOPMIND_SHOP_TIMEZONE, default Asia/Seoul); 'off': only when asked.",
        ),
    ] = "03:00",
    send: Annotated[
        bool,
        typer.Option(
            "--send/--no-send",
            help="Also send the campaigns' outbox and run their journeys, as 'shopmind worker' does, on a "
            "thread of the server (give --contacts: the shop's contact file).",
        ),
    ] = False,
    contacts: ContactsOpt = None,
    contacts_encoding: EncodingOpt = "utf-8",
    send_batch: BatchOpt = 50,
    public_url: PublicUrlOpt = None,
    journey_interval: JourneyIntervalOpt = 60.0,
) -> None:
    """Serve the HTTP API of a workspace: event collection (/v1/track, /v1/batch, ...), profiles
    and recommendations (/v1/profiles, /v1/recommendations), on-site decisions (/v1/decide, by the
    workspace's triggers.toml or the built-in triggers), the JavaScript tracker (/sdk.js), health
    (/healthz, /readyz) and the OpenAPI docs (/docs). One server per workspace: it owns the store
    until it stops (Ctrl-C or SIGTERM stop it gracefully, writing what was accepted).

    While it runs, the other commands (status, run, customers, import, ...) work through it, and
    it runs every customer-intelligence job daily at --run-at (see /v1/jobs), and, with --send,
    sends the campaigns' outbox (see 'shopmind worker --help')."""
    import uvicorn

    from shopmind.api import Operations, ServerConfig, create_app
    from shopmind.api._connections import (
        HEADER_TIMEOUT_S,
        connection_cap,
        guarded_protocol,
        raise_open_files_limit,
    )
    from shopmind.cli._in_server import run_command
    from shopmind.core import Settings, ShiftedClock, SystemClock
    from shopmind.events import NumberLimits
    from shopmind.store import KeyRing

    settings = Settings()  # SHOPMIND_MAX_UNIT_PRICE and the other limits, from the environment
    limits = NumberLimits(settings.max_unit_price, settings.max_quantity, settings.max_order_value)
    daily = _daily(run_at)
    clock = ShiftedClock(settings.clock_shift_file) if settings.clock_shift_file else SystemClock()
    sender = None
    links = check_public_url(public_url or _own_url(host, port))
    if send:
        from shopmind.cli._worker import check_sending, sender_factory

        check_sending(workspace, contacts)
        sender = sender_factory(
            workspace,
            contacts=contacts,
            public_url=links,
            encoding=contacts_encoding,
            batch=send_batch,
            max_attempts=6,
            clock=clock,
            zone=settings.shop_timezone,
            journey_interval=journey_interval,
        )
    elif contacts is not None:
        raise fail("--contacts is for sending the outbox: add --send", EXIT_USAGE)
    try:
        api = create_app(
            workspace,
            ServerConfig(
                max_pending_events=max_pending,
                requests_per_second=rate,
                limits=limits,
                trust_forwarded_proto=forwarded_proto,
            ),
            recommend=recommender,
            demo=demo,
            operations=Operations(
                listen=(host, port),
                run_command=run_command,
                run_at=daily,
                zone=settings.shop_timezone,
                # SHOPMIND_CLOCK_SHIFT_FILE: a test (or a replay) moves the server's time forward
                clock=clock,
            ),
            sender=sender,
        )
    except InvalidInputError as exc:  # the workspace's triggers.toml
        raise fail(f"triggers.toml: {exc}", EXIT_USAGE, "fix the named fields, or remove the file") from None
    except ShopmindError as exc:  # not a workspace, locked by another server, newer schema
        raise fail(str(exc), EXIT_WORKSPACE) from None
    if not KeyRing(workspace).list():
        err_console.print("[yellow]no API keys yet:[/] create one with 'shopmind keys create --kind write'")
    err_console.print(f"shopmind serving {workspace} on http://{host}:{port} (docs: /docs)")
    err_console.print(
        f"dashboard: http://{host}:{port}/dashboard (sign in with an account from "
        "'shopmind users create --role owner --login NAME')"
    )
    if demo:
        err_console.print(f"demo shop: http://{host}:{port}/demo/")
    if daily is not None:
        err_console.print(
            f"every customer-intelligence job runs daily at {run_at} ({settings.shop_timezone})"
        )
    if send:
        err_console.print(
            "sending the campaigns' outbox"
            + (f" (addresses from {contacts})" if contacts else "")
            + f"; unsubscribe links point at {links}"
            + ("" if public_url else " (give --public-url if customers reach the server elsewhere)")
        )
    # uvicorn stops gracefully on SIGTERM / Ctrl-C, then raises the signal again for the handler
    # found at start: with these, a graceful stop exits 0 instead of dying by the signal
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)
    # slow clients (slowloris) must not hold every file descriptor: a header deadline, a cap on
    # connections below the open-files limit (raised to the hard limit first)
    cap = connection_cap(raise_open_files_limit())
    # uvicorn's own proxy-header handling (on by default for 127.0.0.1) follows --forwarded-proto
    uvicorn.run(
        api,
        host=host,
        port=port,
        log_level="warning",
        timeout_graceful_shutdown=10,
        timeout_keep_alive=5,
        http=guarded_protocol(HEADER_TIMEOUT_S, cap),
        proxy_headers=forwarded_proto,
    )
    err_console.print("shopmind stopped; everything acknowledged is stored")
    # the store is closed and flushed by now; a recommender still training on a daemon thread
    # (native thread pools) aborted the interpreter's finalisation ("terminate called without an
    # active exception", exit -6) when stopped early: leave without finalising
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
