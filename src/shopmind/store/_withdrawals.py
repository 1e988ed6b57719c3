"""Withdrawals known under an identifier the sender met at hand-over, not under the customer the
message is for.

An 080 opt-out reply comes as a phone number; shopmind stores its keyed hash as an identifier of
its own (``phone:<hash>``) and withdraws SMS advertising for it. When that number was never linked
to a profile (the shop's contact file gives it, the events never did), the customer a message is
planned for holds no withdrawal, yet the number the message would go to does: the sender asks
here, by the hash of the address its contact book gave, before it sends."""

from __future__ import annotations

from collections.abc import Iterable

import pyarrow as pa

from shopmind.store._store import Store


def withdrawn_identifiers(store: Store, channel: str, identifiers: Iterable[str]) -> frozenset[str]:
    """Those of ``identifiers`` whose customer (the profile holding the identifier, else the
    identifier alone) has advertising on ``channel`` withdrawn now: their latest advertising entry
    on that channel, over all the customer's identifiers, is a withdrawal. One query."""
    wanted = sorted(set(identifiers))
    if not wanted:
        return frozenset()
    staged = pa.table({"identifier": pa.array(wanted, pa.string())})
    with store.staged("_withdrawals_asked", staged) as src:
        rows = store.sql(
            f"""WITH asked AS (
                SELECT a.identifier, coalesce(p.profile_id, a.identifier) AS profile_id
                FROM {src} a LEFT JOIN profiles p ON p.identifier = a.identifier
            ), latest AS (
                SELECT coalesce(p.profile_id, l.identifier) AS profile_id,
                       arg_max(l.granted, (l.occurred_at, l.seq)) AS granted
                FROM consent_ledger l LEFT JOIN profiles p ON p.identifier = l.identifier
                WHERE l.channel = ? AND l.purpose = 'advertising'
                  AND coalesce(p.profile_id, l.identifier) IN (SELECT profile_id FROM asked)
                GROUP BY 1
            )
            SELECT a.identifier FROM asked a JOIN latest l ON l.profile_id = a.profile_id
            WHERE NOT l.granted""",
            [channel],
        )
    return frozenset(r[0] for r in rows)
