"""The full run: every customer-intelligence job as of one moment, in order (what ``shopmind run``
and the server's scheduled run do). A job that lacks the history it needs is skipped with the
reason instead of failing the run."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from shopmind.core import DEFAULT_SHOP_TZ, InvalidInputError
from shopmind.pipeline._churn import ChurnReport, run_churn_risk
from shopmind.pipeline._intelligence import IntelligenceReport, run_customer_intelligence
from shopmind.pipeline._lookalike import LookalikeReport, run_vip_lookalike
from shopmind.pipeline._personas import PersonasReport, run_personas
from shopmind.pipeline._preferences import PreferencesReport, run_preferences
from shopmind.pipeline._purchase import PurchaseReport, run_purchase_probability
from shopmind.pipeline._stored_recommender import RecommenderReport, run_recommender
from shopmind.store import Store

T = TypeVar("T")


@dataclass(frozen=True)
class FullRunReport:
    """What each job of a full run found; None for a job skipped (see ``skipped``)."""

    as_of: datetime
    intelligence: IntelligenceReport
    churn: ChurnReport | None
    purchase: PurchaseReport | None
    lookalike: LookalikeReport | None
    preferences: PreferencesReport
    skipped: tuple[
        tuple[str, str], ...
    ]  # (job, why): churn_risk, purchase_probability, vip_lookalike, personas, recommender
    #: the hybrid recommender fitted as of the run and stored in the workspace (None: skipped)
    recommender: RecommenderReport | None = None
    #: the buyers' personas (None: skipped, e.g. too few buyers)
    personas: PersonasReport | None = None

    def facts(self) -> dict[str, Any]:
        """The run in a few numbers, JSON-ready, for a job history: profiles, buyers, VIPs, VIPs
        at risk (None without a churn run) and the jobs skipped."""
        i = self.intelligence
        return {
            "as_of": self.as_of.isoformat(),
            "profiles": i.profiles,
            "buyers": i.buyers,
            "vips": i.vips,
            "vips_at_risk": None if self.churn is None else self.churn.vips_at_risk,
            "skipped": [job for job, _ in self.skipped],
        }


def run_everything(
    store: Store,
    as_of: datetime,
    *,
    horizon_days: int = 7,
    churn_horizon_days: int = 90,
    at_risk: float = 0.5,
    zone: str = DEFAULT_SHOP_TZ,
    progress: Callable[[str, int, int], None] | None = None,
) -> FullRunReport:
    """Run customer intelligence, churn risk, purchase probability, the VIP look-alikes, the
    preferences and the personas as of ``as_of``, each stored with its own run; then fit the hybrid recommender as
    of ``as_of`` and store it in the workspace (``shopmind recommend for`` reads it)."""
    skipped: list[tuple[str, str]] = []

    def optional(job: str, work: Callable[[], T]) -> T | None:
        try:
            return work()
        except InvalidInputError as exc:  # e.g. too little history for a backtest
            skipped.append((job, str(exc)))
            return None

    intelligence = run_customer_intelligence(store, as_of, zone=zone, progress=progress)
    churn = optional(
        "churn_risk",
        lambda: run_churn_risk(
            store, as_of, horizon_days=churn_horizon_days, at_risk=at_risk, zone=zone, progress=progress
        ),
    )
    purchase = optional(
        "purchase_probability",
        lambda: run_purchase_probability(
            store, as_of, horizon_days=horizon_days, zone=zone, progress=progress
        ),
    )
    lookalike = optional(
        "vip_lookalike", lambda: run_vip_lookalike(store, as_of, zone=zone, progress=progress)
    )
    preferences = run_preferences(store, as_of, zone=zone, progress=progress)
    personas = optional("personas", lambda: run_personas(store, as_of, zone=zone, progress=progress))
    recommender = optional("recommender", lambda: run_recommender(store, as_of, zone=zone, progress=progress))
    return FullRunReport(
        as_of, intelligence, churn, purchase, lookalike, preferences, tuple(skipped), recommender, personas
    )
