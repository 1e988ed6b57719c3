"""The holdout: which of a campaign's customers get nothing, so that what the others did can be
compared with what they would have done anyway.

A customer's arm is a keyed hash of the campaign and the customer, never a random draw: the same
campaign puts the same customer in the same arm every time it is planned (a re-plan, a journey's
later step, a results page computed a month later), and a customer's arms in two campaigns are
independent. The key is the workspace's secret (through :func:`holdout_key`), so nobody outside
can tell from a profile id which arm it falls in.

The hash is SHA-256 of ``key-hex | campaign id | profile id``; its first 13 hex digits (52 bits)
read as a fraction of 16**13 give a uniform draw ``u`` in [0, 1): ``holdout`` when ``u < share``.
The same formula runs in DuckDB (for a million customers at once) and in Python (one customer).
"""

from __future__ import annotations

import hashlib
import hmac

import pyarrow as pa

from shopmind.store import Store

DEFAULT_HOLDOUT = 0.1
_DIGITS = 13  # 52 bits: exact in a double, and in DuckDB's BIGINT
_SCALE = 16**_DIGITS
_SEP = "|"


def holdout_key(workspace_key: bytes) -> str:
    """The holdout's key (hex), derived from the workspace's secret so it is separate from the
    identifier hash and the link key."""
    return hmac.new(workspace_key, b"shopmind holdout v1", hashlib.sha256).hexdigest()


def holdout_draw(key: str, campaign_id: str, profile_id: str) -> float:
    """The customer's uniform draw in [0, 1) for this campaign."""
    digest = hashlib.sha256(_SEP.join((key, campaign_id, profile_id)).encode()).hexdigest()
    return int(digest[:_DIGITS], 16) / _SCALE


def assign_arm(key: str, campaign_id: str, profile_id: str, share: float = DEFAULT_HOLDOUT) -> str:
    """``holdout`` or ``treated``, reproducibly."""
    return "holdout" if holdout_draw(key, campaign_id, profile_id) < share else "treated"


def draw_sql(key_param: str, campaign_param: str, profile_column: str) -> str:
    """The draw as a DuckDB expression (parameters and a column named by the caller)."""
    return (
        f"(('0x' || left(sha256({key_param} || '{_SEP}' || {campaign_param} || '{_SEP}' || "
        f"{profile_column}), {_DIGITS}))::BIGINT / {float(_SCALE)!r})"
    )


def assign_arms(
    store: Store,
    key: str,
    campaign_id: str,
    profile_ids: pa.Array | pa.ChunkedArray,
    share: float = DEFAULT_HOLDOUT,
) -> pa.Table:
    """Every customer's arm, in the engine: a table of profile_id, arm (distinct ids)."""
    if not 0.0 <= share < 1.0:
        raise ValueError(f"holdout share {share} must be from 0 to below 1")
    staged = pa.table({"profile_id": profile_ids.cast(pa.string())})
    with store.staged("_holdout_ids", staged) as src:
        return store.query_arrow(
            f"""SELECT profile_id,
                CASE WHEN {draw_sql("?", "?", "profile_id")} < ? THEN 'holdout' ELSE 'treated' END AS arm
            FROM (SELECT DISTINCT profile_id FROM {src} WHERE profile_id IS NOT NULL)
            ORDER BY profile_id""",
            [key, campaign_id, share],
        )
