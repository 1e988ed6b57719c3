"""What the dashboard shows, read from the store: the results the jobs left (scores, segments,
model cards) and the orders, shaped for people. Reads only; no page scans the event table when a
job's result answers the question.

The names load on first use (PEP 562): a command that counts customers does not import the
pipeline's models (scikit-learn, scipy, LightGBM)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shopmind.core._lazy import lazy_names

if TYPE_CHECKING:
    from shopmind.insights._counts import Counts, buyer_count, buyer_expression, counts
    from shopmind.insights._kpis import Kpi, KpiReport, default_range, kpis
    from shopmind.insights._overview import Overview, overview
    from shopmind.insights._personas import StoredPersona, StoredPersonas, persona_names, stored_personas
    from shopmind.insights._predictions import (
        Band,
        Histogram,
        audience,
        audience_size,
        bands,
        distribution,
        model_cards,
        score_run,
    )
    from shopmind.insights._products import product, products, regions
    from shopmind.insights._runs import Run, latest_run, latest_runs, runs_of
    from shopmind.insights._segments import (
        ABSENT,
        LIST_SCORES,
        Movement,
        SegmentSize,
        label,
        movement,
        segment_customers,
        segment_map,
    )

__all__ = [
    "ABSENT",
    "LIST_SCORES",
    "Band",
    "Counts",
    "Histogram",
    "Kpi",
    "KpiReport",
    "Movement",
    "Overview",
    "Run",
    "SegmentSize",
    "StoredPersona",
    "StoredPersonas",
    "audience",
    "audience_size",
    "bands",
    "buyer_count",
    "buyer_expression",
    "counts",
    "default_range",
    "distribution",
    "kpis",
    "label",
    "latest_run",
    "latest_runs",
    "model_cards",
    "movement",
    "overview",
    "persona_names",
    "product",
    "products",
    "regions",
    "runs_of",
    "score_run",
    "segment_customers",
    "segment_map",
    "stored_personas",
]

_WHERE = {
    "ABSENT": "_segments",
    "Band": "_predictions",
    "Counts": "_counts",
    "Histogram": "_predictions",
    "Kpi": "_kpis",
    "KpiReport": "_kpis",
    "LIST_SCORES": "_segments",
    "Movement": "_segments",
    "Overview": "_overview",
    "Run": "_runs",
    "SegmentSize": "_segments",
    "StoredPersona": "_personas",
    "StoredPersonas": "_personas",
    "persona_names": "_personas",
    "stored_personas": "_personas",
    "audience": "_predictions",
    "audience_size": "_predictions",
    "bands": "_predictions",
    "buyer_count": "_counts",
    "buyer_expression": "_counts",
    "counts": "_counts",
    "default_range": "_kpis",
    "distribution": "_predictions",
    "kpis": "_kpis",
    "label": "_segments",
    "latest_run": "_runs",
    "latest_runs": "_runs",
    "model_cards": "_predictions",
    "movement": "_segments",
    "overview": "_overview",
    "product": "_products",
    "products": "_products",
    "regions": "_products",
    "runs_of": "_runs",
    "score_run": "_predictions",
    "segment_customers": "_segments",
    "segment_map": "_segments",
}


__getattr__, __dir__ = lazy_names(__name__, _WHERE, globals())
