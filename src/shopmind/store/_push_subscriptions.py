"""Push subscriptions: where a customer's browser (Web Push) or app (a device token) takes push
messages. They are no address anyone could write to without the shop's keys, so unlike e-mail
addresses and phone numbers they are stored, handed over by the tracker or the shop's app.

* ``kind = 'web'``: a browser's subscription, its ``endpoint`` (the push service's URL) and keys
  (``p256dh``, ``auth``, base64url);
* ``kind = 'app'``: an app's device token (in ``endpoint``) and its ``platform``.

A subscription sent again is stored once (by its endpoint or token), moved to the customer who
sent it last and back in force if it had been revoked. Revoked: by the customer (``DELETE``), or
by the sender when the push service answers that it is gone."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from shopmind.store._store import Store

PushKind = Literal["web", "app"]


@dataclass(frozen=True)
class PushSubscription:
    """A browser's Web Push subscription (``kind`` web: ``endpoint``, ``p256dh``, ``auth``) or an
    app's device token (``kind`` app: the token in ``endpoint``, its ``platform``), of the
    customer known by ``identifier`` (as in the consent ledger: ``user:…``, ``anon:…``)."""

    endpoint: str
    identifier: str
    kind: PushKind = "web"
    p256dh: str | None = None
    auth: str | None = None
    platform: str | None = None


def save_push_subscription(store: Store, subscription: PushSubscription, *, at: datetime) -> bool:
    """Store ``subscription``; True when it is new or was revoked (False: the same one again).
    One sent again by another customer (a shared device) now belongs to that customer."""
    s = subscription
    with store.atomically():
        before = store.sql(
            "SELECT identifier, p256dh, auth, revoked_at FROM push_subscriptions WHERE endpoint = ?",
            [s.endpoint],
        )
        store.sql(
            """INSERT INTO push_subscriptions (endpoint, identifier, p256dh, auth, created_at, revoked_at,
                   kind, platform)
            VALUES (?, ?, ?, ?, ?, NULL, ?, ?)
            ON CONFLICT (endpoint) DO UPDATE SET identifier = excluded.identifier, p256dh = excluded.p256dh,
                auth = excluded.auth, revoked_at = NULL, kind = excluded.kind, platform = excluded.platform,
                created_at = CASE WHEN push_subscriptions.revoked_at IS NULL
                    AND push_subscriptions.identifier = excluded.identifier
                    THEN push_subscriptions.created_at ELSE excluded.created_at END""",
            [s.endpoint, s.identifier, s.p256dh, s.auth, at, s.kind, s.platform],
        )
    return not before or before[0][3] is not None or tuple(before[0][:3]) != (s.identifier, s.p256dh, s.auth)


def revoke_push_subscriptions(
    store: Store, endpoints: Sequence[str], *, at: datetime, identifiers: Sequence[str] | None = None
) -> int:
    """Revoke the subscriptions at ``endpoints`` (web push endpoints or app tokens) still in force;
    with ``identifiers``, only those of these customers' identifiers (a browser revoking its own).
    How many were revoked."""
    if not endpoints:
        return 0
    mine = "" if identifiers is None else " AND list_contains(?, identifier)"
    params: list[object] = [at, list(endpoints)]
    if identifiers is not None:
        params.append(list(identifiers))
    rows = store.sql(
        "UPDATE push_subscriptions SET revoked_at = ? "
        f"WHERE list_contains(?, endpoint) AND revoked_at IS NULL{mine}",
        params,
    )
    return int(rows[0][0]) if rows else 0


def push_address(store: Store, profile_id: str, kind: PushKind) -> tuple[str, str | None, str | None] | None:
    """The customer's newest subscription of ``kind`` in force: (endpoint or token, p256dh, auth)."""
    rows = store.sql(
        """SELECT s.endpoint, s.p256dh, s.auth FROM push_subscriptions s
        WHERE s.kind = ? AND s.revoked_at IS NULL AND (s.identifier = ? OR s.identifier IN
            (SELECT identifier FROM profiles WHERE profile_id = ?))
        ORDER BY s.created_at DESC, s.endpoint LIMIT 1""",
        [kind, profile_id, profile_id],
    )
    return (rows[0][0], rows[0][1], rows[0][2]) if rows else None
