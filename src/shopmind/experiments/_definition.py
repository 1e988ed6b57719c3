"""An experiment, declared (msgspec): where it decides (a decision point), between what (variants,
the first the control), for whom (traffic share, a mutually exclusive layer, a segment), how the
traffic is split (fixed shares, or a bandit that learns), what it measures (metrics, the first
the goal, guardrails beside it) and how it is analysed.

Written as JSON or YAML (the CLI, the API and the dashboard all send this shape)::

    id: exit-popup-copy
    name: 이탈 팝업 문구
    point: {kind: placement, placement: popup, trigger: exit-coupon}
    variants:
      - {name: control, trigger: exit-coupon}
      - {name: free-shipping, trigger: exit-free-shipping}
      - {name: holdout, trigger: null}          # qualified and shown nothing
    traffic: 1.0
    layer: {name: popup, start: 0.0, end: 0.5}  # owns half of the popup layer's units
    target: {segments: [vip]}
    metrics:
      - {name: conversion, kind: conversion, window_days: 7}
      - {name: revenue, kind: revenue, window_days: 7, cap_quantile: 0.99}
      - {name: unsubscribes, kind: unsubscribes, guardrail: true}
    policy: {kind: fixed}                       # or thompson / contextual
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any, Literal

import msgspec

from shopmind.core import FieldError, decode_declared

MAX_EXPERIMENT_BYTES = 64 * 1024
MAX_VARIANTS = 20
MAX_METRICS = 20
MAX_WINDOW_DAYS = 365
_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")

#: the recommendation strategies a recommendations experiment can compare
STRATEGIES = ("hybrid", "popularity", "als", "bpr", "item_cf", "user_cf", "content")
METRIC_KINDS = ("conversion", "revenue", "order_value", "orders", "clicks", "unsubscribes", "bounces")
#: guardrails by default: more of them is worse
LOWER_IS_BETTER = frozenset({"unsubscribes", "bounces"})


class PlacementPoint(msgspec.Struct, tag_field="kind", tag="placement", forbid_unknown_fields=True):
    """On-site (``/v1/decide``): when ``trigger`` would be shown in ``placement``, the unit's variant
    says which trigger is shown instead (its ``trigger``; none for a holdout variant)."""

    placement: str
    trigger: str


class RecommendationsPoint(
    msgspec.Struct, tag_field="kind", tag="recommendations", forbid_unknown_fields=True
):
    """Which recommender answers (``/v1/recommendations`` and the recommendation widgets of
    ``placement``; every placement when ``*``): each variant names a ``strategy``."""

    placement: str = "*"


class CampaignMessagePoint(
    msgspec.Struct, tag_field="kind", tag="campaign_message", forbid_unknown_fields=True
):
    """The message a campaign's treated customers get: each variant overrides the step's
    ``subject`` and ``text`` (per language: ``{ko: ..., en: ...}``)."""

    campaign: str
    step: str | None = None  # the first step when None


class SendTimePoint(msgspec.Struct, tag_field="kind", tag="send_time", forbid_unknown_fields=True):
    """When a campaign's messages go: each variant names a ``send_time`` (``best_hour`` or an hour
    ``HH:00``)."""

    campaign: str


DecisionPoint = PlacementPoint | RecommendationsPoint | CampaignMessagePoint | SendTimePoint
POINT_KINDS = ("placement", "recommendations", "campaign_message", "send_time")


class Variant(msgspec.Struct, forbid_unknown_fields=True):
    """One arm. ``share``: its part of the experiment's traffic (shares given must add up to 1;
    none given: equal shares). Exactly the field its decision point reads is set."""

    name: str
    share: float | None = None
    trigger: str | None = None  # placement: the trigger shown (None: nothing, a holdout)
    strategy: str | None = None  # recommendations: one of STRATEGIES
    subject: dict[str, str] | None = None  # campaign_message: per language
    text: dict[str, str] | None = None  # campaign_message: per language
    send_time: str | None = None  # send_time: best_hour or HH:00


class Layer(msgspec.Struct, forbid_unknown_fields=True):
    """A mutually exclusive layer: a unit falls at one point of [0, 1) of the layer (a hash of
    the layer and the unit) and is only in the experiment whose [start, end) holds it."""

    name: str
    start: float = 0.0
    end: float = 1.0


class Target(msgspec.Struct, forbid_unknown_fields=True):
    """Who may enter: members of any of the saved segments (ids or names) or RFM segments."""

    segments: list[str] = msgspec.field(default_factory=list)
    rfm: list[str] = msgspec.field(default_factory=list)


class Metric(msgspec.Struct, forbid_unknown_fields=True):
    """What is measured per unit from its first exposure on, within ``window_days``:
    ``conversion`` (ordered at all), ``orders``, ``revenue`` (per unit, winsorised at ``cap`` or at
    the ``cap_quantile`` of the exposed units' values), ``order_value`` (revenue over orders: a
    ratio, by the delta method), ``clicks``, and the guardrails ``unsubscribes`` and ``bounces``."""

    name: str
    kind: str
    window_days: int = 7
    cap: float | None = None
    cap_quantile: float | None = None
    guardrail: bool = False

    @property
    def lower_is_better(self) -> bool:
        return self.kind in LOWER_IS_BETTER


class Policy(msgspec.Struct, forbid_unknown_fields=True):
    """How traffic is split. ``fixed``: by the variants' shares (a hash: the same unit, the same
    variant). ``thompson``: Thompson sampling on ``reward`` with a floor of exploration, its
    posterior updated in batches every ``batch_minutes``, switching all traffic to a variant once
    its chance to be best reaches ``switch_at`` (None: never). ``contextual``: linear Thompson
    sampling (``lints``) or LinUCB (``linucb``) on the visitor's context ``features``."""

    kind: Literal["fixed", "thompson", "contextual"] = "fixed"
    algorithm: Literal["lints", "linucb"] = "lints"
    reward: Literal["clicked", "converted"] = "clicked"
    floor: float = 0.05
    batch_minutes: int = 60
    switch_at: float | None = 0.95
    features: list[str] = msgspec.field(
        default_factory=lambda: ["device", "hour", "region", "segment", "recent"]
    )


class Analysis(msgspec.Struct, forbid_unknown_fields=True):
    """How results are computed: ``alpha`` (two-sided), always-valid ``sequential`` intervals
    (mSPRT; the marketer may look every day), ``cuped`` with the metric's pre-exposure value,
    Holm's correction over the variants and metrics, and the SRM check's threshold."""

    alpha: float = 0.05
    sequential: bool = True
    sequential_tuning: int = 5000  # gbstats' "sequential tuning parameter": the expected units
    cuped: bool = True
    cuped_days: int = 28
    srm_p: float = 0.001


FEATURES = ("device", "hour", "region", "segment", "recent")


class Experiment(msgspec.Struct, forbid_unknown_fields=True):
    id: str
    name: str
    point: DecisionPoint
    variants: list[Variant]
    description: str = ""
    traffic: float = 1.0
    layer: Layer | None = None
    target: Target | None = None
    metrics: list[Metric] = msgspec.field(
        default_factory=lambda: [Metric(name="conversion", kind="conversion")]
    )
    policy: Policy = msgspec.field(default_factory=Policy)
    analysis: Analysis = msgspec.field(default_factory=Analysis)
    salt: str | None = None  # the assignment's salt (the id when None): a new salt reshuffles

    @property
    def control(self) -> Variant:
        return self.variants[0]

    @property
    def variant_names(self) -> list[str]:
        return [v.name for v in self.variants]

    def shares(self) -> list[float]:
        """Each variant's share of the experiment's traffic (they add up to 1)."""
        given = [v.share for v in self.variants]
        if all(s is None for s in given):
            return [1.0 / len(self.variants)] * len(self.variants)
        return [float(s or 0.0) for s in given]

    def variant(self, name: str) -> Variant:
        return next(v for v in self.variants if v.name == name)


def check_experiment(experiment: Experiment) -> list[FieldError]:
    """What the schema cannot say: ranges, shares, names, the fields each decision point needs."""
    e = experiment
    errors: list[FieldError] = []
    if not _SLUG.match(e.id):
        errors.append(
            FieldError("id", "lower-case letters, digits, - and _ (at most 64), e.g. exit-popup-copy")
        )
    if not e.name.strip():
        errors.append(FieldError("name", "must not be empty"))
    if not 0.0 < e.traffic <= 1.0 or not math.isfinite(e.traffic):
        errors.append(
            FieldError("traffic", "a share above 0 and at most 1 (0.2 = a fifth of the eligible units)")
        )
    if len(e.variants) < 2:
        errors.append(FieldError("variants", "name at least two variants (the first is the control)"))
    if len(e.variants) > MAX_VARIANTS:
        errors.append(FieldError("variants", f"at most {MAX_VARIANTS} variants"))
    names = [v.name for v in e.variants]
    shares = [v.share for v in e.variants]
    if any(s is not None for s in shares):
        if any(s is None for s in shares):
            errors.append(FieldError("variants", "give every variant a share, or none (equal shares)"))
        elif any(not math.isfinite(s) or s <= 0 for s in shares if s is not None):
            errors.append(FieldError("variants", "each share must be above 0"))
        else:
            total = sum(s for s in shares if s is not None)
            if abs(total - 1.0) > 1e-9:
                side = "above" if total > 1.0 else "below"
                errors.append(
                    FieldError(
                        "variants", f"the shares add up to {total:.0%}, {side} 100%: they must add up to 100%"
                    )
                )
    for i, v in enumerate(e.variants):
        where = f"variants[{i}]"
        if not _SLUG.match(v.name):
            errors.append(FieldError(f"{where}.name", "lower-case letters, digits, - and _, e.g. control"))
        elif names.count(v.name) > 1:
            errors.append(FieldError(f"{where}.name", f"{v.name!r} is used by more than one variant"))
        errors.extend(_check_variant(e.point, v, where))
    if e.layer is not None:
        lay = e.layer
        if not (0.0 <= lay.start < lay.end <= 1.0):
            errors.append(FieldError("layer", "start and end with 0 <= start < end <= 1"))
        if not _SLUG.match(lay.name):
            errors.append(FieldError("layer.name", "lower-case letters, digits, - and _"))
    if not e.metrics:
        errors.append(FieldError("metrics", "name at least one metric (the first is the goal)"))
    if len(e.metrics) > MAX_METRICS:
        errors.append(FieldError("metrics", f"at most {MAX_METRICS} metrics"))
    metric_names = [m.name for m in e.metrics]
    for i, m in enumerate(e.metrics):
        where = f"metrics[{i}]"
        if m.kind not in METRIC_KINDS:
            errors.append(FieldError(f"{where}.kind", f"expected one of {', '.join(METRIC_KINDS)}"))
        if metric_names.count(m.name) > 1:
            errors.append(FieldError(f"{where}.name", f"{m.name!r} is used by more than one metric"))
        if not 1 <= m.window_days <= MAX_WINDOW_DAYS:
            errors.append(FieldError(f"{where}.window_days", f"days from 1 to {MAX_WINDOW_DAYS}"))
        if m.cap is not None and not (math.isfinite(m.cap) and m.cap > 0):
            errors.append(FieldError(f"{where}.cap", "a positive amount"))
        if m.cap_quantile is not None and not 0.5 <= m.cap_quantile < 1.0:
            errors.append(FieldError(f"{where}.cap_quantile", "a quantile from 0.5 to below 1, e.g. 0.99"))
    p = e.policy
    if not 0.0 <= p.floor < 1.0 / max(len(e.variants), 1) + 1e-12:
        errors.append(
            FieldError("policy.floor", "a share from 0 to 1/variants (each variant keeps at least it)")
        )
    if p.switch_at is not None and not 0.5 < p.switch_at < 1.0:
        errors.append(FieldError("policy.switch_at", "a probability above 0.5 and below 1, e.g. 0.95"))
    if not 1 <= p.batch_minutes <= 24 * 60:
        errors.append(FieldError("policy.batch_minutes", "minutes from 1 to 1440"))
    for i, f in enumerate(p.features):
        if f not in FEATURES:
            errors.append(FieldError(f"policy.features[{i}]", f"expected one of {', '.join(FEATURES)}"))
    if p.kind != "fixed" and not isinstance(e.point, PlacementPoint | CampaignMessagePoint):
        errors.append(FieldError("policy.kind", "bandits serve on-site placements and campaign messages"))
    if p.kind == "contextual" and not isinstance(e.point, PlacementPoint):
        errors.append(FieldError("policy.kind", "a contextual bandit serves on-site placements (/v1/decide)"))
    a = e.analysis
    if not 0.0 < a.alpha < 0.5:
        errors.append(FieldError("analysis.alpha", "a level above 0 and below 0.5, e.g. 0.05"))
    if a.sequential_tuning < 1:
        errors.append(FieldError("analysis.sequential_tuning", "a positive number of units"))
    if not 1 <= a.cuped_days <= MAX_WINDOW_DAYS:
        errors.append(FieldError("analysis.cuped_days", f"days from 1 to {MAX_WINDOW_DAYS}"))
    if not 0.0 < a.srm_p < 0.5:
        errors.append(FieldError("analysis.srm_p", "a level above 0 and below 0.5, e.g. 0.001"))
    return errors


def _check_variant(point: DecisionPoint, v: Variant, where: str) -> list[FieldError]:
    errors: list[FieldError] = []
    if isinstance(point, RecommendationsPoint) and v.strategy not in STRATEGIES:
        errors.append(FieldError(f"{where}.strategy", f"expected one of {', '.join(STRATEGIES)}"))
    if isinstance(point, CampaignMessagePoint) and not (v.subject or v.text):
        errors.append(FieldError(f"{where}.text", "give the variant's text (and subject for e-mail)"))
    if isinstance(point, SendTimePoint) and not (
        v.send_time == "best_hour"
        or (v.send_time is not None and re.fullmatch(r"([01]\d|2[0-3]):00", v.send_time))
    ):
        errors.append(FieldError(f"{where}.send_time", "best_hour or an hour such as 10:00"))
    return errors


def parse_experiment(data: bytes | str | Mapping[str, Any] | Experiment) -> Experiment:
    """A checked experiment from JSON, a mapping (parsed JSON or YAML) or an experiment; raises
    ``InvalidInputError`` naming each bad field and why."""
    return decode_declared(
        data, Experiment, root="experiment", max_bytes=MAX_EXPERIMENT_BYTES, check=check_experiment
    )


def experiment_json(experiment: Experiment) -> str:
    """The experiment as stored (JSON)."""
    return msgspec.json.encode(experiment).decode()
