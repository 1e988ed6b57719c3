"""The personas job: every buyer's persona as of a date, each persona named and described in
Korean and English, with its size and value, usable as a segment.

The features (:data:`~shopmind.models.PERSONA_FEATURES`) are computed in the engine from the
purchases before ``as_of``: value (orders, spend, average order, days since the last and the
first order), time (shares of orders at weekends, at night, in the morning, shop-local), device
(shares of orders on mobile and in the app, among orders that say), taste (the geometric mean of
the prices paid against the median price paid in the same category, and the share of spend in
each of the shop's main categories). :class:`~shopmind.models.PersonaModel` groups the buyers.

Stored with the run: each buyer's persona as segment members ``persona_<n>`` (so a segment
condition ``{"kind": "in_segment", "segment": "persona_2"}`` selects them, and the customer
lists, exports and campaigns read them as any segment), a profile fact of kind ``persona`` per
buyer, and the model card ``personas`` (names, traits, sizes, value, the silhouette per k).

Persona numbers stay with what a persona is across runs: a persona whose centre lies near one of
the previous run's (assigned one to one, nearest first; within :data:`NEAR`) keeps that persona's number, so a saved
segment on ``persona_2`` keeps meaning the same customers' kind; a new kind of buyer gets a
number never used before.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa

from shopmind.core import DEFAULT_SHOP_TZ, FieldError, InvalidInputError, shop_time
from shopmind.features import purchase_transactions
from shopmind.features._rfm import customer_key, placed_orders
from shopmind.features._time import local_hour, local_weekday, utc_seconds
from shopmind.models import PERSONA_CATEGORY_PREFIX as CATEGORY
from shopmind.models import Persona, PersonaModel
from shopmind.store import Store

JOB = "personas"
CARD = "personas"
FACT = "persona"
#: a category is a column of its own when it holds at least this share of the shop's spend
MIN_CATEGORY_SHARE = 0.03
MAX_CATEGORIES = 10
MIN_BUYERS = 30
#: the RFM job's score read for each persona's expected value
CLV_SCORE = "clv_12m"
#: a persona keeps the number of the previous run's persona whose centre is within this share of
#: the median distance between this run's personas (in the model's weighted standard space)
NEAR = 0.6


@dataclass(frozen=True)
class PersonaValue:
    """What a persona is worth: its members' spend so far (total, share of all buyers' spend,
    per member), orders and average order per member, and the mean 12-month CLV (None without a
    customer-intelligence run)."""

    revenue: float
    revenue_share: float
    revenue_per_customer: float
    orders_per_customer: float
    average_order_value: float
    clv_12m: float | None


@dataclass(frozen=True)
class PersonasReport:
    run_id: str
    as_of: datetime
    buyers: int
    personas: tuple[Persona, ...]
    values: tuple[PersonaValue, ...]  # in the order of ``personas``
    silhouette: dict[int, float]
    currency: str
    kept_numbers: int  # personas that kept the number of a persona of the previous run


def persona_features(store: Store, as_of: datetime, *, zone: str = DEFAULT_SHOP_TZ) -> pd.DataFrame:
    """One row per buyer with purchases before ``as_of``: ``profile_id`` and the persona
    features (see the module), computed in the engine."""
    orders, lines, products, profiles = (
        store.table(t) for t in ("orders", "order_lines", "products", "profiles")
    )
    tx = store.shared(purchase_transactions(orders, lines, profiles))
    tx = tx.filter(tx.ordered_at < as_of)
    about = orders.select("order_id", "device_type", "channel")
    tx = tx.join(about, "order_id")
    # each order's own offset (a zone with summer time shifts by an hour for half the year) and
    # whole seconds: the same on every engine (features/_time)
    hour = local_hour(tx.ordered_at, zone, as_of)
    now = utc_seconds(ibis.literal(as_of, type="timestamp('UTC')"))
    days = lambda ts: (now - utc_seconds(ts)).cast("float64") / 86_400.0  # noqa: E731
    has_device = tx.device_type.notnull()
    has_channel = tx.channel.notnull()
    per = tx.group_by("profile_id").aggregate(
        orders=tx.order_id.nunique().cast("float64"),
        revenue=tx.value.sum().cast("float64"),
        days_since_last_purchase=days(tx.ordered_at.max()),
        days_since_first_purchase=days(tx.ordered_at.min()),
        weekend_share=(local_weekday(tx.ordered_at, zone, as_of) >= 5).cast("float64").mean(),
        night_share=((hour >= 21) | (hour < 3)).cast("float64").mean(),
        morning_share=((hour >= 6) & (hour < 11)).cast("float64").mean(),
        mobile_share=(tx.device_type == "mobile").cast("float64").mean(where=has_device),
        app_share=(tx.channel == "app").cast("float64").mean(where=has_channel),
    )
    per = per.mutate(average_order_value=per.revenue / per.orders)

    # the lines of those purchases, with their category
    bought = customer_key(placed_orders(orders.filter(orders.ordered_at < as_of)), profiles)
    kept = lines.filter(lines.is_product & ~lines.is_return & (lines.unit_price > 0) & (lines.quantity > 0))
    rows = bought.select("profile_id", "order_id").join(
        kept.select("order_id", "product_id", "quantity", "unit_price"), "order_id"
    )
    rows = rows.semi_join(tx.select("order_id"), "order_id")
    rows = rows.left_join(products.select("product_id", "category"), "product_id")
    rows = rows.mutate(category=ibis.coalesce(rows.category, ""), spend=rows.quantity * rows.unit_price)
    typical = rows.group_by("category").aggregate(typical_price=rows.unit_price.median())
    priced = rows.join(typical, "category")
    price = priced.group_by("profile_id").aggregate(
        price_index=(priced.unit_price / priced.typical_price).ln().mean().exp()
    )
    spend = rows.group_by("profile_id", "category").aggregate(spend=rows.spend.sum())
    features = per.left_join(price, "profile_id").drop("profile_id_right").to_pandas()
    spend_frame = spend.to_pandas()

    shop_spend = spend_frame.groupby("category")["spend"].sum().sort_values(ascending=False, kind="stable")
    shop_spend = shop_spend[shop_spend.index != ""]
    total = float(spend_frame["spend"].sum())
    main = [c for c, s in shop_spend.items() if total > 0 and s / total >= MIN_CATEGORY_SHARE][
        :MAX_CATEGORIES
    ]
    if len(main) >= 2:  # one category is no taste to tell buyers apart by
        wide = spend_frame.pivot_table(
            index="profile_id", columns="category", values="spend", aggfunc="sum", fill_value=0.0
        )
        shares = wide.div(wide.sum(axis=1), axis=0)[main]
        shares.columns = [f"{CATEGORY}{c}" for c in main]
        features = features.join(shares, on="profile_id")
        for column in shares.columns:
            features[column] = features[column].fillna(0.0)
    features["price_index"] = features["price_index"].fillna(1.0)
    return features.sort_values("profile_id", kind="stable").reset_index(drop=True)


def _previous_personas(store: Store, as_of: datetime) -> tuple[list[dict[str, Any]], int]:
    """The personas of the latest run as of ``as_of`` or before (a re-run of the same day keeps
    that day's numbers; else the latest run), and the highest persona number any run has given
    (numbers are never given twice)."""
    latest = store.latest_run(JOB, before=as_of + timedelta(microseconds=1)) or store.latest_run(JOB)
    if latest is None:
        return [], 0
    card = store.model_card(latest[0], CARD) or {}
    personas = list(card.get("personas", []))
    # over every run, not only the one compared with: a re-run of an earlier day must not give
    # again a number a later day's run gave to another kind of buyer
    runs = store.sql("SELECT run_id FROM job_runs WHERE job = ? AND status = 'ok'", [JOB])
    highest = [int((store.model_card(run_id, CARD) or {}).get("highest_number", 0)) for (run_id,) in runs]
    return personas, max([0, *highest, *(int(p["number"]) for p in personas)])


def _keep_numbers(
    model: PersonaModel, previous: list[dict[str, Any]], highest: int
) -> tuple[list[Persona], int]:
    """The model's personas renumbered so that a persona near one of the previous run's keeps its
    number (see the module); the others get numbers above ``highest``. Also how many kept one."""
    from scipy.optimize import linear_sum_assignment

    personas = list(model.personas_)
    numbers: dict[int, int] = {}
    if previous:
        columns = list(model.feature_names_in_)
        old = pd.DataFrame([{c: p.get("centre", {}).get(c, np.nan) for c in columns} for p in previous])
        new = pd.DataFrame([{c: p.centre.get(c, np.nan) for c in columns} for p in personas])
        old_z, new_z = model.standardise(old), model.standardise(new)
        cost = np.sqrt(((new_z[:, None, :] - old_z[None, :, :]) ** 2).sum(axis=2))
        # near: closer than 0.6 of the median distance between this run's personas
        between = np.sqrt(((new_z[:, None, :] - new_z[None, :, :]) ** 2).sum(axis=2))
        spread = float(np.median(between[np.triu_indices(len(new_z), 1)])) if len(new_z) > 1 else 1.0
        for r, c in zip(*linear_sum_assignment(cost), strict=True):
            if cost[r, c] <= NEAR * spread:
                numbers[int(r)] = int(previous[c]["number"])
    kept = len(numbers)
    out = []
    for i, persona in enumerate(personas):
        if i not in numbers:
            highest += 1
            numbers[i] = highest
        out.append(dataclasses.replace(persona, number=numbers[i], key=f"persona_{numbers[i]}"))
    return out, kept


def run_personas(
    store: Store,
    as_of: datetime,
    *,
    n_personas: int | None = None,
    zone: str = DEFAULT_SHOP_TZ,
    random_state: int = 0,
    progress: Callable[[str, int, int], None] | None = None,
) -> PersonasReport:
    """Group the buyers as of ``as_of`` into personas (``n_personas``, or chosen by silhouette)
    and store them (see the module)."""
    if n_personas is not None and (not isinstance(n_personas, int) or not 2 <= n_personas <= 20):
        raise InvalidInputError(
            [FieldError("n_personas", "must be a whole number from 2 to 20, or empty to choose")]
        )
    report = progress or (lambda phase, done, total: None)
    report("features", 0, 3)
    frame = persona_features(store, as_of, zone=zone)
    if len(frame) < MIN_BUYERS:
        raise InvalidInputError(
            [
                FieldError(
                    "as_of",
                    f"{len(frame)} buyers before {shop_time(as_of, zone)}: personas need at least {MIN_BUYERS}",
                )
            ]
        )
    # the shop's main currency, through Ibis: on the engine that holds the facts
    orders = store.table("orders")
    seen = orders.filter(orders.ordered_at < as_of)
    counts = seen.group_by("currency").aggregate(_orders=seen.count())
    top = counts.order_by([counts._orders.desc(), counts.currency]).limit(1).to_pyarrow()
    currency = str((top.column("currency")[0].as_py() if top.num_rows else None) or "KRW")
    columns = [c for c in frame.columns if c != "profile_id"]
    report("fit", 1, 3)
    model = PersonaModel(n_clusters=n_personas, random_state=random_state).fit(
        frame[columns], currency=currency
    )
    previous, highest = _previous_personas(store, as_of)
    personas, kept_numbers = _keep_numbers(model, previous, highest)
    labels = model.labels_
    keys = np.array([p.key for p in personas], dtype=object)[labels]

    clv: pd.Series | None = None
    intelligence = store.latest_run("customer_intelligence", before=None)
    rfm = store.run_at("customer_intelligence", as_of)
    if rfm is not None or intelligence is not None:
        run_id = rfm or (intelligence[0] if intelligence else None)
        rows = store.sql(
            "SELECT profile_id, value FROM scores WHERE run_id = ? AND name = ?", [run_id, CLV_SCORE]
        )
        if rows:
            clv = pd.Series({p: v for p, v in rows})
    all_revenue = float(frame["revenue"].sum())
    values = []
    for index in range(len(personas)):
        inside = labels == index
        members = frame[inside]
        revenue = float(members["revenue"].sum())
        clv_mean = None
        if clv is not None:
            found = clv.reindex(members["profile_id"]).dropna()
            clv_mean = float(found.mean()) if len(found) else None
        values.append(
            PersonaValue(
                revenue=revenue,
                revenue_share=revenue / all_revenue if all_revenue else 0.0,
                revenue_per_customer=revenue / max(1, len(members)),
                orders_per_customer=float(members["orders"].mean()),
                average_order_value=float(members["revenue"].sum() / max(1.0, members["orders"].sum())),
                clv_12m=clv_mean,
            )
        )

    report("store", 2, 3)
    ids = frame["profile_id"].to_numpy()
    by_key = {p.key: p for p in personas}
    card = {
        "criterion": "silhouette" if n_personas is None else "given",
        "silhouette": {str(k): v for k, v in model.silhouette_.items()},
        "k": model.n_clusters_,
        "buyers": len(frame),
        "currency": currency,
        "features": columns,
        "personas": [
            {**p.to_dict(), "value": dataclasses.asdict(v)} for p, v in zip(personas, values, strict=True)
        ],
        "highest_number": max([highest, *(p.number for p in personas)]),
    }
    with store.job_run(JOB, as_of) as run_id:
        store.write_segment_members(run_id, as_of, pa.table({"segment": keys.tolist(), "profile_id": ids}))
        store.write_profile_facts(
            run_id,
            as_of,
            FACT,
            pa.table(
                {
                    "profile_id": ids,
                    "persona": keys.tolist(),
                    "name_ko": [by_key[k].name_ko for k in keys],
                    "name_en": [by_key[k].name_en for k in keys],
                }
            ),
        )
        store.write_model_card(run_id, as_of, CARD, _finite(card))
    report("store", 3, 3)
    return PersonasReport(
        run_id=run_id,
        as_of=as_of,
        buyers=len(frame),
        personas=tuple(personas),
        values=tuple(values),
        silhouette=dict(model.silhouette_),
        currency=currency,
        kept_numbers=kept_numbers,
    )


def _finite(value: Any) -> Any:
    """``value`` with NaN and infinities as None (JSON has neither)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value
