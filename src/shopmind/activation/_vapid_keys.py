"""Which VAPID key a workspace pushes with: the one its browsers must subscribe with.

A browser's subscription is bound to the application server key it was made with; a push signed
with another key is refused (403). So the key the tracker hands to ``pushManager.subscribe`` (the
API's ``GET /v1/push/vapid-key``) is the key file of the workspace's ``web_push`` channel
(``channels.toml``: ``url = "webpush:<key file>"``), else the workspace's default
``vapid_private_key.pem``; made there (0600) the first time it is asked for."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from shopmind.activation._channel_config import load_channel_config
from shopmind.activation._web_push import VapidKey, vapid_key_path


def workspace_vapid_key_path(folder: str | Path) -> Path:
    """Where the workspace at ``folder`` keeps the VAPID key its web push channel signs with."""
    folder = Path(folder)
    settings = load_channel_config(folder).channels.get("web_push")
    if settings is not None:
        parts = urlsplit(settings.url)
        if parts.scheme.lower() == "webpush" and parts.path:
            path = Path(unquote(parts.path))
            return path if path.is_absolute() else folder / path
    return vapid_key_path(folder)


def workspace_vapid_key(folder: str | Path) -> VapidKey:
    """The workspace's VAPID key (made, 0600, if absent): its ``application_server_key`` is what
    browsers subscribe with."""
    return VapidKey.load_or_create(workspace_vapid_key_path(folder))
