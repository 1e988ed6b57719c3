"""The local admin endpoint: the command line works through the server that owns the store.

``POST /admin/v1/cli`` takes a command the CLI parsed (see ``cli._remote``), runs it in this
process against the store (a job of ``api._jobs``: its own thread and connection, so collection
goes on) and streams back, one JSON object a line, what it prints (``{"out": text}``,
``{"err": text}``), its progress (``{"progress": [phase, done, total]}``) and last its exit code
(``{"exit": code}``). A command that changed what the server holds in memory says so
(``{"changed": "experiments"}``, kept here): the on-site decisions re-read the running
experiments before the exit code is sent. ``shopmind run`` sent this way is the server's full run (one at a time, in
the job history, the recommender refitted after it).

Only this machine may call it: the peer must be a loopback address (or the server's own address,
for a server bound to one interface), with the token the server wrote, mode 0600, into the
workspace folder at start (``store.announce_server``): whoever may read the workspace may run its
commands anyway."""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from shopmind.api._errors import ApiError
from shopmind.api._jobs import Jobs, RunInProgressError, job_facts
from shopmind.api._models import LiveRecommender
from shopmind.core import FieldError, InvalidInputError
from shopmind.store import Store

#: runs a command sent by the CLI against a store, sending its output to ``emit``, with the
#: server's live recommender at hand: its exit code and what the command returned (the command
#: line's layer provides it: ``cli._in_server``)
CommandRunner = Callable[
    [dict[str, Any], Store, Path, Callable[[dict[str, Any]], None], LiveRecommender], tuple[int, Any]
]
EXIT_BUG, EXIT_USAGE, EXIT_WORKSPACE = 1, 2, 5

router = APIRouter(prefix="/admin/v1", include_in_schema=False)


@dataclass(frozen=True)
class Admin:
    """What the endpoint needs: the workspace folder, the token, the command runner and the
    server's live recommender (``shopmind recommend for`` answers from it, as the API does)."""

    workspace: Path
    token: str
    run_command: CommandRunner
    recommender: LiveRecommender


def _local(request: Request) -> bool:
    peer = request.client.host if request.client else None
    if peer is None or "forwarded" in request.headers or "x-forwarded-for" in request.headers:
        return False  # relayed by a proxy on this machine: the caller is somewhere else
    try:
        if ipaddress.ip_address(peer).is_loopback:
            return True
    except ValueError:
        return False
    server = request.scope.get("server") or (None,)
    return bool(server[0] == peer)  # a server bound to one address, called from itself


async def _catch_up(request: Request, changed: set[str]) -> None:
    """What the server holds in memory follows what the command changed in the store, before the
    caller hears the command is done: ``experiments start`` routes the next decision."""
    if "experiments" in changed:
        onsite = getattr(request.app.state, "onsite", None)
        if onsite is not None:
            await onsite.reload_experiments()


@router.post("/cli")
async def cli(request: Request) -> StreamingResponse:
    admin: Admin | None = getattr(request.app.state, "admin", None)
    if admin is None:
        raise ApiError(404, "not_found", "this server runs no admin endpoint")
    if not _local(request):
        raise ApiError(403, "forbidden", "the admin endpoint answers on this machine only")
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), admin.token.encode()):
        raise ApiError(401, "unauthorized", "missing or wrong admin token (the workspace's admin.token)")
    try:
        asked = orjson.loads(await request.body())
    except orjson.JSONDecodeError as exc:
        raise InvalidInputError([FieldError("body", f"not valid JSON ({exc})")]) from None
    if not isinstance(asked, dict) or not isinstance(asked.get("command"), list) or not asked["command"]:
        raise InvalidInputError([FieldError("command", 'a list of names, e.g. ["customers", "show"]')])
    jobs: Jobs = request.app.state.jobs
    loop = asyncio.get_running_loop()
    messages: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    changed: set[str] = set()

    def emit(message: dict[str, Any]) -> None:  # from the job's thread
        if "changed" in message:  # for the server, not the caller
            changed.add(str(message["changed"]))
            return
        loop.call_soon_threadsafe(messages.put_nowait, message)

    def execute(store: Store) -> tuple[int, Any]:
        try:
            return admin.run_command(asked, store, admin.workspace, emit, admin.recommender)
        except InvalidInputError as exc:
            emit({"err": f"error: {exc}\n"})
            return EXIT_USAGE, None

    async def work() -> int:
        try:
            if asked["command"] == ["run"]:
                done = await jobs.full_run("cli", execute)
                if done.status == "ok":
                    return 0
                failed = job_facts(done).get("exit_code")
                return failed if isinstance(failed, int) else EXIT_BUG
            code, _ = await jobs.call(execute)
            await _catch_up(request, changed)
            return int(code)
        except RunInProgressError as exc:
            emit({"err": f"error: {exc}\n"})
            return EXIT_WORKSPACE
        except Exception as exc:
            emit({"err": f"error: the server could not run the command: {exc}\n"})
            return EXIT_BUG

    task = asyncio.create_task(work(), name="shopmind-cli-command")

    async def stream() -> AsyncIterator[bytes]:
        while True:
            getter = asyncio.ensure_future(messages.get())
            await asyncio.wait({getter, task}, return_when=asyncio.FIRST_COMPLETED)
            if getter.done():
                yield orjson.dumps(getter.result()) + b"\n"
                continue
            getter.cancel()
            while not messages.empty():  # what the command printed last
                yield orjson.dumps(messages.get_nowait()) + b"\n"
            yield orjson.dumps({"exit": task.result()}) + b"\n"
            return

    return StreamingResponse(stream(), media_type="application/x-ndjson")
