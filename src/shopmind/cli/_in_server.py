"""The server's side of the command line working through it: a command the CLI sent (its name and
parsed parameters) is run here, on the calling thread, against the store connection the server
gives it; what it prints and its progress go to ``emit`` as messages (and what it changed that
the server holds in memory, ``{"changed": "experiments"}``: the admin endpoint acts on it), and
the exit code is returned. The commands are the same functions as on the command line: ``open_workspace`` and
the consoles of ``cli._common`` see they run inside the server."""

from __future__ import annotations

import inspect
import io
import logging
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, cast

import typer
import typer.main
from rich.console import Console

from shopmind.cli._common import EXIT_BUG, EXIT_OK, IN_SERVER, InServer, app
from shopmind.core import FieldError, InvalidInputError, ShopmindError
from shopmind.store import Store, Workspace

Emit = Callable[[dict[str, Any]], None]
_log = logging.getLogger("shopmind.api")

#: commands that never open the store (or that make one): nothing to do through the server
_LOCAL = {("init",), ("demo",), ("serve",)}
#: commands the server must not run for the command line, and what to do instead
_REFUSED: dict[tuple[str, ...], str] = {
    ("customers", "erase"): "it asks for confirmation and rewrites the store file, which the server "
    "holds: erase through the server with DELETE /v1/profiles/{id} (secret key), or stop the server first",
}


class _Stream(io.TextIOBase):
    """A console's file: every write is a message of the stream ``name``."""

    def __init__(self, emit: Emit, name: str) -> None:
        self._emit, self._name = emit, name

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if text:
            self._emit({self._name: text})
        return len(text)

    def isatty(self) -> bool:
        return False


def find_command(path: list[str]) -> Callable[..., Any]:
    """The function of the command ``shopmind <path...>``; InvalidInputError naming it if there
    is none, or if it cannot run through the server."""
    command: Any = typer.main.get_command(app)
    ctx = typer.Context(command)
    for name in path:
        found = command.get_command(ctx, name) if hasattr(command, "get_command") else None
        if found is None:
            raise InvalidInputError([FieldError("command", f"no command 'shopmind {' '.join(path)}'")])
        command = found
    if tuple(path) in _REFUSED:
        raise InvalidInputError(
            [FieldError("command", f"'shopmind {' '.join(path)}': {_REFUSED[tuple(path)]}")]
        )
    if hasattr(command, "get_command") or tuple(path) in _LOCAL or command.callback is None:
        raise InvalidInputError(
            [FieldError("command", f"'shopmind {' '.join(path)}' cannot run through the server")]
        )
    callback: Callable[..., Any] = command.callback
    return callback


def _value(value: Any) -> Any:
    if isinstance(value, list):
        return [_value(v) for v in value]
    if isinstance(value, dict) and set(value) == {"path"}:
        return Path(value["path"])
    return value


def run_command(
    request: dict[str, Any], store: Store, workspace: Path, emit: Emit, recommender: Any = None
) -> tuple[int, Any]:
    """Run the command of ``request`` (see ``cli._remote.command_request``) against ``store``; the
    exit code and what the command returned (``shopmind run`` returns its report). ``recommender``:
    the server's live recommender, which ``recommend for`` answers from."""
    path = [str(n) for n in request.get("command", [])]
    command = find_command(path)
    params = request.get("params") or {}
    accepted = set(inspect.signature(command).parameters)
    if not isinstance(params, dict) or (unknown := sorted(set(params) - accepted)):
        raise InvalidInputError(
            [FieldError("params", f"not parameters of 'shopmind {' '.join(path)}': {unknown or params!r}")]
        )
    width = int(request.get("width") or 100)
    color = bool(request.get("color"))

    def console(name: str) -> Console:
        return Console(
            file=cast(IO[str], _Stream(emit, name)),
            width=width,
            force_terminal=color,
            color_system="standard" if color else None,
            highlight=color,
        )

    here = InServer(
        Workspace(workspace),
        store,
        console("out"),
        console("err"),
        lambda phase, done, total: emit({"progress": [phase, done, total]}),
        recommender,
        lambda what: emit({"changed": what}),
    )
    token = IN_SERVER.set(here)
    try:
        return EXIT_OK, command(**{name: _value(v) for name, v in params.items()})
    except ShopmindError as exc:  # as ``cli.main`` does
        here.err.print(f"[bold red]error:[/] {exc}")
        return EXIT_BUG, None
    except Exception as exc:
        code = getattr(exc, "exit_code", None)  # typer.Exit, and Click's errors (a bad --as-of)
        if isinstance(code, int):
            if hasattr(exc, "format_message"):
                here.err.print(f"[bold red]error:[/] {exc.format_message()}")
            return code, None
        _log.exception("the command 'shopmind %s' failed in the server", " ".join(path))
        here.err.print(f"[bold red]error:[/] internal error: {exc!r} (see the server's log)")
        return EXIT_BUG, None
    finally:
        IN_SERVER.reset(token)
