"""The ``campaigns`` table and its members: a campaign's definition (JSON, as
``activation.campaign_json`` writes it), its state, and who it is about (treated or holdout).

The store does not read the definition (that is the activation layer's), it keeps it. A campaign's
state moves only along the state machine's edges (``CAMPAIGN_TRANSITIONS``), checked and changed in one
statement so two callers cannot both move it from the same state."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import duckdb
import pyarrow as pa

from shopmind.core import FieldError, InvalidInputError, NotFoundError, ShopmindError
from shopmind.store._store import Store

#: a campaign's states, in the order a campaign normally goes through them
CAMPAIGN_STATES = ("draft", "scheduled", "running", "paused", "finished")
#: from each state, the states it may move to
CAMPAIGN_TRANSITIONS: dict[str, frozenset[str]] = {
    "draft": frozenset({"scheduled", "finished"}),
    "scheduled": frozenset({"running", "paused", "finished"}),
    "running": frozenset({"paused", "finished"}),
    "paused": frozenset({"scheduled", "running", "finished"}),
    "finished": frozenset(),
}
ARMS = ("treated", "holdout")
MAX_NAME = 200


class CampaignStateError(ShopmindError):
    """A campaign cannot move to the asked state from the one it is in (e.g. resume a campaign
    that is not paused); the message names both."""


class UnknownCampaignError(NotFoundError):
    """No campaign has this id or name."""


@dataclass(frozen=True)
class StoredCampaign:
    campaign_id: str
    name: str
    definition: str  # JSON
    state: str
    created_at: datetime
    created_by: str
    updated_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "campaign_id": self.campaign_id,
            "name": self.name,
            "state": self.state,
            "created_at": self.created_at.isoformat(),
            "created_by": self.created_by,
            "updated_at": self.updated_at.isoformat(),
        }


_COLUMNS = "campaign_id, name, definition, state, created_at, created_by, updated_at"


def new_campaign_id() -> str:
    """A fresh campaign id: short, URL-safe, unguessable enough not to be enumerated."""
    return "c_" + secrets.token_hex(6)


def create_campaign(
    store: Store,
    name: str,
    definition: str,
    *,
    created_by: str,
    now: datetime,
    campaign_id: str | None = None,
) -> StoredCampaign:
    """Keep a new campaign as a ``draft``; its ``name`` must be unique (an error names the field)."""
    name = name.strip()
    if not name:
        raise InvalidInputError([FieldError("name", "must not be empty")])
    if len(name) > MAX_NAME:
        raise InvalidInputError([FieldError("name", f"at most {MAX_NAME} characters")])
    if now.tzinfo is None:
        raise InvalidInputError([FieldError("now", "expected a date and time with its time zone")])
    cid = campaign_id or new_campaign_id()
    if store.scalar("SELECT count(*) FROM campaigns WHERE name = ?", [name]):
        raise InvalidInputError([FieldError("name", f"a campaign named {name!r} exists already")])
    try:
        store.sql(
            f"INSERT INTO campaigns ({_COLUMNS}) VALUES (?, ?, ?, 'draft', ?, ?, ?)",
            [cid, name, definition, now, created_by, now],
        )
    except duckdb.ConstraintException:  # a race with another writer: the same answer as above
        raise InvalidInputError([FieldError("name", f"a campaign named {name!r} exists already")]) from None
    found = find_campaign(store, cid)
    assert found is not None
    return found


def find_campaign(store: Store, id_or_name: str) -> StoredCampaign | None:
    """The campaign with this id, else with this name, or None."""
    rows = store.sql(
        f"SELECT {_COLUMNS} FROM campaigns WHERE campaign_id = ? OR name = ? "
        "ORDER BY campaign_id = ? DESC LIMIT 1",
        [id_or_name, id_or_name, id_or_name],
    )
    return StoredCampaign(*rows[0]) if rows else None


def get_campaign(store: Store, id_or_name: str) -> StoredCampaign:
    """Like :func:`find_campaign`, raising :class:`UnknownCampaignError` when there is none."""
    found = find_campaign(store, id_or_name)
    if found is None:
        raise UnknownCampaignError(f"no campaign has the id or name {id_or_name!r}")
    return found


def list_campaigns(store: Store, state: str | None = None) -> list[StoredCampaign]:
    """Every campaign (or those in ``state``), newest first."""
    if state is not None and state not in CAMPAIGN_STATES:
        raise InvalidInputError(
            [FieldError("state", f"{state!r}: expected one of {', '.join(CAMPAIGN_STATES)}")]
        )
    rows = store.sql(
        f"SELECT {_COLUMNS} FROM campaigns WHERE ? IS NULL OR state = ? ORDER BY created_at DESC, campaign_id",
        [state, state],
    )
    return [StoredCampaign(*row) for row in rows]


def update_definition(store: Store, campaign_id: str, definition: str, now: datetime) -> StoredCampaign:
    """Replace a draft's definition (a scheduled campaign's is fixed: its messages are planned)."""
    current = get_campaign(store, campaign_id)
    if current.state != "draft":
        raise CampaignStateError(
            f"campaign {current.name!r} is {current.state}: only a draft's definition can change"
        )
    store.sql(
        "UPDATE campaigns SET definition = ?, updated_at = ? WHERE campaign_id = ? AND state = 'draft'",
        [definition, now, current.campaign_id],
    )
    return get_campaign(store, current.campaign_id)


def set_campaign_state(store: Store, campaign_id: str, state: str, now: datetime) -> StoredCampaign:
    """Move the campaign to ``state`` along ``CAMPAIGN_TRANSITIONS``; raises :class:`CampaignStateError`
    when that edge does not exist (or another writer moved it first)."""
    if state not in CAMPAIGN_STATES:
        raise InvalidInputError(
            [FieldError("state", f"{state!r}: expected one of {', '.join(CAMPAIGN_STATES)}")]
        )
    current = get_campaign(store, campaign_id)
    if state not in CAMPAIGN_TRANSITIONS[current.state]:
        allowed = ", ".join(sorted(CAMPAIGN_TRANSITIONS[current.state])) or "none: it is over"
        raise CampaignStateError(
            f"campaign {current.name!r} is {current.state} and cannot become {state} (it can become: {allowed})"
        )
    # compare-and-set: the update holds only if the state is still the one read above
    changed = store.sql(
        "UPDATE campaigns SET state = ?, updated_at = ? WHERE campaign_id = ? AND state = ? RETURNING campaign_id",
        [state, now, current.campaign_id, current.state],
    )
    if not changed:
        raise CampaignStateError(f"campaign {current.name!r} changed state meanwhile; read it again")
    return get_campaign(store, current.campaign_id)


def record_campaign_members(store: Store, campaign_id: str, members: pa.Table, entered_at: datetime) -> int:
    """Keep who a campaign is about: ``members`` has ``profile_id`` and ``arm`` (treated or
    holdout). A customer already recorded keeps their first arm and entry (the assignment is
    reproducible anyway); returns how many were new."""
    for column in ("profile_id", "arm"):
        if column not in members.column_names:
            raise InvalidInputError([FieldError(column, "the members table has no such column")])
    before = store.scalar("SELECT count(*) FROM campaign_members WHERE campaign_id = ?", [campaign_id])
    rows = members.select(["profile_id", "arm"])
    with store.staged("_campaign_members_new", rows) as src:
        bad = store.scalar(
            f"SELECT count(*) FROM {src} WHERE arm IS NULL OR arm NOT IN ('treated', 'holdout')"
        )
        if bad:
            raise InvalidInputError([FieldError("arm", "expected treated or holdout for every member")])
        store.sql(
            f"""INSERT INTO campaign_members (campaign_id, profile_id, arm, entered_at)
            SELECT DISTINCT ON (profile_id) ?, profile_id, arm, ? FROM {src} WHERE profile_id IS NOT NULL
            ON CONFLICT DO NOTHING""",
            [campaign_id, entered_at],
        )
    after = store.scalar("SELECT count(*) FROM campaign_members WHERE campaign_id = ?", [campaign_id])
    return int(after - before)


def campaign_members(store: Store, campaign_id: str) -> pa.Table:
    """A campaign's members: profile_id, arm, entered_at, step, step_at, exited_at, exit_reason."""
    return store.query_arrow(
        "SELECT profile_id, arm, entered_at, step, step_at, exited_at, exit_reason "
        "FROM campaign_members WHERE campaign_id = ? ORDER BY profile_id",
        [campaign_id],
    )


def member_counts(store: Store, campaign_id: str) -> dict[str, int]:
    """How many members each arm has (both arms always present)."""
    counts = dict.fromkeys(ARMS, 0)
    for arm, n in store.sql(
        "SELECT arm, count(*) FROM campaign_members WHERE campaign_id = ? GROUP BY arm", [campaign_id]
    ):
        counts[arm] = int(n)
    return counts
