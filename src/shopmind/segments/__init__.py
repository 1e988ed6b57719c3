"""RFM scores and named segments (Korean and English), visitor segments and segment movement;
exports that spreadsheets open safely."""

from shopmind.segments._export import spreadsheet_safe, write_csv
from shopmind.segments._rfm import (
    BUYER_SEGMENTS,
    SEGMENTS,
    VISITOR_SEGMENTS,
    Segment,
    customer_segments,
    moved,
    rfm_scores,
    rfm_segments,
    segment_transitions,
)

__all__ = [
    "BUYER_SEGMENTS",
    "SEGMENTS",
    "VISITOR_SEGMENTS",
    "Segment",
    "customer_segments",
    "moved",
    "rfm_scores",
    "rfm_segments",
    "segment_transitions",
    "spreadsheet_safe",
    "write_csv",
]
