"""An experiment's metrics as Ibis expressions: who was exposed (resolved to today's profiles),
what each of them did within a metric's window after their first exposure (and, for CUPED,
before it), and the per-variant sums the statistics need. Everything runs in the engine; only
one row per variant comes out.

Units. An exposure's ``unit_id`` is the profile id when the customer was known, else an
identifier (``anon:…``). It is looked up in ``profiles`` (identifier → profile id) so that two
units that were later merged into one person count once: that person keeps the variant of their
earliest exposure and the window starts there; a person whose units saw different variants is
``crossed`` (the merge could not keep them apart; the report counts them). A unit no profile
knows is its own profile.

Values per unit (``kind``), within ``[first exposure, first exposure + window_days)`` and not
after ``as_of``:

- ``conversion``: 1 when the person placed a verified order (returns left out), else 0;
- ``orders``: the number of those orders; ``revenue``: their value (``order_totals``);
- ``order_value``: revenue over orders, a ratio: the numerator per unit is the revenue and the
  denominator the orders (the delta method works on both sums);
- ``clicks``: clicks on what this experiment showed (its on-site decisions' ``clicked`` outcomes
  and its campaign messages' ``clicked`` events);
- ``unsubscribes`` and ``bounces``: the person's ``unsubscribed`` and ``failed`` message events
  (any campaign: a guardrail watches the customer, not only the experiment's own messages).

The same value over the ``pre_days`` before the first exposure is the CUPED covariate (not for
clicks, which the experiment's own decisions cannot have before it started, nor for ratios).
Values are winsorised at ``cap`` or at the ``cap_quantile`` of the exposed units' values (the
exact linear-interpolated quantile, as ``numpy.quantile``), the pre-period value at the same cap.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import ibis
import ibis.expr.types as ir

#: the metric kinds, with where their per-unit values come from
ORDER_KINDS = frozenset({"conversion", "orders", "revenue", "order_value"})
MESSAGE_KINDS = {"unsubscribes": "unsubscribed", "bounces": "failed"}
#: kinds whose value before the exposure is a CUPED covariate
PRE_KINDS = frozenset({"conversion", "orders", "revenue", "unsubscribes", "bounces"})


@dataclass(frozen=True)
class MetricSpec:
    """What ``variant_sums`` computes: a metric's ``kind``, its window in days and its cap (an
    amount, or a quantile of the exposed units' values); ``pre_days`` > 0 adds the CUPED sums."""

    kind: str
    window_days: int = 7
    cap: float | None = None
    cap_quantile: float | None = None
    pre_days: int = 0


def _resolve(ident: ir.StringValue, table: ir.Table, profiles: ir.Table) -> ir.Table:
    """``table`` with ``profile_id``: the profile ``ident`` belongs to today (itself when none)."""
    keyed = table.mutate(_ident=ident)
    people = profiles.select(_pi=profiles.identifier, _pp=profiles.profile_id)
    joined = keyed.left_join(people, keyed._ident == people._pi)
    return joined.mutate(profile_id=ibis.coalesce(joined._pp, joined._ident)).drop("_ident", "_pi", "_pp")


def _nullable(table: ir.Table) -> ir.Table:
    """The table with every column nullable (a union needs equal schemas; NOT NULL columns of
    one side would differ from computed ones of the other)."""
    return table.cast({name: dtype.copy(nullable=True) for name, dtype in table.schema().items()})


def exposed_units(
    exposures: ir.Table,
    decisions: ir.Table,
    profiles: ir.Table,
    experiment_id: str,
    as_of: datetime,
) -> ir.Table:
    """One row per person exposed to the experiment by ``as_of``: profile_id, variant (of their
    earliest exposure), exposed_at (its time) and crossed (their units saw more than one variant).

    Exposures come from ``exposures``, and from the experiment's on-site ``decisions`` too (a
    decision is an exposure of its visitor: the unit is its profile, else its device),
    so a trigger's holdout counts even where only the decision was logged."""
    shown = exposures.filter((exposures.experiment_id == experiment_id) & (exposures.exposed_at <= as_of))
    shown = shown.select(ident=shown.unit_id, variant=shown.variant, exposed_at=shown.exposed_at)
    decided = decisions.filter(
        (decisions.experiment_id == experiment_id)
        & decisions.variant.notnull()
        & (decisions.decided_at <= as_of)
    )
    decided = decided.select(
        # the unit the server hashed: its profile, else the device; never the userId a browser
        # claims (anyone can send one with the public write key)
        ident=ibis.coalesce(decided.profile_id, ibis.literal("anon:") + decided.visitor),
        variant=decided.variant,
        exposed_at=decided.decided_at,
    )
    both = _nullable(shown).union(_nullable(decided), distinct=False)
    resolved = _resolve(both.ident, both, profiles)
    # the earliest exposure's variant, ties by the variant's name: the earliest time, then the
    # least variant at it (``first(order_by=...)`` said it in one group-by, but Spark's Ibis has
    # no ordered aggregates, and ``argmin`` leaves equal times to the engine)
    per = resolved.group_by("profile_id").aggregate(
        exposed_at=resolved.exposed_at.min(),
        crossed=resolved.variant.min() != resolved.variant.max(),
    )
    first = resolved.select(_fp="profile_id", _fa="exposed_at", _fv="variant")
    at_first = per.join(first, (per.profile_id == first._fp) & (per.exposed_at == first._fa))
    chosen = at_first.group_by("profile_id").aggregate(variant=at_first._fv.min())
    joined = per.join(chosen, "profile_id")
    return joined.select("profile_id", "variant", "exposed_at", "crossed")


def verified_orders(order_totals: ir.Table, orders: ir.Table, profiles: ir.Table) -> ir.Table:
    """profile_id, at, value (revenue) of every placed, verified order (``order_totals`` keeps
    verified orders only; returns left out), its buyer resolved as ``PLACED_ORDERS_SQL`` does:
    member, hashed e-mail, hashed phone, then the device."""
    placed = order_totals.filter(~order_totals.is_return).select("order_id", "revenue", "ordered_at")
    who = orders.select(
        "order_id",
        _buyer=ibis.coalesce(
            ibis.literal("user:") + orders.customer_id,
            ibis.literal("email:") + orders.email_hash,
            ibis.literal("phone:") + orders.phone_hash,
            ibis.literal("anon:") + orders.anonymous_id,
        ),
    )
    joined = placed.join(who, "order_id")
    joined = joined.filter(joined._buyer.notnull())
    resolved = _resolve(joined._buyer, joined, profiles)
    return resolved.select(
        "profile_id",
        at=resolved.ordered_at,
        value=resolved.revenue.cast("float64"),
        times=ibis.literal(1, type="int64"),
    )


def experiment_clicks(
    decisions: ir.Table,
    outcomes: ir.Table,
    outbox: ir.Table,
    message_events: ir.Table,
    profiles: ir.Table,
    experiment_id: str,
) -> ir.Table:
    """profile_id, at, value (1) of every click on what the experiment showed: its decisions'
    ``clicked`` outcomes and its messages' ``clicked`` events."""
    ours = decisions.filter(decisions.experiment_id == experiment_id)
    clicked = outcomes.filter(outcomes.outcome == "clicked")
    on_site = ours.join(clicked, "decision_id")
    on_site = on_site.select(
        ident=ibis.coalesce(
            on_site.profile_id,
            ibis.literal("user:") + on_site.user_id,
            ibis.literal("anon:") + on_site.visitor,
        ),
        at=on_site.outcome_at,
    )
    sent = outbox.filter(outbox.experiment_id == experiment_id).select("message_key")
    events = message_events.filter(message_events.kind == "clicked")
    by_message = events.join(sent, "message_key").select(ident=events.profile_id, at=events.occurred_at)
    both = _nullable(on_site).union(_nullable(by_message), distinct=False)
    resolved = _resolve(both.ident, both, profiles)
    return resolved.select(
        "profile_id", "at", value=ibis.literal(1, type="int64"), times=ibis.literal(1, type="int64")
    )


def message_kind_events(message_events: ir.Table, profiles: ir.Table, kind: str) -> ir.Table:
    """profile_id, at, value (1) of every message event of ``kind`` (e.g. ``unsubscribed``)."""
    events = message_events.filter(message_events.kind == kind)
    resolved = _resolve(events.profile_id, events.select("profile_id", at=events.occurred_at), profiles)
    return resolved.select(
        "profile_id", "at", value=ibis.literal(1, type="int64"), times=ibis.literal(1, type="int64")
    )


def unit_values(units: ir.Table, happenings: ir.Table, spec: MetricSpec, as_of: datetime) -> ir.Table:
    """Per exposed person: profile_id, variant, x (the metric's value within its window), d (the
    ratio's denominator: orders) and p (the value over ``spec.pre_days`` before the exposure),
    before any cap. ``happenings``: profile_id, at, value, times (one row per order, click, ...)."""
    window = ibis.interval(days=spec.window_days)
    pre = ibis.interval(days=max(spec.pre_days, 0))
    # values are doubles, counts integers: a literal such as 1.0 is a DECIMAL to DuckDB (and Ibis,
    # taking it for a double, would leave out a cast to one), and a quantile of decimals is
    # rounded to their scale
    h = happenings.select(
        _hp=happenings.profile_id,
        _at=happenings.at,
        _v=happenings.value.cast("float64"),
        _c=happenings.times.cast("int64"),
    )
    h = h.filter(h._at <= as_of)
    # the persons who did something in their window (an equi-join, then the range), summed, then
    # given back to every exposed person: a left join on a range condition is far slower
    keys = units.select(_up=units.profile_id, _ue=units.exposed_at)
    joined = keys.join(h, keys._up == h._hp)
    joined = joined.filter((joined._at >= joined._ue - pre) & (joined._at < joined._ue + window))
    after = joined._at >= joined._ue
    sums = joined.group_by("_up").aggregate(
        _x=ibis.ifelse(after, joined._v, 0.0).sum(),
        _n=ibis.ifelse(after, joined._c, 0).sum(),
        _px=ibis.ifelse(after, 0.0, joined._v).sum(),
        _pn=ibis.ifelse(after, 0, joined._c).sum(),
    )
    per = units.left_join(sums, units.profile_id == sums._up)
    x, px = ibis.coalesce(per._x, 0.0), ibis.coalesce(per._px, 0.0)
    n, pn = ibis.coalesce(per._n, 0), ibis.coalesce(per._pn, 0)
    if spec.kind == "conversion":
        value, prior = ibis.ifelse(n > 0, 1, 0), ibis.ifelse(pn > 0, 1, 0)
    elif spec.kind in ("orders", "clicks", "unsubscribes", "bounces"):
        value, prior = n, pn
    else:  # revenue, order_value
        value, prior = x, px
    return per.select(
        "profile_id", "variant", x=value.cast("float64"), d=n.cast("float64"), p=prior.cast("float64")
    )


def capped(values: ir.Table, spec: MetricSpec) -> ir.Table:
    """``values`` with x (and p) winsorised at ``spec.cap`` or at the ``spec.cap_quantile`` of
    the exposed units' x (computed in the engine over all of them, zeros included)."""
    if spec.cap is None and spec.cap_quantile is None:
        return values
    if spec.cap is not None:
        cap: ir.NumericValue = ibis.literal(float(spec.cap))
        return values.mutate(x=ibis.least(values.x, cap), p=ibis.least(values.p, cap))
    limit = values.aggregate(_cap=values.x.quantile(float(spec.cap_quantile or 1.0)))
    joined = values.cross_join(limit)
    return joined.mutate(x=ibis.least(joined.x, joined._cap), p=ibis.least(joined.p, joined._cap)).drop(
        "_cap"
    )


def variant_sums(values: ir.Table, *, pre: bool, ratio: bool) -> ir.Table:
    """Per variant: n, sum, sum_squares, and (``pre``) pre_sum, pre_sum_squares, post_pre_sum,
    (``ratio``) d_sum, d_sum_squares, x_d_sum: ``experiments.VariantStats``' fields."""
    aggs: dict[str, ir.Value] = {
        "n": values.count(),
        "sum": values.x.sum(),
        "sum_squares": (values.x * values.x).sum(),
    }
    if pre:
        aggs |= {
            "pre_sum": values.p.sum(),
            "pre_sum_squares": (values.p * values.p).sum(),
            "post_pre_sum": (values.x * values.p).sum(),
        }
    if ratio:
        aggs |= {
            "d_sum": values.d.sum(),
            "d_sum_squares": (values.d * values.d).sum(),
            "x_d_sum": (values.x * values.d).sum(),
        }
    return values.group_by("variant").aggregate(**aggs).order_by("variant")


def daily_exposures(units: ir.Table, day: ir.DateValue | None = None) -> ir.Table:
    """day, variant, count: the persons first exposed each day per variant (``day``: a
    shop-local day expression of ``units.exposed_at``; the UTC date when None)."""
    keyed = units.mutate(day=day if day is not None else units.exposed_at.date())
    return keyed.group_by(["day", "variant"]).aggregate(count=keyed.count()).order_by(["day", "variant"])
