"""Jobs that wire the store to the parts above it: the demo shop, customer intelligence (segments,
CLV, VIPs), churn risk, purchase probability, look-alikes (could become VIP), taste and habits,
and the recommender a run stores in the workspace.

The names load on first use (PEP 562): a command that needs one job does not import the models
of all the others (scikit-learn, scipy, LightGBM, implicit)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shopmind.core._lazy import lazy_names

if TYPE_CHECKING:
    from shopmind.pipeline._churn import ChurnReport, run_churn_risk
    from shopmind.pipeline._clv import (
        CandidateScore,
        ClvChoice,
        choose_clv_model,
        customer_summary,
        predict_spend,
        spend_between,
    )
    from shopmind.pipeline._clv_statistics import repeat_purchase_counts, spend_counts
    from shopmind.pipeline._demo_job import DemoLoadReport, load_demo_shop
    from shopmind.pipeline._demo_lake import DemoLakeReport, write_demo_lake
    from shopmind.pipeline._full_run import FullRunReport, run_everything
    from shopmind.pipeline._intelligence import (
        IntelligenceReport,
        ParetoReport,
        pareto_report,
        run_customer_intelligence,
    )
    from shopmind.pipeline._lookalike import LookalikeReport, run_vip_lookalike
    from shopmind.pipeline._personas import PersonasReport, PersonaValue, persona_features, run_personas
    from shopmind.pipeline._preferences import PreferencesReport, run_preferences
    from shopmind.pipeline._profile import (
        customer_profile,
        latest_scores,
        resolve_profile,
        segment_label,
        visitor_facts,
    )
    from shopmind.pipeline._purchase import PurchaseReport, run_purchase_probability, score_name
    from shopmind.pipeline._recommend import (
        ALGORITHMS,
        NEXT_BASKET_ALGORITHMS,
        RecommenderData,
        evaluate_next_baskets,
        evaluate_recommendations,
        order_baskets,
        recommender_data,
    )
    from shopmind.pipeline._stored_recommender import (
        RecommenderReport,
        fit_shop_hybrid,
        run_recommender,
        stored_as_of,
        stored_recommender,
    )

__all__ = [
    "ALGORITHMS",
    "NEXT_BASKET_ALGORITHMS",
    "CandidateScore",
    "ChurnReport",
    "ClvChoice",
    "DemoLakeReport",
    "DemoLoadReport",
    "FullRunReport",
    "IntelligenceReport",
    "LookalikeReport",
    "ParetoReport",
    "PersonaValue",
    "PersonasReport",
    "PreferencesReport",
    "PurchaseReport",
    "RecommenderData",
    "RecommenderReport",
    "choose_clv_model",
    "customer_profile",
    "customer_summary",
    "evaluate_next_baskets",
    "evaluate_recommendations",
    "fit_shop_hybrid",
    "latest_scores",
    "load_demo_shop",
    "order_baskets",
    "pareto_report",
    "persona_features",
    "predict_spend",
    "recommender_data",
    "repeat_purchase_counts",
    "resolve_profile",
    "run_churn_risk",
    "run_customer_intelligence",
    "run_everything",
    "run_personas",
    "run_preferences",
    "run_purchase_probability",
    "run_recommender",
    "run_vip_lookalike",
    "score_name",
    "segment_label",
    "spend_between",
    "spend_counts",
    "stored_as_of",
    "stored_recommender",
    "visitor_facts",
    "write_demo_lake",
]

#: the private module that defines each exported name
_WHERE = {
    "ChurnReport": "_churn",
    "run_churn_risk": "_churn",
    "CandidateScore": "_clv",
    "ClvChoice": "_clv",
    "choose_clv_model": "_clv",
    "customer_summary": "_clv",
    "predict_spend": "_clv",
    "spend_between": "_clv",
    "repeat_purchase_counts": "_clv_statistics",
    "spend_counts": "_clv_statistics",
    "DemoLoadReport": "_demo_job",
    "load_demo_shop": "_demo_job",
    "DemoLakeReport": "_demo_lake",
    "write_demo_lake": "_demo_lake",
    "FullRunReport": "_full_run",
    "run_everything": "_full_run",
    "IntelligenceReport": "_intelligence",
    "ParetoReport": "_intelligence",
    "pareto_report": "_intelligence",
    "run_customer_intelligence": "_intelligence",
    "LookalikeReport": "_lookalike",
    "run_vip_lookalike": "_lookalike",
    "PersonaValue": "_personas",
    "PersonasReport": "_personas",
    "persona_features": "_personas",
    "run_personas": "_personas",
    "PreferencesReport": "_preferences",
    "run_preferences": "_preferences",
    "customer_profile": "_profile",
    "latest_scores": "_profile",
    "resolve_profile": "_profile",
    "segment_label": "_profile",
    "visitor_facts": "_profile",
    "PurchaseReport": "_purchase",
    "run_purchase_probability": "_purchase",
    "score_name": "_purchase",
    "ALGORITHMS": "_recommend",
    "RecommenderData": "_recommend",
    "NEXT_BASKET_ALGORITHMS": "_recommend",
    "evaluate_next_baskets": "_recommend",
    "evaluate_recommendations": "_recommend",
    "order_baskets": "_recommend",
    "recommender_data": "_recommend",
    "RecommenderReport": "_stored_recommender",
    "fit_shop_hybrid": "_stored_recommender",
    "run_recommender": "_stored_recommender",
    "stored_as_of": "_stored_recommender",
    "stored_recommender": "_stored_recommender",
}


__getattr__, __dir__ = lazy_names(__name__, _WHERE, globals())
