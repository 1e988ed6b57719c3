"""The 360° profile of one customer as the latest job runs left it (segments, CLV, P(alive), churn
risk, purchase probability, VIP, taste, best time and device) with their identities, devices and
recent events; and what the on-site decisions need to know about every visitor, read at once."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from shopmind.core import GLOSSARY, IdentifierHasher
from shopmind.onsite import Visitor
from shopmind.segments import SEGMENTS
from shopmind.store import Store, consent_state

#: the latest successful run of each job
_LATEST_RUNS = (
    "(SELECT job, arg_max(run_id, as_of) AS run_id, max(as_of) AS as_of "
    "FROM job_runs WHERE status = 'ok' GROUP BY job)"
)
#: the model lists beside the RFM segments, as people read them
LISTS = {key: GLOSSARY[f"list.{key}"] for key in ("clv_vip", "vip_at_risk", "could_become_vip")}
_RECENT_COLUMNS = (
    "message_id",
    "event_time",
    "type",
    "name",
    "product_id",
    "category",
    "page_url",
    "order_id",
    "revenue",
    "device_type",
    "channel",
    "region",
    "product_name",
)


def _plain(value: object) -> object:
    return value.isoformat() if isinstance(value, datetime | date) else value


def segment_label(key: str) -> dict[str, str]:
    seg = SEGMENTS.get(key)
    ko, en = (seg.ko, seg.en) if seg else LISTS.get(key, (key, key))
    return {"key": key, "ko": ko, "en": en}


#: what a typed phone number may hold: digits, spaces, +, -, dots and brackets
_PHONE_LIKE = re.compile(r"^\+?[\d\s().-]+$")


def contact_identifiers(typed: str, hasher: IdentifierHasher) -> list[str]:
    """The ``email:…``/``phone:…`` identifiers a typed e-mail address or phone number is stored
    under: contact data is kept only as keyed hashes, so the typed text is hashed the same way
    (``010-1234-5678`` and ``+82 10 1234 5678`` agree)."""
    text = typed.strip()
    if "@" in text:
        hashed = hasher.email(text)
        return [f"email:{hashed}"] if hashed else []
    if _PHONE_LIKE.match(text):
        hashed = hasher.phone(text)
        return [f"phone:{hashed}"] if hashed else []
    return []


def resolve_profile(store: Store, identifier: str, hasher: IdentifierHasher | None = None) -> str | None:
    """The profile id of ``identifier`` (a profile id, or ``user:…``/``anon:…``/a bare user id;
    with the workspace's ``hasher``, also an e-mail address or phone number as typed)."""
    contacts = contact_identifiers(identifier, hasher) if hasher is not None else []
    for candidate in (identifier, f"user:{identifier}", f"anon:{identifier}", *contacts):
        rows = store.sql("SELECT profile_id FROM profiles WHERE identifier = ?", [candidate])
        if rows:
            return str(rows[0][0])
    return None


def latest_scores(store: Store, profile_id: str) -> tuple[dict[str, float | None], list[str]]:
    """The scores and segments of ``profile_id`` from the latest run of each job."""
    scores = store.sql(
        f"SELECT s.name, s.value FROM scores s JOIN {_LATEST_RUNS} r USING (run_id) "
        "WHERE s.profile_id = ? ORDER BY 1",
        [profile_id],
    )
    segments = store.sql(
        f"SELECT m.segment FROM segment_members m JOIN {_LATEST_RUNS} r USING (run_id) "
        "WHERE m.profile_id = ? ORDER BY 1",
        [profile_id],
    )
    return dict(scores), [s for (s,) in segments]


def customer_profile(store: Store, profile_id: str, recent: int = 20) -> dict[str, Any] | None:
    """Everything known about one customer, JSON-ready; None when there is no such profile."""
    identities = store.sql(
        "SELECT identifier, kind FROM profiles WHERE profile_id = ? ORDER BY kind, identifier", [profile_id]
    )
    if not identities:
        return None
    anon = [i.removeprefix("anon:") for i, k in identities if k == "anon"]
    users = [i.removeprefix("user:") for i, k in identities if k == "user"]
    mine = "(anonymous_id IN (SELECT unnest(?::VARCHAR[])) OR user_id IN (SELECT unnest(?::VARCHAR[])))"
    devices = store.sql(
        f"""SELECT device_type, os, channel, count(*) AS events, max(event_time) AS last_seen
        FROM events WHERE {mine} GROUP BY ALL ORDER BY events DESC, last_seen DESC""",
        [anon, users],
    )
    events = store.sql(
        # the product's name beside its id: a timeline reads "상품 조회 · 종가 포기김치 1kg", not "P00114"
        f"SELECT {', '.join('e.' + c for c in _RECENT_COLUMNS[:-1])}, p.name AS product_name "
        f"FROM events e LEFT JOIN products p ON p.product_id = e.product_id WHERE {mine} "
        "ORDER BY e.event_time DESC LIMIT ?",
        [anon, users, recent],
    )
    emails = [i.removeprefix("email:") for i, k in identities if k == "email"]
    phones = [i.removeprefix("phone:") for i, k in identities if k == "phone"]
    # a guest's orders carry no member id: they are theirs by anonymous id, email or phone
    orders = store.sql(
        """SELECT count(*) FILTER (WHERE NOT t.is_return),
               coalesce(sum(t.revenue) FILTER (WHERE NOT t.is_return), 0), max(t.ordered_at)
        FROM order_totals t JOIN orders o USING (order_id)
        WHERE o.customer_id IN (SELECT unnest(?::VARCHAR[])) OR o.anonymous_id IN (SELECT unnest(?::VARCHAR[]))
           OR o.email_hash IN (SELECT unnest(?::VARCHAR[])) OR o.phone_hash IN (SELECT unnest(?::VARCHAR[]))""",
        [users, anon, emails, phones],
    )[0]
    order_list = store.sql(
        """SELECT o.order_id, o.ordered_at, t.items, t.revenue, o.is_return
        FROM orders o JOIN order_totals t USING (order_id)
        WHERE o.customer_id IN (SELECT unnest(?::VARCHAR[])) OR o.anonymous_id IN (SELECT unnest(?::VARCHAR[]))
           OR o.email_hash IN (SELECT unnest(?::VARCHAR[])) OR o.phone_hash IN (SELECT unnest(?::VARCHAR[]))
        ORDER BY o.ordered_at DESC LIMIT ?""",
        [users, anon, emails, phones, recent],
    )
    # the ledger's latest entry per channel and purpose holds, whichever of their identifiers it was for
    consent = consent_state(store, profile_id)
    scores, segments = latest_scores(store, profile_id)
    runs = dict(store.sql(f"SELECT job, as_of FROM {_LATEST_RUNS}"))
    facts = {
        kind: store.profile_facts(profile_id, kind)
        for kind in ("taste", "habits", "vip_lookalike", "persona")
    }
    purchase = {k: v for k, v in scores.items() if k.startswith("purchase_probability_")}
    return {
        "profile_id": profile_id,
        "identities": [{"identifier": i, "kind": k} for i, k in identities],
        "devices": [
            {"device_type": d, "os": o, "channel": c, "events": n, "last_seen": _plain(at)}
            for d, o, c, n, at in devices
        ],
        "orders": {"count": int(orders[0]), "revenue": float(orders[1]), "last_at": _plain(orders[2])},
        "order_list": [
            {
                "order_id": o,
                "ordered_at": _plain(at),
                "items": int(n),
                "revenue": float(r),
                "is_return": bool(ret),
            }
            for o, at, n, r, ret in order_list
        ],
        "consent": consent.to_dict(),
        "price_band": price_band(store, facts["taste"]),
        "segments": [_persona_label(s, facts["persona"]) or segment_label(s) for s in segments],
        "vip": bool(scores.get("is_vip")) or "clv_vip" in segments,
        "clv_12m": scores.get("clv_12m"),
        "p_alive": scores.get("p_alive"),
        "churn_risk": scores.get("churn_risk"),
        "purchase_probability": purchase,
        "could_become_vip": scores.get("vip_lookalike"),
        "scores": scores,
        "taste": facts["taste"],
        "best_time": facts["habits"],
        "vip_lookalike": facts["vip_lookalike"],
        "persona": facts["persona"],
        "recent_events": [
            {k: _plain(v) for k, v in zip(_RECENT_COLUMNS, row, strict=True)} for row in events
        ],
        "as_of": {job: _plain(at) for job, at in sorted(runs.items())},
    }


def _persona_label(segment: str, persona: dict[str, Any] | None) -> dict[str, str] | None:
    """A persona segment (``persona_2``) named by the personas run that put the customer in it."""
    if persona is None or persona.get("persona") != segment:
        return None
    return {"key": segment, "ko": str(persona["name_ko"]), "en": str(persona["name_en"])}


def price_band(store: Store, taste: dict[str, Any] | None) -> dict[str, Any] | None:
    """Where the prices a customer pays (or, without a purchase, looks at) sit among the shop's
    catalogue prices (``features.price_band``, as segment conditions read it), with the mean price
    it rests on and ``bought`` telling which."""
    if not taste:
        return None
    bought = taste.get("bought_price_avg")
    price = bought if bought is not None else taste.get("viewed_price_avg")
    if price is None:
        return None
    import ibis

    from shopmind.features import catalogue_price_thirds
    from shopmind.features import price_band as band_of

    thirds = catalogue_price_thirds(store.table("products"))
    found = thirds.select(band=band_of(ibis.literal(float(price)), thirds.low, thirds.high)).execute()
    if found.empty or found.band[0] is None:
        return None
    return {"band": str(found.band[0]), "price": float(price), "bought": bought is not None}


def visitor_facts(store: Store) -> dict[str, Visitor]:
    """What the on-site decisions need about every known identifier (``user:…``, ``anon:…``):
    its profile, segments of the latest runs, and orders completed. One read of the store."""
    rows = store.sql(
        f"""WITH seg AS (
            SELECT m.profile_id, list(DISTINCT m.segment) AS segments
            FROM segment_members m JOIN {_LATEST_RUNS} r USING (run_id) GROUP BY 1
        ), ord AS (
            SELECT p.profile_id, count(DISTINCT o.order_id) AS orders
            FROM orders o JOIN profiles p ON p.identifier = 'user:' || o.customer_id
            WHERE NOT o.is_return GROUP BY 1
        )
        SELECT p.identifier, p.profile_id, seg.segments, coalesce(ord.orders, 0)
        FROM profiles p LEFT JOIN seg USING (profile_id) LEFT JOIN ord USING (profile_id)"""
    )
    by_profile: dict[str, Visitor] = {}
    found: dict[str, Visitor] = {}
    for ident, profile, segments, orders in rows:
        visitor = by_profile.get(profile)
        if visitor is None:
            visitor = Visitor(profile, frozenset(segments or ()), int(orders), known=True)
            by_profile[profile] = visitor
        found[ident] = visitor
    return found
