"""The FastAPI application of one workspace: it owns the workspace's store for its lifetime (a
second server on the same workspace fails to start with a clear message)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import ORJSONResponse

from shopmind.api import _collect, _health, _inspect
from shopmind.api._auth import RateLimiter
from shopmind.api._config import ServerConfig
from shopmind.api._errors import HANDLERS
from shopmind.api._worker import GroupCommitter, StoreWorker
from shopmind.store import KeyRing, Workspace


def create_app(workspace: str | Path, config: ServerConfig | None = None) -> FastAPI:
    """The HTTP API of the workspace at ``workspace`` (opened when the app starts)."""
    config = config or ServerConfig()
    ws = Workspace(workspace)  # fails now, with a clear message, if it is not a workspace
    store = ws.open_store()  # fails now if another process owns the store

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        worker = StoreWorker(store)
        committer = GroupCommitter(worker, config.max_pending_events)
        committer.start()
        app.state.worker, app.state.committer = worker, committer
        try:
            yield
        finally:  # graceful: what was accepted is written before the store closes
            await committer.close()
            worker.close()

    app = FastAPI(
        title="shopmind",
        summary="Collect what shoppers do; serve profiles, recommendations and on-site decisions.",
        version="1",
        default_response_class=ORJSONResponse,
        lifespan=lifespan,
    )
    app.state.config = config
    app.state.keys = KeyRing(ws.path)
    app.state.hasher = ws.hasher()
    app.state.limiter = RateLimiter(config.requests_per_second)
    for error, handler in HANDLERS.items():
        app.add_exception_handler(error, handler)
    app.include_router(_health.router)
    app.include_router(_collect.router)
    app.include_router(_inspect.router)
    return app
