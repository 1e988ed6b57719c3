"""The 문의하기 (ask a question) button: a ``track`` event some shoppers send from product pages.

Shops count clicks on it to find shoppers with an open question (a size, a delivery date) and
reach them before they give up. A share of the devices (``INQUIRER_SHARE``) are people who ask:
each of their product views is followed, with ``CLICK_PROBABILITY``, by a click on the button a
few seconds later, on the same page, session and device, so some click several times a week.

The clicks are drawn from their own random stream (the shop's seed and ``STREAM``), after the
shop is generated: every other table and event of a seed is the same as without them.
"""

from __future__ import annotations

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from shopmind.demo._restock import RESTOCK_MARK
from shopmind.demo._sampling import numbered
from shopmind.events import EventType

INQUIRY_EVENT = "문의하기 클릭"
INQUIRER_SHARE = 0.08  # of devices
CLICK_PROBABILITY = 0.25  # per product view of an inquirer
DELAY_SECONDS = (4, 90)  # after the product view
STREAM = 0x51A  # the clicks' own random stream, beside the shop's seed
#: columns a click does not carry (the product view's product, the landing's campaign)
_CLEARED = (
    "previous_id",
    "referrer",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
    "product_id",
    "category",
    "query",
    "quantity",
    "price",
    "order_id",
    "revenue",
    "currency",
    "banner_id",
    "campaign_id",
    "email_hash",
    "phone_hash",
)


def add_inquiries(
    events: pa.Table, seed: int, cohort: int | None = None, *, in_order: bool = True
) -> pa.Table:
    """``events`` (sorted by time) with the 문의하기 clicks added, still sorted by time (for one
    ``cohort`` of a streamed shop: a stream and event ids of its own). ``in_order=False`` leaves
    the clicks at the end instead: the sort copies the whole table (a third of a streamed
    cohort's time), and the lake files events by day whatever their order."""
    rng = np.random.default_rng([seed, STREAM] if cohort is None else [seed, STREAM, cohort])
    kinds = events.column("type").to_numpy(zero_copy_only=False)
    views = np.flatnonzero(kinds == EventType.PRODUCT_VIEW.value)
    # a member restocking a product they know has no question about it; leaving those views out
    # also keeps the clicks where they were before the restocking was planted (``_restock``)
    ids = events.column("message_id").take(pa.array(views))
    views = views[~pc.match_substring(ids, RESTOCK_MARK).to_numpy(zero_copy_only=False)]
    if views.size == 0:
        return events
    devices = events.column("anonymous_id").take(pa.array(views)).to_numpy(zero_copy_only=False)
    unique, device_of_view = np.unique(devices.astype(str), return_inverse=True)
    asks = rng.random(unique.size) < INQUIRER_SHARE
    clicked = views[asks[device_of_view] & (rng.random(views.size) < CLICK_PROBABILITY)]
    if clicked.size == 0:
        return events
    source = events.take(pa.array(clicked))
    n = clicked.size
    delay_us = rng.integers(DELAY_SECONDS[0], DELAY_SECONDS[1] + 1, n) * 1_000_000
    times = pc.cast(source.column("event_time"), pa.int64()).to_numpy() + delay_us
    at = pa.array(times, pa.timestamp("us", tz="UTC"))
    products = source.column("product_id").to_pylist()
    columns = {name: source.column(name) for name in events.schema.names}
    for name in _CLEARED:
        columns[name] = pa.nulls(n, events.schema.field(name).type)
    seed_text = f"demo-{seed}-inquiry-" if cohort is None else f"demo-{seed}c{cohort}-inquiry-"
    columns.update(
        message_id=numbered(seed_text, np.arange(n)),
        type=pa.array([EventType.CUSTOM.value] * n, pa.string()),
        name=pa.array([INQUIRY_EVENT] * n, pa.string()),
        event_time=at,
        client_time=at,
        received_at=at,
        properties=pa.array(
            [orjson.dumps({"button": "문의하기", "product": p}).decode() for p in products],
            events.schema.field("properties").type,
        ),
    )
    added = pa.Table.from_arrays([columns[name] for name in events.schema.names], schema=events.schema)
    merged = pa.concat_tables([events, added])
    if not in_order:
        return merged
    order = pc.sort_indices(merged, [("event_time", "ascending")])  # stable: ties keep their order
    return merged.take(order)
