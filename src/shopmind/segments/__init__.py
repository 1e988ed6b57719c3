"""RFM scores and named segments (Korean and English), visitor segments and segment movement."""

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
]
