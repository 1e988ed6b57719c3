"""What the dashboard shows, read from the store: the results the jobs left (scores, segments,
model cards) and the orders, shaped for people. Reads only; no page scans the event table when a
job's result answers the question."""

from shopmind.insights._counts import Counts, buyer_count, counts
from shopmind.insights._kpis import Kpi, KpiReport, default_range, kpis
from shopmind.insights._overview import Overview, overview
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
    "audience",
    "audience_size",
    "bands",
    "buyer_count",
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
    "product",
    "products",
    "regions",
    "runs_of",
    "score_run",
    "segment_customers",
    "segment_map",
]
