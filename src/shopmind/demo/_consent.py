"""The demo shop's consent ledger: what its members agreed to receive, when and how.

Drawn from a random stream of its own (the seed and a fixed tag), so the rest of the shop draws
exactly what it drew before this existed. Every member signed up some time in the four years
before the period or during it, and answered the sign-up form's checkboxes for text messages and
e-mail (with the night-time box for text messages); some later agreed to KakaoTalk messages at
checkout or to app push in the app, some withdrew by 080 call or an unsubscribe link, and some of
those whose consent is over two years old were sent the §50⑧ notice. Pure: no I/O, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

import numpy as np
import pyarrow as pa

#: the stream's tag: the consent draws never shift the shop's others
STREAM = 50_000_914
US = 1_000_000
DAY_US = 86_400 * US
SIGNUP_YEARS_BEFORE = 4
#: per channel: the share who agree, how (method) and when (at sign-up, or later)
OFFERS = (
    ("sms", 0.62, "signup_form", False),
    ("email", 0.55, "signup_form", False),
    ("kakao", 0.3, "checkout", True),
    ("app_push", 0.25, "api", True),
    ("web_push", 0.05, "tracker", True),
)
NIGHT_SHARE = 0.18  # of those who agree to text messages, also at night
WITHDRAW_SHARE = {"sms": 0.12, "email": 0.1, "kakao": 0.08}
WITHDRAW_METHOD = {"sms": "reply_080", "email": "unsubscribe_link", "kakao": "unsubscribe_link"}
NOTICED_SHARE = 0.5  # of those whose consent is over two years old
TEXT_CHANGED = date(2024, 1, 1)  # the consent text's second version starts then

ENTRY_SCHEMA = pa.schema(
    [
        ("entry_id", pa.string()),
        ("identifier", pa.string()),
        ("channel", pa.string()),
        ("purpose", pa.string()),
        ("granted", pa.bool_()),
        ("occurred_at", pa.timestamp("us", tz="UTC")),
        ("method", pa.string()),
        ("text_version", pa.string()),
    ]
)
NOTICE_SCHEMA = pa.schema(
    [
        ("notice_id", pa.string()),
        ("identifier", pa.string()),
        ("channel", pa.string()),
        ("sent_at", pa.timestamp("us", tz="UTC")),
    ]
)


@dataclass(frozen=True)
class DemoConsents:
    """Ledger entries (``ENTRY_SCHEMA``, in the order they happened) and §50⑧ notices
    (``NOTICE_SCHEMA``)."""

    entries: pa.Table
    notices: pa.Table


def generate_consents(customers: int, days: int, seed: int, start: date) -> DemoConsents:
    """The consent ledger of the demo shop of ``customers`` members over ``days`` days from
    ``start`` (the shop's first local day) made from ``seed``."""
    rng = np.random.default_rng([seed, STREAM])
    period_start = (
        int(datetime(start.year, start.month, start.day, tzinfo=UTC).timestamp()) * US - 9 * 3600 * US
    )
    period_end = period_start + days * DAY_US
    earliest = period_start - SIGNUP_YEARS_BEFORE * 365 * DAY_US
    members = np.arange(customers)
    # sign-up: local daytime hours (09-23 KST), spread over the four years before and the period
    signup = earliest + (rng.random(customers) * (period_end - earliest - DAY_US)).astype(np.int64)
    signup = signup - signup % DAY_US + (rng.integers(0, 14 * 3600, customers) * US)  # 00-14 UTC
    rows: list[tuple[np.ndarray, str, str, np.ndarray, np.ndarray, str]] = []
    granted_sms = np.zeros(customers, dtype=bool)
    for channel, share, method, later in OFFERS:
        agrees = rng.random(customers) < share
        delay = (
            (rng.exponential(120, customers) * DAY_US).astype(np.int64)
            if later
            else np.zeros(customers, np.int64)
        )
        at = np.minimum(signup + delay, period_end - US)
        if later:  # a later channel is recorded only when they agreed (nobody asked the others)
            who = members[agrees]
            rows.append((who, channel, "advertising", np.ones(who.size, bool), at[agrees], method))
        else:  # the sign-up form records the answer either way
            rows.append((members, channel, "advertising", agrees, at, method))
        if channel == "sms":
            granted_sms = agrees
            night = agrees & (rng.random(customers) < NIGHT_SHARE)
            rows.append(
                (
                    members[granted_sms],
                    "sms",
                    "night_advertising",
                    night[granted_sms],
                    at[granted_sms],
                    method,
                )
            )
        if channel in WITHDRAW_SHARE:
            leaves = agrees & (rng.random(customers) < WITHDRAW_SHARE[channel])
            span = np.maximum(period_end - at - US, 1)
            left_at = at + (rng.random(customers) * span).astype(np.int64)
            who = members[leaves]
            rows.append(
                (
                    who,
                    channel,
                    "advertising",
                    np.zeros(who.size, bool),
                    left_at[leaves],
                    WITHDRAW_METHOD[channel],
                )
            )
    who = np.concatenate([r[0] for r in rows])
    at = np.concatenate([r[4] for r in rows])
    granted = np.concatenate([r[3] for r in rows])
    channels = np.concatenate([np.full(r[0].size, r[1], dtype=object) for r in rows])
    purposes = np.concatenate([np.full(r[0].size, r[2], dtype=object) for r in rows])
    methods = np.concatenate([np.full(r[0].size, r[5], dtype=object) for r in rows])
    order = np.lexsort((np.arange(at.size), at))
    changed = (
        int(datetime(TEXT_CHANGED.year, TEXT_CHANGED.month, TEXT_CHANGED.day, tzinfo=UTC).timestamp()) * US
    )
    version = np.where(at[order] < changed, "2022-07", "2024-01")
    identifiers = np.char.add("user:m", np.char.zfill((who[order] + 1).astype(str), 6))
    entries = pa.table(
        [
            pa.array(np.char.add(f"demo:{seed}:", np.arange(order.size).astype(str)).tolist()),
            pa.array(identifiers.tolist()),
            pa.array(channels[order].tolist()),
            pa.array(purposes[order].tolist()),
            pa.array(granted[order]),
            pa.array(at[order], pa.timestamp("us", tz="UTC")),
            pa.array(methods[order].tolist()),
            pa.array(version.tolist()),
        ],
        schema=ENTRY_SCHEMA,
    )
    # the §50⑧ notice: half of those whose text-message consent turned two during the period's
    # run-up got it, by e-mail, a few days before the anniversary
    anniversary = signup + 2 * 365 * DAY_US
    noticed = granted_sms & (anniversary < period_end) & (rng.random(customers) < NOTICED_SHARE)
    sent = anniversary[noticed] - (rng.integers(1, 20, int(noticed.sum())) * DAY_US)
    notice_ids = np.char.add("user:m", np.char.zfill((members[noticed] + 1).astype(str), 6))
    notices = pa.table(
        [
            pa.array(np.char.add(f"demo-notice:{seed}:", np.arange(sent.size).astype(str)).tolist()),
            pa.array(notice_ids.tolist()),
            pa.array(["email"] * sent.size),
            pa.array(sent, pa.timestamp("us", tz="UTC")),
        ],
        schema=NOTICE_SCHEMA,
    )
    return DemoConsents(entries, notices)
