"""Personas: buyers grouped by how, when and what they buy and by what they are worth, each group
named and described in Korean and English by what sets it apart from the other buyers.

:class:`PersonaModel` takes one row per buyer with the columns of :data:`PERSONA_FEATURES` (any
subset; columns ``category:<name>`` are the share of the buyer's spend in that category). Counts,
money and days are taken as ``log1p`` (a buyer with 40 orders is not ten times as different from
one with 4 as one with 4 from one with 0.4); every column is standardised, and each column is
weighted ``1/sqrt(columns of its group)``, so the three groups (value; habits: when and on what
device; taste) weigh the same however many columns each has: ten category shares do not drown the
weekend share, and two near-binary device shares do not split the buyers by device alone.
Columns that do not vary (a shop without devices in its orders) are left out.

k-means (Lloyd, seeded, ``n_init`` starts) groups the rows; the number of groups is the one
with the best mean silhouette (Rousseeuw 1987) on a seeded sample, among ``k_range``, unless
``n_clusters`` is given. Personas are numbered by size, largest first.

Each persona is described by its *traits*: the columns where its members differ most from all
the buyers, in standard deviations of the column (the effect size); a trait counts from
``min_effect``. The strongest traits fill the slots of a name - when (weekend, weekday; night,
morning), device (mobile, app, computer), price (premium, budget), category, value (VIP, loyal,
new, lapsed) - read in the order a Korean marketer says it: "주말 밤에 모바일로 사는 고가 뷰티
고객" / "Premium 뷰티 customers who buy on mobile on weekend nights".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Self

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score
from threadpoolctl import threadpool_limits

from shopmind.core import FieldError, InvalidInputError, single_threaded_blas
from shopmind.models._errors import NotFittedError

FloatArray = npt.NDArray[np.float64]
Group = Literal["value", "habit", "taste"]
Kind = Literal["count", "money", "days", "share", "ratio"]

#: the prefix of a category-share column (``category:뷰티``)
CATEGORY = PERSONA_CATEGORY_PREFIX = "category:"


@dataclass(frozen=True)
class PersonaFeature:
    """A column the personas read: its group, how it is measured (``kind``: counts, money and
    days are logged; shares and ratios are not), and its name in Korean and English."""

    group: Group
    kind: Kind
    ko: str
    en: str


#: the columns :class:`PersonaModel` reads (besides ``category:<name>`` shares), their meaning
PERSONA_FEATURES: dict[str, PersonaFeature] = {
    "orders": PersonaFeature("value", "count", "주문 수", "orders"),
    "revenue": PersonaFeature("value", "money", "누적 구매액", "total spend"),
    "average_order_value": PersonaFeature("value", "money", "객단가", "average order"),
    "days_since_last_purchase": PersonaFeature("value", "days", "마지막 구매 후", "since the last order"),
    "days_since_first_purchase": PersonaFeature("value", "days", "첫 구매 후", "since the first order"),
    "weekend_share": PersonaFeature("habit", "share", "주말 주문 비중", "orders at weekends"),
    "night_share": PersonaFeature(
        "habit", "share", "밤(21시~새벽 3시) 주문 비중", "orders at night (21:00-03:00)"
    ),
    "morning_share": PersonaFeature(
        "habit", "share", "아침(6시~11시) 주문 비중", "orders in the morning (06:00-11:00)"
    ),
    "mobile_share": PersonaFeature("habit", "share", "모바일 주문 비중", "orders on mobile"),
    "app_share": PersonaFeature("habit", "share", "앱 주문 비중", "orders in the app"),
    "price_index": PersonaFeature(
        "taste",
        "ratio",
        "같은 카테고리 평균 대비 구매 단가",
        "price paid against the category's typical price",
    ),
}
_LOGGED: frozenset[Kind] = frozenset({"count", "money", "days"})


def feature_of(column: str) -> PersonaFeature:
    """The meaning of ``column`` (a :data:`PERSONA_FEATURES` key or a ``category:<name>`` share)."""
    if column.startswith(CATEGORY):
        name = column.removeprefix(CATEGORY)
        return PersonaFeature("taste", "share", f"{name} 지출 비중", f"spend on {name}")
    return PERSONA_FEATURES[column]


@dataclass(frozen=True)
class Trait:
    """Where a persona differs from all the buyers: the column, the persona's and everyone's
    typical value (the mean of a share or ratio, the median of a count, amount or days), the
    effect in standard deviations (positive: more than the rest) and a line in each language."""

    feature: str
    value: float
    overall: float
    effect: float
    ko: str
    en: str


@dataclass(frozen=True)
class Persona:
    """One persona: ``key`` (``persona_1``, largest first), its names and traits, its size and its
    members' typical values (``centre``: the mean of each column, as measured, for matching the
    personas of a later run)."""

    key: str
    number: int
    name_ko: str
    name_en: str
    size: int
    share: float
    traits: tuple[Trait, ...]
    centre: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["traits"] = [asdict(t) for t in self.traits]
        return out


def _money(value: float, currency: str) -> str:
    symbol = {"KRW": "₩", "GBP": "£", "USD": "$", "EUR": "€", "JPY": "¥"}.get(currency)
    digits = 0 if currency in ("KRW", "JPY") or abs(value) >= 100 else 2
    amount = f"{value:,.{digits}f}"
    return f"{symbol}{amount}" if symbol else f"{amount} {currency}"


def _trait_lines(column: str, value: float, overall: float, currency: str) -> tuple[str, str]:
    """A trait in Korean and English: the persona's figure beside everyone's."""
    meaning = feature_of(column)
    if meaning.kind == "share":
        v, a = f"{value:.0%}", f"{overall:.0%}"
        return (
            f"{meaning.ko} {v} (전체 {a})",
            f"{meaning.en[:1].upper()}{meaning.en[1:]}: {v} (all buyers: {a})",
        )
    if meaning.kind == "ratio":
        v, a = f"{value:.2f}", f"{overall:.2f}"
        return (
            f"{meaning.ko} {v}배 (전체 {a}배)",
            f"Pays {v}× the category's typical price (all buyers: {a}×)",
        )
    if meaning.kind == "money":
        v, a = _money(value, currency), _money(overall, currency)
        return (
            f"{meaning.ko} {v} (전체 {a})",
            f"{meaning.en[:1].upper()}{meaning.en[1:]}: {v} (all buyers: {a})",
        )
    if meaning.kind == "days":
        v, a = f"{value:,.0f}", f"{overall:,.0f}"
        return (
            f"{meaning.ko} {v}일 (전체 {a}일)",
            f"{v} days {meaning.en} (all buyers: {a})",
        )
    v, a = f"{value:,.1f}".removesuffix(".0"), f"{overall:,.1f}".removesuffix(".0")
    unit = meaning.en.removesuffix("s") if v == "1" else meaning.en
    return f"{meaning.ko} {v}회 (전체 {a}회)", f"{v} {unit} (all buyers: {a})"


class PersonaModel(ClusterMixin, BaseEstimator):
    """k-means personas on standardised, group-weighted buyer features (see the module).

    Hyper-parameters: ``n_clusters`` (None: chosen by silhouette among ``k_range``),
    ``k_range`` (the smallest and largest number of personas tried), ``n_init`` (k-means starts),
    ``sample_size`` (rows the silhouette is measured on), ``min_effect`` (the effect size, in
    standard deviations, from which a difference is a trait), ``max_traits``, ``random_state``.

    Fitted state: ``feature_names_in_`` (the columns used), ``means_``, ``scales_`` (of the
    transformed columns, weights included), ``cluster_centers_`` (in the weighted standard space),
    ``labels_`` (0 = the largest persona), ``n_clusters_``, ``silhouette_`` (k -> mean silhouette;
    empty when ``n_clusters`` was given), ``inertia_``, ``personas_`` (:class:`Persona`, largest
    first, with the ``currency`` given to ``fit``).
    """

    def __init__(
        self,
        *,
        n_clusters: int | None = None,
        k_range: tuple[int, int] = (3, 8),
        n_init: int = 4,
        sample_size: int = 3_000,
        min_effect: float = 0.4,
        max_traits: int = 5,
        random_state: int = 0,
    ) -> None:
        self.n_clusters = n_clusters
        self.k_range = k_range
        self.n_init = n_init
        self.sample_size = sample_size
        self.min_effect = min_effect
        self.max_traits = max_traits
        self.random_state = random_state

    # -- input ---------------------------------------------------------------------------------
    def _check(self, X: pd.DataFrame) -> None:
        errors = []
        if not isinstance(X, pd.DataFrame):
            raise InvalidInputError([FieldError("X", "must be a pandas DataFrame, one row per buyer")])
        unknown = [c for c in X.columns if not c.startswith(CATEGORY) and c not in PERSONA_FEATURES]
        if unknown:
            errors.append(FieldError("X", f"unknown columns {unknown[:5]}: see models.PERSONA_FEATURES"))
        low, high = self.k_range
        if not (isinstance(low, int) and isinstance(high, int) and 2 <= low <= high):
            errors.append(FieldError("k_range", "must be two whole numbers 2 <= smallest <= largest"))
        if self.n_clusters is not None and (not isinstance(self.n_clusters, int) or self.n_clusters < 1):
            errors.append(FieldError("n_clusters", "must be a whole number >= 1, or None to choose it"))
        if errors:
            raise InvalidInputError(errors)
        values = X.to_numpy(dtype=np.float64, na_value=np.nan)
        if np.isinf(values).any():
            raise InvalidInputError([FieldError("X", "holds infinite values")])

    @staticmethod
    def _logged(X: pd.DataFrame) -> pd.DataFrame:
        out = X.astype(np.float64).copy()
        for column in out.columns:
            if feature_of(column).kind in _LOGGED:
                out[column] = np.log1p(out[column].clip(lower=0))
            elif feature_of(column).kind == "ratio":
                out[column] = np.log(out[column].clip(lower=1e-6))
        return out

    def standardise(self, X: pd.DataFrame) -> FloatArray:
        """The rows of ``X`` in the weighted standard space the personas were found in (missing
        values at the mean): distances there are what k-means measured."""
        if not hasattr(self, "means_"):
            raise NotFittedError("PersonaModel is not fitted yet: call fit first")
        return self._space(X)

    def _space(self, X: pd.DataFrame) -> FloatArray:
        """The rows in the weighted standard space (missing values at the mean)."""
        logged = self._logged(X[list(self.feature_names_in_)])
        z = (logged.to_numpy() - self.means_) / self.scales_
        return np.nan_to_num(z, nan=0.0)

    # -- fit -----------------------------------------------------------------------------------
    def fit(self, X: pd.DataFrame, y: None = None, *, currency: str = "KRW") -> Self:
        """Group the buyers of ``X`` and describe each group; ``currency`` is how amounts are
        written in the descriptions."""
        self._check(X)
        logged = self._logged(X)
        spread = logged.std(ddof=0)
        kept = [c for c in logged.columns if np.isfinite(spread[c]) and spread[c] > 1e-9]
        if not kept:
            raise InvalidInputError([FieldError("X", "no column varies between buyers")])
        low, high = self.k_range
        need = self.n_clusters or low
        if len(X) < max(2 * need, 10):
            raise InvalidInputError(
                [
                    FieldError(
                        "X", f"{len(X)} buyers are too few for {need} personas (need {max(2 * need, 10)})"
                    )
                ]
            )
        groups: dict[str, int] = {}
        for c in kept:
            groups[feature_of(c).group] = groups.get(feature_of(c).group, 0) + 1
        weights = np.array([1.0 / math.sqrt(groups[feature_of(c).group]) for c in kept])
        self.feature_names_in_ = np.array(kept, dtype=object)
        self.means_ = logged[kept].mean().to_numpy()
        self.scales_ = spread[kept].to_numpy() / weights
        Z = self._space(X)
        self.silhouette_: dict[int, float] = {}
        # k-means' OpenMP pool on a busy machine: 37 s for what one thread does in 0.4 s
        with single_threaded_blas(), threadpool_limits(limits=1, user_api="openmp"):
            if self.n_clusters is not None:
                k = min(self.n_clusters, len(X))
                model = self._kmeans(k).fit(Z)
            else:
                model = self._choose(Z, low, min(high, len(X) // 2))
        # number the personas by size, largest first (ties: the lower k-means label)
        counts = np.bincount(model.labels_, minlength=model.n_clusters)
        order = np.argsort(-counts, kind="stable")
        rank = np.empty_like(order)
        rank[order] = np.arange(order.size)
        self.cluster_centers_ = model.cluster_centers_[order]
        self.labels_ = rank[model.labels_]
        self.n_clusters_ = int(model.n_clusters)
        self.inertia_ = float(model.inertia_)
        self.personas_ = self._describe(X, self.labels_, currency)
        return self

    def _kmeans(self, k: int) -> KMeans:
        return KMeans(n_clusters=k, n_init=self.n_init, random_state=self.random_state)

    def _choose(self, Z: FloatArray, low: int, high: int) -> KMeans:
        rng = np.random.default_rng(self.random_state)
        sample = rng.choice(len(Z), size=min(self.sample_size, len(Z)), replace=False)
        sample.sort()
        best: tuple[float, KMeans] | None = None
        for k in range(low, max(low, high) + 1):
            model = self._kmeans(k).fit(Z)
            labels = model.labels_[sample]
            if np.unique(labels).size < 2:
                continue
            score = float(silhouette_score(Z[sample], labels))
            self.silhouette_[k] = score
            if best is None or score > best[0] + 1e-12:
                best = (score, model)
        if best is None:
            raise InvalidInputError(
                [FieldError("X", "the buyers do not fall into groups: they are all alike")]
            )
        return best[1]

    # -- use -------------------------------------------------------------------------------------
    def predict(self, X: pd.DataFrame) -> npt.NDArray[np.int64]:
        """Each row's persona index (0 = the largest persona of the fit)."""
        if not hasattr(self, "cluster_centers_"):
            raise NotFittedError("PersonaModel is not fitted yet: call fit first")
        self._check(X)
        missing = [c for c in self.feature_names_in_ if c not in X.columns]
        if missing:
            raise InvalidInputError([FieldError("X", f"missing columns {missing[:5]}")])
        Z = self._space(X)
        distances = ((Z[:, None, :] - self.cluster_centers_[None, :, :]) ** 2).sum(axis=2)
        return distances.argmin(axis=1).astype(np.int64)

    # -- describe --------------------------------------------------------------------------------
    def _describe(self, X: pd.DataFrame, labels: npt.NDArray[np.int64], currency: str) -> list[Persona]:
        kept = list(self.feature_names_in_)
        logged = self._logged(X[kept])
        spread = logged.std(ddof=0).to_numpy()
        out = []
        names_seen: dict[str, int] = {}
        for number in range(self.n_clusters_):
            inside = labels == number
            effects = (logged[inside].mean().to_numpy() - logged.mean().to_numpy()) / spread
            effects = np.nan_to_num(effects, nan=0.0)  # a column no member of the persona has: no trait
            traits: list[Trait] = []
            for i in np.argsort(-np.abs(effects), kind="stable"):
                if abs(effects[i]) < self.min_effect or len(traits) >= self.max_traits:
                    break
                column = kept[i]
                own, overall = self._typical(X[column], inside, column)
                ko, en = _trait_lines(column, own, overall, currency)
                traits.append(Trait(column, own, overall, float(effects[i]), ko, en))
            all_effects = {kept[i]: float(effects[i]) for i in range(len(kept))}
            typical = {c: self._typical(X[c], inside, c)[0] for c in kept}
            ko_name, en_name = persona_names(all_effects, typical)
            seen = names_seen.get(ko_name, 0)
            names_seen[ko_name] = seen + 1
            if seen:  # two personas alike in every slot: told apart by number
                ko_name, en_name = f"{ko_name} {seen + 1}", f"{en_name} {seen + 1}"
            # pandas' mean skips missing values (a shop without devices: all missing) without a warning
            centre = {c: float(X.loc[inside, c].astype(np.float64).mean()) for c in X.columns}
            out.append(
                Persona(
                    key=f"persona_{number + 1}",
                    number=number + 1,
                    name_ko=ko_name,
                    name_en=en_name,
                    size=int(inside.sum()),
                    share=float(inside.mean()),
                    traits=tuple(traits),
                    centre={c: (v if math.isfinite(v) else 0.0) for c, v in centre.items()},
                )
            )
        return out

    @staticmethod
    def _typical(column: pd.Series, inside: npt.NDArray[np.bool_], name: str) -> tuple[float, float]:
        """The persona's and everyone's typical value of ``column`` (NaN where none is known)."""
        kind = feature_of(name).kind

        def pick(part: pd.Series) -> float:
            known = part.astype(np.float64).dropna().to_numpy()
            if not known.size:
                return math.nan
            if kind == "share":
                return float(known.mean())
            if kind == "ratio":  # the geometric mean: what the log scale averaged
                return float(np.exp(np.log(np.clip(known, 1e-6, None)).mean()))
            return float(np.median(known))

        return pick(column[inside]), pick(column)


# -- names ---------------------------------------------------------------------------------------
_DAY = {"weekend": ("주말", "at weekends", "weekend"), "weekday": ("평일", "on weekdays", "weekday")}
_HOUR = {"night": ("밤", "at night", "nights"), "morning": ("아침", "in the morning", "mornings")}
_DEVICE = {
    "app": ("앱으로", "in the app"),
    "mobile": ("모바일로", "on mobile"),
    "desktop": ("PC로", "on a computer"),
}
_PRICE = {"premium": ("고가", "premium"), "budget": ("실속형", "budget")}
#: in the order they are tried: the first that holds names the persona
_VALUE = {
    "vip": ("VIP", "VIP"),
    "loyal": ("단골", "loyal"),
    "new": ("신규", "new"),
    "lapsed": ("휴면", "lapsed"),
    "light": ("소액", "light"),
}


#: how far a persona's own figure must be from the ordinary for a slot word to name it: an effect
#: alone is relative (when one persona orders at night, all the others order "less at night" than
#: average, which is no habit of theirs)
_SLOTS: dict[str, tuple[str, float, Callable[[float], bool]]] = {
    "weekend": ("weekend_share", 1.0, lambda v: v >= 0.5),
    "weekday": ("weekend_share", -1.0, lambda v: v <= 0.1),
    "night": ("night_share", 1.0, lambda v: v >= 0.4),
    "morning": ("morning_share", 1.0, lambda v: v >= 0.4),
    "app": ("app_share", 1.0, lambda v: v >= 0.5),
    "mobile": ("mobile_share", 1.0, lambda v: v >= 0.7),
    "desktop": ("mobile_share", -1.0, lambda v: v <= 0.3),
    "premium": ("price_index", 1.0, lambda v: v >= 1.2),
    "budget": ("price_index", -1.0, lambda v: v <= 0.85),
}
#: a category names a persona when it is at least this share of their spend
CATEGORY_SHARE = 0.3
#: the effect (standard deviations) from which a slot word names a persona
NAME_EFFECT = 0.5


def _slot(effects: Mapping[str, float], typical: Mapping[str, float], options: tuple[str, ...]) -> str | None:
    """The option with the largest effect beyond :data:`NAME_EFFECT` whose own figure is telling."""
    best, best_effect = None, NAME_EFFECT
    for option in options:
        column, sign, telling = _SLOTS[option]
        effect = effects.get(column, 0.0) * sign
        if effect >= best_effect and column in typical and telling(typical[column]):
            best, best_effect = option, effect
    return best


def persona_names(effects: Mapping[str, float], typical: Mapping[str, float]) -> tuple[str, str]:
    """A persona's name in Korean and English, slot by slot, from its effects (column ->
    standard deviations from all the buyers) and its typical figures (column -> the mean share,
    the geometric-mean price ratio, the median count)."""
    day = _slot(effects, typical, ("weekend", "weekday"))
    hour = _slot(effects, typical, ("night", "morning"))
    device = _slot(effects, typical, ("app", "mobile", "desktop"))
    price = _slot(effects, typical, ("premium", "budget"))
    category = None
    best = NAME_EFFECT
    for column, effect in effects.items():
        if column.startswith(CATEGORY) and effect >= best and typical.get(column, 0.0) >= CATEGORY_SHARE:
            category, best = column.removeprefix(CATEGORY), effect
    value_effect = {
        "vip": min(effects.get("revenue", 0.0), effects.get("orders", 0.0)),
        "lapsed": effects.get("days_since_last_purchase", 0.0),
        "new": -effects.get("days_since_first_purchase", 0.0),
        "loyal": effects.get("orders", 0.0),
        "light": -effects.get("revenue", 0.0),
    }
    value = next((v for v in _VALUE if value_effect[v] >= 0.75), None)  # the first that holds

    # Korean: [요일 시간대에] [기기로] 사는 [가격] [카테고리] [가치] 고객
    when_ko = " ".join(w for w in (_DAY[day][0] if day else "", _HOUR[hour][0] if hour else "") if w)
    verb_ko = ""
    if when_ko or device:
        parts = [f"{when_ko}에" if when_ko else "", _DEVICE[device][0] if device else ""]
        verb_ko = " ".join(p for p in parts if p) + (" 사던" if value == "lapsed" else " 사는")
    noun_ko = " ".join(
        n for n in (_PRICE[price][0] if price else "", category or "", _VALUE[value][0] if value else "") if n
    )
    ko = (
        " ".join(p for p in (verb_ko, noun_ko, "고객") if p)
        if verb_ko or noun_ko
        else "두드러진 특징이 없는 일반 고객"
    )

    # English: [value] [price] [category] customers who buy [device] [when]
    if day and hour:
        when_en = f"on {_DAY[day][2]} {_HOUR[hour][2]}"
    else:
        when_en = _DAY[day][1] if day else _HOUR[hour][1] if hour else ""
    head = " ".join(
        a for a in (_VALUE[value][1] if value else "", _PRICE[price][1] if price else "", category or "") if a
    )
    head = f"{head} customers" if head else "customers"
    habit = " ".join(h for h in (_DEVICE[device][1] if device else "", when_en) if h)
    if habit:
        en = f"{head} who {'used to buy' if value == 'lapsed' else 'buy'} {habit}"
    else:
        en = head if head != "customers" else "everyday customers with no stand-out habit"
    return ko, en[:1].upper() + en[1:]
