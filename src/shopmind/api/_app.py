"""The FastAPI application of one workspace: it owns the workspace's store for its lifetime (a
second server on the same workspace fails to start with a clear message)."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from shopmind import web
from shopmind.activation import workspace_link_key
from shopmind.api import (
    _admin,
    _campaigns,
    _collect,
    _consent,
    _demo_shop,
    _docs,
    _experiments,
    _exports,
    _health,
    _inspect,
    _live,
    _messages,
    _onsite,
    _policy_value,
    _profiles,
    _push,
    _schedule,
    _sdk,
    _segments,
)
from shopmind.api._auth import RateLimiter
from shopmind.api._config import ServerConfig
from shopmind.api._errors import HANDLERS, document_one_error_shape
from shopmind.api._json import JSON
from shopmind.api._models import LiveRecommender
from shopmind.api._operations import Operations, start_operations
from shopmind.api._outbox import OutboxThread, SenderFactory
from shopmind.api._worker import GroupCommitter, StoreWorker
from shopmind.onsite import load_triggers
from shopmind.segments import LiveMembership
from shopmind.store import IdentitySigner, KeyRing, Store, Workspace
from shopmind.web import Reader

TRIGGERS_FILE = "triggers.toml"

_log = logging.getLogger("shopmind.api")


def create_app(
    workspace: str | Path,
    config: ServerConfig | None = None,
    *,
    recommend: bool = True,
    demo: bool = False,
    operations: Operations | None = None,
    sender: SenderFactory | None = None,
) -> FastAPI:
    """The HTTP API of the workspace at ``workspace`` (opened when the app starts).

    ``recommend``: learn the hybrid recommender in the background at start (recommendations and
    the recommendation widgets answer 503 until it is ready). ``demo``: serve the demo shop at
    ``/demo/`` with a write key of its own. ``operations``: the daily run, and where the server
    listens for the command line to work through it (see ``Operations``). ``sender``: send the
    campaigns' outbox on a thread of its own with the sender it makes (see ``api._outbox``).
    """
    config = config or ServerConfig()
    operations = operations or Operations()
    ws = Workspace(workspace)  # fails now, with a clear message, if it is not a workspace
    triggers = load_triggers(ws.path / TRIGGERS_FILE)  # a bad trigger file fails now, naming the field
    store = ws.open_store()  # fails now if another process owns the store
    keys = KeyRing(ws.path)
    recommender = LiveRecommender(enabled=recommend)
    onsite = _onsite.OnSite(triggers, recommender, now=lambda: datetime.now(UTC))
    onsite.experiments.zone = ZoneInfo(operations.zone)  # a bandit's hour is the shop's
    live = LiveMembership(operations.clock, operations.zone)
    onsite.live_segments = live.segments_of  # "in saved segment X" for the triggers

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        worker = StoreWorker(store)
        committer = GroupCommitter(worker, config.max_pending_events, live)
        # orders and identity links of events stored by a run that stopped before writing them
        orders, links = await worker.run(committer.writer.recover)
        if orders or links:
            _log.warning(
                "derived %d orders and %d identity links the last run had not written", orders, links
            )
        # the live segments' state from the stored events in their longest window
        try:
            await worker.write(live.start)
        except Exception:  # the segments are still counted at each run; the sweep tries again
            _log.exception("the live segments could not be rebuilt from the stored events")
        sweeper = _live.LiveSweeper(worker, live)
        app.state.live_sweeper = sweeper
        committer.start()
        sweeper.start()
        app.state.worker, app.state.committer = worker, committer
        reader = Reader(store.reader())
        app.state.dashboard_reader = reader
        app.state.last_event_at = await reader.run(_last_event)
        await onsite.start(worker)
        if demo:
            app.state.demo_shop = await worker.run(_demo_shop.demo_catalogue)
        stop_operations = await start_operations(app, ws.path, worker, recommender, operations)
        outbox = OutboxThread(worker, sender) if sender is not None else None
        app.state.outbox = outbox
        if outbox is not None:
            await outbox.start()
        app.state.jobs.after_run.append(sweeper.refresh_static)
        gc.freeze()  # what start-up loaded stays: keep it out of every later full collection
        learning = asyncio.create_task(recommender.learn(worker.run), name="shopmind-learn")
        try:
            yield
        finally:  # graceful: what was accepted is written before the store closes
            if outbox is not None:  # its connection closes before the store does
                await outbox.close()
            await stop_operations()
            learning.cancel()
            await asyncio.gather(learning, return_exceptions=True)
            await sweeper.close()
            await committer.close()
            await onsite.close()
            reader.close()
            worker.close()

    app = FastAPI(
        title="shopmind",
        summary="Collect what shoppers do; serve profiles, recommendations and on-site decisions.",
        version="1",
        default_response_class=JSON,
        lifespan=lifespan,
        docs_url=None,  # /docs is served with local assets (api/_docs.py): it works offline
        redoc_url=None,  # ReDoc would load from a CDN too
    )
    app.state.config = config
    app.state.keys = keys
    app.state.hasher = ws.hasher()
    app.state.link_key = workspace_link_key(ws)  # checks the signed links in sent messages
    app.state.workspace_folder = ws.path  # its VAPID key, read when first asked for (api._push)
    app.state.vapid_public_key = None
    app.state.workspace, app.state.shop_zone = ws, operations.zone  # campaigns read its keys and channels
    app.state.signer = IdentitySigner(ws.path)
    app.state.limiter = RateLimiter(config.requests_per_second)
    app.state.recommender = recommender
    app.state.onsite = onsite
    app.state.live = live
    app.state.demo_shop = None
    app.state.admin = None
    app.state.demo_key = _demo_shop.demo_write_key(ws.path, keys) if demo else None
    # the tracker runs on the shop's own pages, on another origin: let browsers call the API
    app.add_middleware(
        CORSMiddleware,
        allow_origins=["*"],
        allow_methods=["GET", "POST", "DELETE"],  # DELETE: a browser revoking its push subscription
        allow_headers=["Authorization", "Content-Type"],
        max_age=600,
    )
    for error, handler in HANDLERS.items():
        app.add_exception_handler(error, handler)
    for module in (
        _health,
        _collect,
        _inspect,
        _profiles,
        _segments,
        _campaigns,
        _experiments,
        _policy_value,
        _consent,
        _onsite,
        _live,
        _sdk,
        _demo_shop,
        _schedule,
        _exports,
        _messages,
        _push,
        _admin,
        _docs,
    ):
        app.include_router(module.router)
    web.install(app)
    document_one_error_shape(app)
    _segments.document_definitions(app)
    _campaigns.document_campaigns(app)
    return app


def _last_event(store: Store) -> datetime | None:
    """When the newest stored event arrived (read once; then kept by the collection API)."""
    found = store.scalar("SELECT max(received_at) FROM events")
    return found if isinstance(found, datetime) else None
