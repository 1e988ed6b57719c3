"""What a template knows about each customer (``_template.CONTEXT_FIELDS``), built for many customers
at once: one query per kind of fact (member ids, scores, segments, taste and habits, regions,
the recommended products' details) for the whole set, then one recommender call per customer
(answered from the hybrid recommender's in-process index for known customers).

The facts are the latest successful job runs' at or before ``as_of`` (as the profile page reads
them); the recommender is the one ``shopmind run`` stored in the workspace (``shop_recommender``),
the same that answers ``shopmind recommend for``.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

import orjson
import pyarrow as pa

from shopmind.core import to_utc
from shopmind.store import Store

if TYPE_CHECKING:  # the recommenders' and segments' imports (scikit-learn, Ibis) only when used
    from shopmind.recommend import Recommendation

#: what a customer is called when the shop gave no name ("{{ name_or_customer }}님": 고객님)
CUSTOMER_WORD = {"ko": "고객", "en": "customer"}
_COUPON_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0/O, 1/I/L: read aloud and typed back
_COUPON_LENGTH = 8


class Recommends(Protocol):
    """What the context needs of a recommender (``recommend.Recommender``'s ``recommend``)."""

    def recommend(self, user: Any, context: Any = None, n: int = 10) -> list[Recommendation]: ...


def shop_recommender(store: Store) -> Recommends | None:
    """The recommender the latest ``shopmind run`` stored in the workspace of ``store`` (the one
    ``shopmind recommend for`` answers with); None when there is none to read (no run yet, an
    in-memory store): the messages then go without recommended products."""
    from shopmind.pipeline import stored_recommender
    from shopmind.recommend import StoredModelError

    try:
        return stored_recommender(store).model
    except StoredModelError:
        return None


def coupon_key(holdout_key: str) -> bytes:
    """The secret that keys customers' coupon codes: derived from the workspace's holdout key and
    kept apart from it (every surface that composes or previews messages derives it so)."""
    return hmac.new(holdout_key.encode(), b"shopmind coupons v1", hashlib.sha256).digest()


def coupon_code(pattern: str | None, secret: bytes, seed: str) -> str | None:
    """The coupon a customer gets from a step's ``pattern``: the pattern itself when it has no
    ``{code}``, else ``{code}`` filled with 8 characters derived from ``secret`` and ``seed``
    (campaign × customer): the same customer always gets the same code, and no one can work out
    another's."""
    if not pattern:
        return None
    if "{code}" not in pattern:
        return pattern
    digest = hmac.new(secret, seed.encode(), hashlib.sha256).digest()
    number = int.from_bytes(digest[:10], "big")
    chars = []
    for _ in range(_COUPON_LENGTH):
        number, at = divmod(number, len(_COUPON_ALPHABET))
        chars.append(_COUPON_ALPHABET[at])
    return pattern.replace("{code}", "".join(chars))


#: the latest successful run of each job at or before a moment
_LATEST = (
    "(SELECT job, arg_max(run_id, as_of) AS run_id FROM job_runs "
    "WHERE status = 'ok' AND as_of <= ? GROUP BY job)"
)


def _customer_facts(store: Store, src: str, as_of: datetime) -> dict[str, dict[str, Any]]:
    facts: dict[str, dict[str, Any]] = {}

    def of(pid: str) -> dict[str, Any]:
        return facts.setdefault(pid, {"scores": {}, "segments": [], "taste": None, "habits": None})

    for pid, member in store.sql(
        f"""SELECT w.profile_id, min(p.identifier) FILTER (WHERE p.kind = 'user')
        FROM {src} w LEFT JOIN profiles p USING (profile_id) GROUP BY 1"""
    ):
        of(pid)["member_id"] = member.removeprefix("user:") if member else None
    for pid, name, value in store.sql(
        f"""SELECT s.profile_id, s.name, s.value FROM scores s JOIN {_LATEST} r USING (run_id)
        WHERE s.profile_id IN (SELECT profile_id FROM {src})""",
        [as_of],
    ):
        of(pid)["scores"][name] = value
    for pid, segment in store.sql(
        f"""SELECT DISTINCT m.profile_id, m.segment FROM segment_members m JOIN {_LATEST} r USING (run_id)
        WHERE m.profile_id IN (SELECT profile_id FROM {src}) ORDER BY 1, 2""",
        [as_of],
    ):
        of(pid)["segments"].append(segment)
    for pid, kind, text in store.sql(
        f"""SELECT f.profile_id, f.kind, f.facts FROM profile_facts f JOIN {_LATEST} r USING (run_id)
        WHERE f.kind IN ('taste', 'habits') AND f.profile_id IN (SELECT profile_id FROM {src})""",
        [as_of],
    ):
        of(pid)[kind] = orjson.loads(text)
    # the region of their latest visit, through their member id or device (as the events name them)
    for pid, region in store.sql(
        f"""WITH ids AS (
            SELECT p.profile_id, p.kind, substr(p.identifier, strpos(p.identifier, ':') + 1) AS id
            FROM profiles p WHERE p.kind IN ('user', 'anon') AND p.profile_id IN (SELECT profile_id FROM {src})
        ), seen AS (
            SELECT i.profile_id, e.region, e.event_time FROM events e JOIN ids i ON i.kind = 'user' AND e.user_id = i.id
            WHERE e.region IS NOT NULL AND e.event_time < ?
            UNION ALL
            SELECT i.profile_id, e.region, e.event_time FROM events e JOIN ids i ON i.kind = 'anon' AND e.anonymous_id = i.id
            WHERE e.region IS NOT NULL AND e.event_time < ?
        )
        SELECT profile_id, arg_max(region, event_time) FROM seen GROUP BY 1""",
        [as_of, as_of],
    ):
        of(pid)["region"] = region
    return facts


def _products(store: Store, ids: set[str]) -> dict[str, tuple[Any, ...]]:
    if not ids:
        return {}
    rows = store.sql(
        "SELECT product_id, coalesce(name, product_id), category, brand, price FROM products "
        "WHERE list_contains(?, product_id)",
        [sorted(ids)],
    )
    return {row[0]: row for row in rows}


def _segment(segments: Sequence[str], locale: str) -> tuple[str | None, str | None, list[str]]:
    """The RFM segment (key and name) and the model lists among ``segments``."""
    from shopmind.segments import SEGMENTS

    rfm = [s for s in segments if s in SEGMENTS]
    lists = [s for s in segments if s not in SEGMENTS]
    if not rfm:
        return None, None, lists
    seg = SEGMENTS[rfm[0]]
    return seg.key, seg.en if locale == "en" else seg.ko, lists


def _names(items: Iterable[Mapping[str, Any]] | None, key: str) -> list[str]:
    return [str(item[key]) for item in items or () if item.get(key)]


def customer_contexts(
    store: Store,
    profile_ids: Iterable[str] | pa.Array | pa.ChunkedArray,
    *,
    as_of: datetime,
    locale: str = "ko",
    recommender: Recommends | None = None,
    recommended: int = 3,
    coupon: str | None = None,
    coupon_secret: bytes = b"",
    coupon_seed: str = "",
    shop: str = "",
    product_url: str | None = None,
    names: Mapping[str, str] | None = None,
) -> dict[str, dict[str, Any]]:
    """Per customer of ``profile_ids``, the fields a template reads (``CONTEXT_FIELDS``, all
    present: unknown ones are None or empty), in ``locale``. ``recommender``: where the
    ``recommended`` products come from (``shop_recommender(store)``; None: none), ``recommended``
    of them each; ``coupon``: the step's coupon pattern (``coupon_code``; ``coupon_seed`` + the
    profile id seed each code); ``product_url``: a product's address with ``{product_id}``
    (``https://shop.example/products/{product_id}``); ``names``: customers' names when the shop
    gave them (never stored)."""
    ids = (
        profile_ids
        if isinstance(profile_ids, pa.Array | pa.ChunkedArray)
        else pa.array(list(profile_ids), pa.string())
    )
    staged = pa.table({"profile_id": ids.cast(pa.string())})
    as_of = to_utc(as_of)
    with store.staged("_context_customers", staged) as src:
        facts = _customer_facts(store, src, as_of)
    picks: dict[str, list[Recommendation]] = {}
    if recommender is not None and recommended > 0:
        for pid in facts:
            picks[pid] = recommender.recommend(pid, None, recommended)
    products = _products(store, {r.item for recs in picks.values() for r in recs})
    out: dict[str, dict[str, Any]] = {}
    for pid, fact in facts.items():
        segment, segment_name, lists = _segment(fact["segments"], locale)
        scores: dict[str, Any] = fact["scores"]
        taste = fact["taste"] or {}
        habits = fact["habits"] or {}
        items = []
        for rec in picks.get(pid, ()):
            _, name, category, brand, price = products.get(rec.item, (rec.item, rec.item, None, None, None))
            items.append(
                {
                    "product_id": rec.item,
                    "name": name,
                    "category": category,
                    "brand": brand,
                    "price": price,
                    "url": product_url.replace("{product_id}", rec.item) if product_url else None,
                    "reason": rec.reason.en if locale == "en" else rec.reason.ko,
                    "reason_kind": rec.reason.kind,
                }
            )
        out[pid] = {
            "profile_id": pid,
            "member_id": fact.get("member_id"),
            "name_or_customer": (names or {}).get(pid) or CUSTOMER_WORD.get(locale, CUSTOMER_WORD["ko"]),
            "segment": segment,
            "segment_name": segment_name,
            "lists": lists,
            "vip": bool(scores.get("is_vip")) or "clv_vip" in lists or segment == "vip",
            "region": fact.get("region"),
            "scores": scores,
            "churn_risk": scores.get("churn_risk"),
            "clv_12m": scores.get("clv_12m"),
            "p_alive": scores.get("p_alive"),
            "taste": {
                "categories": _names(taste.get("top_categories"), "category"),
                "brands": _names(taste.get("top_brands"), "brand"),
            },
            "favourite_category": taste.get("favourite_category"),
            "favourite_brand": taste.get("favourite_brand"),
            "send_hour": habits.get("send_hour"),
            "send_channel": habits.get("send_channel"),
            "recommended": items,
            "coupon": coupon_code(coupon, coupon_secret, f"{coupon_seed}|{pid}"),
            "shop": shop,
            "locale": locale,
        }
    return out
