"""On-site personalisation: each visitor's live session, declarative triggers, and the decision
of what to show in a placement now (popup, banner, slide-in, recommendation widget), within
frequency caps and targeting. Pure: the server feeds it events and profile facts.

- :class:`SessionTracker` / :class:`Session`: pages, dwell, products, categories, cart, scroll,
  exit intent, device and region, updated by every event.
- :class:`Trigger` (parsed from TOML by :func:`parse_triggers` / :func:`load_triggers`;
  :data:`DEFAULT_TRIGGERS`): conditions, targeting, caps and the action's content.
- :func:`decide`: the winning trigger; :func:`unmet` says why another did not fire.
"""

from shopmind.onsite._decide import FrequencyLedger, Visitor, capped, decide, serve, unmet
from shopmind.onsite._session import PAGE_TYPES, Session, SessionTracker, page_type_of
from shopmind.onsite._triggers import (
    ACTIONS,
    DEFAULT_TRIGGERS,
    Trigger,
    load_triggers,
    parse_triggers,
)

__all__ = [
    "ACTIONS",
    "DEFAULT_TRIGGERS",
    "PAGE_TYPES",
    "FrequencyLedger",
    "Session",
    "SessionTracker",
    "Trigger",
    "Visitor",
    "capped",
    "decide",
    "load_triggers",
    "page_type_of",
    "parse_triggers",
    "serve",
    "unmet",
]
