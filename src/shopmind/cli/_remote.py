"""The command line's side of working through a running server: the current command (its name and
the values Click parsed, paths made absolute: the server runs on this machine, in another
folder) goes to the server's local admin endpoint, which runs it against the store it owns and
streams back what the command prints, its progress and its exit code."""

from __future__ import annotations

import os
from collections.abc import Iterator
from enum import Enum
from pathlib import Path
from typing import Any

import httpx
import orjson
import typer
import typer.main
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from shopmind.store import RunningServer

EXIT_BUG, EXIT_WORKSPACE = 1, 5
ADMIN_PATH = "/admin/v1/cli"


def command_request(ctx: Any, width: int, color: bool) -> dict[str, Any]:
    """What the server needs to run the command of the Typer context ``ctx``: its path below
    ``shopmind`` and its parsed parameters as JSON (a path as ``{"path": absolute path}``)."""
    names: list[str] = []
    at = ctx
    while at is not None and at.parent is not None:
        names.append(str(at.info_name))
        at = at.parent
    return {
        "command": names[::-1],
        "params": {name: _plain(value) for name, value in ctx.params.items()},
        "width": width,
        "color": color,
    }


def _plain(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return {"path": os.path.abspath(value)}
    if isinstance(value, Enum):
        return value.value
    return value


def _current_context() -> Any:
    """The Typer (Click) context of the command being run."""
    return typer.main.get_current_context()  # Typer's own Click (Typer >= 0.20 carries one)


def run_in_server(server: RunningServer, out: Console, err: Console) -> int:
    """Run the current command in ``server``, printing what it prints; its exit code."""
    request = command_request(_current_context(), out.width, out.is_terminal)
    try:
        with (
            httpx.Client(base_url=server.url, timeout=httpx.Timeout(10.0, read=None)) as http,
            http.stream(
                "POST",
                ADMIN_PATH,
                content=orjson.dumps(request),
                headers={"Authorization": f"Bearer {server.token}", "Content-Type": "application/json"},
            ) as answer,
        ):
            if answer.status_code != 200:
                answer.read()
                err.print(
                    f"[bold red]error:[/] the server refused the command ({answer.status_code}): {answer.text}"
                )
                return EXIT_WORKSPACE
            return _follow(answer.iter_lines(), out, err)
    except httpx.TransportError as exc:
        err.print(f"[bold red]error:[/] the server at {server.url} did not answer ({exc})")
        return EXIT_WORKSPACE


def _follow(lines: Iterator[str], out: Console, err: Console) -> int:
    """Print the server's stream as it comes; the command's exit code (its last message)."""
    bars: Progress | None = None
    tasks: dict[str, TaskID] = {}
    try:
        for line in lines:
            if not line:
                continue
            message = orjson.loads(line)
            if "out" in message or "err" in message:
                if bars is not None:  # the bars' last state stays above what the command prints
                    bars.stop()
                    bars, tasks = None, {}
                stream = out if "out" in message else err
                stream.file.write(message.get("out", message.get("err")))
                stream.file.flush()
            elif "progress" in message:
                phase, done, total = message["progress"]
                if bars is None:
                    bars = _bars(err)
                    bars.start()
                if phase not in tasks:
                    tasks[phase] = bars.add_task(phase, total=max(total, 1))
                bars.update(tasks[phase], completed=done, total=max(total, 1))
            elif "exit" in message:
                return int(message["exit"])
    finally:
        if bars is not None:
            bars.stop()
    err.print("[bold red]error:[/] the server stopped before the command finished")
    return EXIT_BUG


def _bars(err: Console) -> Progress:
    return Progress(
        TextColumn("{task.description:<14}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=False,
    )
