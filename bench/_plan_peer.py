"""A plain pandas implementation of the campaign plan (``activation._plan``'s rules, written again
the obvious way: read the tables into data frames, merge, group, sort). It is the peer of
``bench_campaign_plan.py`` and the oracle of ``tests/test_campaign_plan.py``: the engine's plan must
equal it row for row. Only the step's formats per channel are shared (``step_formats``)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pandas as pd

from shopmind.activation import DEFAULT_COSTS, Campaign
from shopmind.activation._plan import step_formats
from shopmind.store import Store

COLUMNS = [
    "profile_id",
    "arm",
    "status",
    "reason",
    "channel",
    "format",
    "cost",
    "send_hour",
    "hour_basis",
    "channel_basis",
    "planned_at",
    "due_at",
]


def _hour_table(start: datetime, zone: str) -> pd.DataFrame:
    tz = ZoneInfo(zone)
    local = start.astimezone(tz)
    rows = []
    for hour in range(24):
        planned = datetime(local.year, local.month, local.day, hour, tzinfo=tz)
        if planned < local:
            nxt = local.date() + timedelta(days=1)
            planned = datetime(nxt.year, nxt.month, nxt.day, hour, tzinfo=tz)
        day = planned.date()
        night = hour >= 21 or hour < 8
        if not night:
            moved = planned
        elif hour >= 21:
            nxt = day + timedelta(days=1)
            moved = datetime(nxt.year, nxt.month, nxt.day, 8, tzinfo=tz)
        else:
            moved = datetime(day.year, day.month, day.day, 8, tzinfo=tz)
        rows.append(
            {
                "hour": hour,
                "night": night,
                "planned_at": pd.Timestamp(planned).tz_convert("UTC"),
                "moved_at": pd.Timestamp(moved).tz_convert("UTC"),
            }
        )
    return pd.DataFrame(rows)


def _local_day_week(moments: pd.Series, zone: str) -> tuple[pd.Series, pd.Series]:
    local = pd.to_datetime(moments, utc=True).dt.tz_convert(zone)
    day = local.dt.normalize().dt.tz_localize(None)
    week = day - pd.to_timedelta(day.dt.day_of_week, unit="D")
    return day, week


def pandas_plan(
    store: Store,
    campaign: Campaign,
    campaign_id: str,
    *,
    at: datetime,
    key: str,
    audience: Sequence[str],
    costs: Mapping[str, float] | None = None,
    zone: str = "Asia/Seoul",
) -> pd.DataFrame:
    step = campaign.steps[0]
    informational = step.kind == "informational"
    policy = campaign.channel.channels[:1] if campaign.channel.mode == "fixed" else campaign.channel.channels
    channels = [c for c in dict.fromkeys(policy) if c in step.messages]
    formats = step_formats(campaign, step)
    price = {**DEFAULT_COSTS, **(costs or {})}

    # arms: the keyed hash, one customer at a time
    ids = pd.Series(sorted(set(audience)), dtype=object)
    scale = 16**13
    draws = [
        int(hashlib.sha256(f"{key}|{campaign_id}|{p}".encode()).hexdigest()[:13], 16) / scale for p in ids
    ]
    members = pd.DataFrame(
        {"profile_id": ids, "arm": ["holdout" if d < campaign.holdout else "treated" for d in draws]}
    )
    treated = members.loc[members.arm == "treated", ["profile_id"]]

    # consent: the latest entry per customer, channel and purpose
    profiles = store.query_arrow("SELECT identifier, profile_id FROM profiles").to_pandas()
    ledger = store.query_arrow(
        "SELECT identifier, channel, purpose, granted, occurred_at, seq FROM consent_ledger"
    ).to_pandas()
    ledger = ledger[ledger.channel.isin(channels)].merge(profiles, on="identifier", how="left")
    ledger["profile_id"] = ledger.profile_id.fillna(ledger.identifier)
    latest = ledger.sort_values(["occurred_at", "seq"]).groupby(["profile_id", "channel", "purpose"]).tail(1)
    ads = latest[latest.purpose == "advertising"][["profile_id", "channel", "granted"]].rename(
        columns={"granted": "ad_latest"}
    )
    nights = latest[latest.purpose == "night_advertising"][["profile_id", "channel", "granted"]].rename(
        columns={"granted": "night"}
    )

    # habits of the newest run that wrote them
    runs = store.query_arrow("SELECT run_id, as_of, finished_at, status FROM job_runs").to_pandas()
    facts = store.query_arrow(
        "SELECT run_id, profile_id, facts FROM profile_facts WHERE kind = 'habits'"
    ).to_pandas()
    ok = runs[(runs.status == "ok") & runs.run_id.isin(facts.run_id)].sort_values(["as_of", "finished_at"])
    habits = pd.DataFrame({"profile_id": [], "send_hour": [], "send_channel": []})
    if len(ok):
        mine = facts[facts.run_id == ok.run_id.iloc[-1]]
        parsed = [orjson.loads(f) for f in mine.facts]
        habits = pd.DataFrame(
            {
                "profile_id": mine.profile_id.to_numpy(),
                "send_hour": [p.get("send_hour") for p in parsed],
                "send_channel": [p.get("send_channel") for p in parsed],
            }
        ).drop_duplicates("profile_id")

    # responses to earlier messages, and web-push subscriptions
    outbox = store.query_arrow(
        "SELECT message_key, campaign_id, step, profile_id, channel, kind, state, due_at, sent_at FROM outbox"
    ).to_pandas()
    events = store.query_arrow("SELECT message_key, kind FROM message_events").to_pandas()
    responded = events[events.kind.isin(["opened", "clicked"])].merge(outbox, on="message_key")[
        ["profile_id", "channel"]
    ]
    responded = responded.drop_duplicates().assign(responded=True)
    subs = store.query_arrow("SELECT identifier FROM push_subscriptions WHERE revoked_at IS NULL").to_pandas()
    subs = subs.merge(profiles, on="identifier", how="left")
    subscribed = set(subs.profile_id.fillna(subs.identifier))

    cand = treated.merge(
        pd.DataFrame(
            {
                "channel": channels,
                "format": [formats[c] for c in channels],
                "cost": [float(price.get(formats[c], 0.0)) for c in channels],
                "rank": range(len(channels)),
            }
        ),
        how="cross",
    )
    cand = cand.merge(ads, on=["profile_id", "channel"], how="left").merge(
        nights, on=["profile_id", "channel"], how="left"
    )
    cand = cand.merge(habits, on="profile_id", how="left").merge(
        responded, on=["profile_id", "channel"], how="left"
    )
    cand["ad"] = cand.ad_latest.eq(True)
    cand["withdrawn"] = cand.ad_latest.eq(False)
    cand["night"] = cand.night.eq(True)
    cand["responsive"] = cand.send_channel.eq(cand.channel) | cand.responded.eq(True)
    cand["reachable"] = (cand.channel != "web_push") | cand.profile_id.isin(subscribed)
    cand["allowed"] = cand.reachable & (informational | cand.ad)
    cand["withdrawn_reachable"] = cand.reachable & cand.withdrawn
    per = cand.groupby("profile_id").agg(
        any_reachable=("reachable", "any"),
        any_allowed=("allowed", "any"),
        any_withdrawn=("withdrawn_reachable", "any"),
    )
    picks = (
        cand[cand.allowed]
        .assign(tier=lambda d: (~d.responsive).astype(int))
        .sort_values(["profile_id", "tier", "cost", "rank"])
        .drop_duplicates("profile_id")
        .set_index("profile_id")[["channel", "format", "cost", "night", "responsive"]]
    )
    per = per.join(picks)
    own = habits.set_index("profile_id").send_hour
    per["own_hour"] = per.index.map(
        lambda p: p in own.index and pd.notna(own.get(p)) and 0 <= own.get(p) <= 23
    )
    per["own_hour"] = per.own_hour & (campaign.send_time.mode == "best_hour")
    per["hour"] = [
        int(own[p]) if o else campaign.send_time.hour for p, o in zip(per.index, per.own_hour, strict=True)
    ]
    start = max(at, campaign.start_at) if campaign.start_at else at
    hours = _hour_table(start, zone).set_index("hour")
    per = per.join(hours.rename(columns={"night": "night_hour"}), on="hour")
    per["moved"] = (
        (not informational)
        & per.night_hour
        & per.channel.notna()
        & (per.channel != "email")
        & ~per.night.eq(True)
    )
    per["due_at"] = per.moved_at.where(per.moved, per.planned_at)
    per["due_day"], per["due_week"] = _local_day_week(per.due_at, zone)

    # caps: advertising messages already in the outbox, that shop day and week
    sent = outbox[
        (outbox.kind == "advertising")
        & outbox.state.isin(["queued", "sending", "sent", "unknown"])
        & ~((outbox.campaign_id == campaign_id) & (outbox.step == step.id))
    ].copy()
    sent["when"] = sent.sent_at.fillna(sent.due_at)
    sent["day"], sent["week"] = _local_day_week(sent["when"], zone)
    joined = per.reset_index()[["profile_id", "channel", "due_day", "due_week"]].merge(
        sent[["profile_id", "channel", "day", "week"]].rename(columns={"channel": "sent_channel"}),
        on="profile_id",
    )
    joined["d_all"] = joined.day == joined.due_day
    joined["d_ch"] = joined.d_all & (joined.sent_channel == joined.channel)
    joined["w_all"] = joined.week == joined.due_week
    joined["w_ch"] = joined.w_all & (joined.sent_channel == joined.channel)
    counts = joined.groupby("profile_id")[["d_all", "d_ch", "w_all", "w_ch"]].sum()
    per = per.join(counts).fillna({"d_all": 0, "d_ch": 0, "w_all": 0, "w_ch": 0})

    def reason(r: pd.Series) -> str | None:
        if not r.any_reachable:
            return "unreachable"
        if not r.any_allowed:
            return "opted_out" if r.any_withdrawn else "no_consent"
        if campaign.end_at is not None and r.due_at > pd.Timestamp(campaign.end_at):
            return "after_end"
        if not informational and max(r.d_all, r.d_ch) + 1 > campaign.caps.per_day:
            return "cap_day"
        if not informational and max(r.w_all, r.w_ch) + 1 > campaign.caps.per_week:
            return "cap_week"
        return None

    per["excluded"] = per.apply(reason, axis=1) if len(per) else pd.Series(dtype=object)
    out = members.merge(per.reset_index(), on="profile_id", how="left")
    treated_rows = out.arm == "treated"
    planned = treated_rows & out.excluded.isna()
    timed = planned | out.excluded.isin(["after_end", "cap_day", "cap_week"])
    result = pd.DataFrame(
        {
            "profile_id": out.profile_id,
            "arm": out.arm,
            "status": [
                "holdout" if not t else ("planned" if p else "excluded")
                for t, p in zip(treated_rows, planned, strict=True)
            ],
            "reason": [
                (x if isinstance(x, str) else ("night_deferred" if m is True else None)) if t else None
                for t, x, m in zip(treated_rows, out.excluded, out.moved, strict=True)
            ],
            "channel": out.channel.where(planned, None),
            "format": out.format.where(planned, None),
            "cost": out.cost.where(planned, None),
            "send_hour": out.hour.where(treated_rows, None),
            "hour_basis": [
                ("habits" if o is True else "campaign") if t else None
                for t, o in zip(treated_rows, out.own_hour, strict=True)
            ],
            "channel_basis": [
                (
                    "fixed"
                    if campaign.channel.mode == "fixed"
                    else ("responsive" if r is True else "consented")
                )
                if p
                else None
                for p, r in zip(planned, out.responsive, strict=True)
            ],
            "planned_at": out.planned_at.where(timed, None),
            "due_at": out.due_at.where(timed, None),
        }
    )
    return result.sort_values("profile_id").reset_index(drop=True)[COLUMNS]


CHANNEL_NAMES = ("email", "sms", "kakao", "app_push", "web_push")


def _utc(origin: datetime, seconds: Any) -> Any:
    """``origin`` plus each of ``seconds`` (a numpy array), as Arrow UTC timestamps."""
    import numpy as np
    import pyarrow as pa

    start = np.datetime64(origin.astimezone(ZoneInfo("UTC")).replace(tzinfo=None), "us")
    moments = start + seconds.astype("timedelta64[s]")
    return pa.array(moments.astype("datetime64[us]"), pa.timestamp("us")).cast(pa.timestamp("us", tz="UTC"))


def synthetic_store(store: Store, customers: int, seed: int, at: datetime) -> list[str]:
    """Fill ``store`` with ``customers`` customers (``p0000000``…): identifiers (some with a second
    one, their e-mail hash, under which part of their consent is recorded), consents given,
    withdrawn (some at the very moment they were given: the ledger's order decides) and night
    consents on random channels, habits (send hour and channel) for most, advertising and
    informational messages of another campaign in the outbox around ``at`` in every state, opens
    and clicks of some, and web-push subscriptions (some revoked). Returns the profile ids."""
    import numpy as np
    import pyarrow as pa

    rng = np.random.default_rng(seed)
    n = customers
    pids = np.array([f"p{i:07d}" for i in range(n)], dtype=object)
    user = np.array(["user:" + p for p in pids], dtype=object)
    second = rng.random(n) < 0.2
    mail = np.array(["email:h" + p for p in pids], dtype=object)
    prof = pa.table(
        {
            "identifier": np.concatenate([user, mail[second]]),
            "profile_id": np.concatenate([pids, pids[second]]),
            "kind": np.concatenate(
                [np.full(n, "user", dtype=object), np.full(int(second.sum()), "email", dtype=object)]
            ),
        }
    )
    with store.staged("_syn_profiles", prof) as src:
        store.sql(f"INSERT INTO profiles SELECT identifier, profile_id, kind FROM {src}")

    # consent: per customer and channel, maybe a grant, maybe a later (or simultaneous) withdrawal,
    # maybe a night-time grant; some under the second identifier
    base = at - timedelta(days=400)
    ident, chan, purpose, granted, when = [], [], [], [], []
    for channel in CHANNEL_NAMES:
        gives = rng.random(n) < 0.55
        under = np.where(second & (rng.random(n) < 0.5), mail, user)
        t_give = rng.integers(0, 365 * 24 * 3600, n)
        withdraw = gives & (rng.random(n) < 0.2)
        same = rng.random(n) < 0.25
        t_back = np.where(same, t_give, t_give + rng.integers(1, 30 * 24 * 3600, n))
        night = rng.random(n) < 0.35
        night_under = np.where(rng.random(n) < 0.5, under, user)
        for mask, who, purp, ok, t in (
            (gives, under, "advertising", True, t_give),
            (withdraw, np.where(rng.random(n) < 0.5, under, user), "advertising", False, t_back),
            (night, night_under, "night_advertising", True, t_give + 60),
        ):
            k = int(mask.sum())
            ident.append(who[mask])
            chan.append(np.full(k, channel, dtype=object))
            purpose.append(np.full(k, purp, dtype=object))
            granted.append(np.full(k, ok))
            when.append(t[mask])
    seconds = np.concatenate(when)
    rows = pa.table(
        {
            "identifier": np.concatenate(ident),
            "channel": np.concatenate(chan),
            "purpose": np.concatenate(purpose),
            "granted": np.concatenate(granted),
            "occurred_at": _utc(base, seconds),
        }
    )
    order = rng.permutation(rows.num_rows)  # stored in no particular order: seq alone breaks ties
    rows = rows.take(pa.array(order))
    with store.staged("_syn_consent", rows) as src:
        store.sql(
            f"""INSERT INTO consent_ledger
            SELECT row_number() OVER () AS seq, 'syn' || row_number() OVER (), identifier, channel, purpose,
                   granted, occurred_at, occurred_at, 'signup_form', NULL, 'synthetic' FROM {src}"""
        )

    # habits from one run, for 80 % of the customers; an hour outside 0-23 for a few (ignored)
    has = rng.random(n) < 0.8
    hours = rng.integers(0, 24, n)
    hours[rng.random(n) < 0.01] = 24
    habits = pa.table(
        {
            "profile_id": pids[has],
            "send_hour": hours[has],
            "send_channel": rng.choice(np.array(["app_push", "sms", "email"], dtype=object), n)[has],
        }
    )
    with store.job_run("preferences", at - timedelta(days=1)) as run_id:
        store.write_profile_facts(run_id, at - timedelta(days=1), "habits", habits)

    # another campaign's messages around `at`
    counts = np.where(rng.random(n) < 0.35, rng.integers(1, 4, n), 0)
    owner = np.repeat(pids, counts)
    m = len(owner)
    offsets = rng.integers(-8 * 24 * 3600, 3 * 24 * 3600, m)
    due_arr = _utc(at, offsets)
    states = rng.choice(
        np.array(["queued", "sending", "sent", "failed", "suppressed", "unknown"], dtype=object), m
    )
    channels = rng.choice(np.array(CHANNEL_NAMES, dtype=object), m)
    keys = np.array([f"other-{i}" for i in range(m)], dtype=object)
    outbox = pa.table(
        {
            "message_key": keys,
            "campaign_id": np.full(m, "c_other", dtype=object),
            "step": np.full(m, "s1", dtype=object),
            "profile_id": owner,
            "channel": channels,
            "format": channels,
            "kind": np.where(rng.random(m) < 0.85, "advertising", "informational").astype(object),
            "state": states,
            "due_at": due_arr,
            "planned_at": due_arr,
            "subject": pa.nulls(m, pa.string()),
            "body_text": np.full(m, "x", dtype=object),
            "body_html": pa.nulls(m, pa.string()),
            "template_code": pa.nulls(m, pa.string()),
            "image_url": pa.nulls(m, pa.string()),
            "links": np.full(m, "[]", dtype=object),
            "cost": np.zeros(m),
            "reason": pa.nulls(m, pa.string()),
        }
    )
    # written straight into the table (a fixture: a million OutboxRow objects would only slow it)
    columns = ", ".join(outbox.column_names)
    with store.staged("_syn_outbox", outbox) as src:
        store.sql(
            f"INSERT INTO outbox ({columns}, created_at, updated_at) SELECT {columns}, ?, ? FROM {src}",
            [at, at],
        )
    store.sql("UPDATE outbox SET sent_at = due_at WHERE state = 'sent'")
    opened = rng.random(m) < 0.2
    events = pa.table(
        {
            "message_key": keys[opened],
            "kind": rng.choice(np.array(["opened", "clicked", "delivered"], dtype=object), int(opened.sum())),
        }
    )
    with store.staged("_syn_events", events) as src:
        store.sql(
            f"""INSERT INTO message_events
            SELECT 'e' || row_number() OVER (), e.message_key, 'c_other', 's1', o.profile_id, e.kind, ?, ?, NULL
            FROM {src} e JOIN outbox o USING (message_key)""",
            [at, at],
        )
    subscribed = rng.random(n) < 0.15
    subs = pa.table(
        {
            "identifier": np.where(second & (rng.random(n) < 0.5), mail, user)[subscribed],
            "revoked": rng.random(int(subscribed.sum())) < 0.2,
        }
    )
    with store.staged("_syn_subs", subs) as src:
        store.sql(
            f"""INSERT INTO push_subscriptions (endpoint, identifier, p256dh, auth, created_at, revoked_at)
            SELECT 'https://push.example/' || row_number() OVER (), identifier, 'k', 'a', ?,
                   CASE WHEN revoked THEN ? END FROM {src}""",
            [at, at],
        )
    return list(pids)
