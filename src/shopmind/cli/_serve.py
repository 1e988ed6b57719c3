"""``shopmind serve`` (the HTTP API) and ``shopmind keys`` (its API keys)."""

from __future__ import annotations

import signal
from datetime import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from shopmind.cli._common import EXIT_USAGE, EXIT_WORKSPACE, WorkspaceOpt, app, console, err_console, fail
from shopmind.core import InvalidInputError, Settings, ShopmindError, WorkspaceError
from shopmind.store import KINDS, KeyRing, Workspace

keys_app = typer.Typer(
    help="API keys: a write key (collect only; may sit in a web page) and secret keys (everything else).",
    no_args_is_help=True,
)
app.add_typer(keys_app, name="keys")


def _ring(workspace: Path) -> KeyRing:
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
            k.created_at.strftime("%Y-%m-%d %H:%M UTC"),
            "revoked" if k.revoked else "active",
        )
    console.print(table)


@keys_app.command("revoke")
def keys_revoke(key_id: str, workspace: WorkspaceOpt = Path(".shopmind")) -> None:
    """Revoke a key at once (a running server refuses it from its next request)."""
    try:
        described = _ring(workspace).revoke(key_id)
    except InvalidInputError as exc:
        raise fail(str(exc), EXIT_USAGE) from None
    err_console.print(f"revoked {described.kind} key {described.key_id}")


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
) -> None:
    """Serve the HTTP API of a workspace: event collection (/v1/track, /v1/batch, ...), profiles
    and recommendations (/v1/profiles, /v1/recommendations), on-site decisions (/v1/decide, by the
    workspace's triggers.toml or the built-in triggers), the JavaScript tracker (/sdk.js), health
    (/healthz, /readyz) and the OpenAPI docs (/docs). One server per workspace: it owns the store
    until it stops (Ctrl-C or SIGTERM stop it gracefully, writing what was accepted).

    While it runs, the other commands (status, run, customers, import, ...) work through it, and
    it runs every customer-intelligence job daily at --run-at (see /v1/jobs)."""
    import uvicorn

    from shopmind.api import Operations, ServerConfig, create_app
    from shopmind.cli._in_server import run_command

    daily = _daily(run_at)
    try:
        api = create_app(
            workspace,
            ServerConfig(max_pending_events=max_pending, requests_per_second=rate),
            recommend=recommender,
            demo=demo,
            operations=Operations(
                listen=(host, port),
                run_command=run_command,
                run_at=daily,
                zone=Settings().shop_timezone,
            ),
        )
    except InvalidInputError as exc:  # the workspace's triggers.toml
        raise fail(f"triggers.toml: {exc}", EXIT_USAGE, "fix the named fields, or remove the file") from None
    except ShopmindError as exc:  # not a workspace, locked by another server, newer schema
        raise fail(str(exc), EXIT_WORKSPACE) from None
    if not KeyRing(workspace).list():
        err_console.print("[yellow]no API keys yet:[/] create one with 'shopmind keys create --kind write'")
    err_console.print(f"shopmind serving {workspace} on http://{host}:{port} (docs: /docs)")
    err_console.print(
        f"dashboard: http://{host}:{port}/dashboard (sign in with a key from "
        "'shopmind keys create --kind secret')"
    )
    if demo:
        err_console.print(f"demo shop: http://{host}:{port}/demo/")
    if daily is not None:
        err_console.print(
            f"every customer-intelligence job runs daily at {run_at} ({Settings().shop_timezone})"
        )
    # uvicorn stops gracefully on SIGTERM / Ctrl-C, then raises the signal again for the handler
    # found at start: with these, a graceful stop exits 0 instead of dying by the signal
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)
    uvicorn.run(api, host=host, port=port, log_level="warning", timeout_graceful_shutdown=10)
    err_console.print("shopmind stopped; everything acknowledged is stored")
