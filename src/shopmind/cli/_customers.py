"""``shopmind customers ...``: segments, lists, probability bands, movement, VIPs at risk, dormant
former VIPs, look-alikes and one profile, read from the stored runs."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TextIO

import typer
from rich.table import Table

from shopmind.cli._common import (
    EXIT_USAGE,
    WorkspaceOpt,
    console,
    customers_app,
    fail,
    open_workspace,
    parse_as_of,
)
from shopmind.cli._format import local_date, local_time, money, score_value
from shopmind.core import GLOSSARY, UnknownProfileError, counted, label

if TYPE_CHECKING:  # the rest is imported where it is used: ``shopmind --help`` stays quick
    from shopmind.store import Store


def _run_or_fail(
    store: Store, as_of: datetime | None = None, job: str = "customer_intelligence"
) -> tuple[str, datetime]:
    latest = store.latest_run(job, before=as_of)
    if latest is None:
        raise fail(f"no {job.replace('_', '-')} run yet", EXIT_USAGE, "run: shopmind run --as-of YYYY-MM-DD")
    return latest


def _private(path: Path) -> TextIO:
    """``path`` opened for writing, readable by its owner only: exports list customers."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # a file that was there keeps its mode otherwise
    return os.fdopen(fd, "w", encoding="utf-8", newline="")


def _write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[object]]) -> int:
    from shopmind.segments import write_csv

    with _private(path) as fh:
        count = write_csv(fh, header, rows)  # a cell that starts like a formula is written as text
    console.print(f"wrote {counted(count, 'customer')} to {path}")
    return count


def _names(key: str) -> dict[str, str]:
    """A segment's or list's names, the glossary's (as pipeline.segment_label, without loading it)."""
    ko, en = GLOSSARY.get(f"segment.{key}") or GLOSSARY.get(f"list.{key}") or (key, key)
    return {"key": key, "ko": ko, "en": en}


def _number(value: float | None, spec: str) -> str:
    return "" if value is None else format(value, spec)


OutputOpt = Annotated[
    Path | None, typer.Option("--output", "-o", help="Write every listed profile to this CSV file.")
]
LimitOpt = Annotated[int, typer.Option(min=1, help="Rows to show on screen.")]


@customers_app.command("segments")
def customers_segments(workspace: WorkspaceOpt = Path(".shopmind")) -> None:
    """Profiles per segment in the latest run, with each segment's rule."""
    from shopmind.segments import SEGMENTS

    with open_workspace(workspace) as (_, store):
        run_id, moment = _run_or_fail(store)
        rows = store.sql(
            "SELECT segment, count(*) FROM segment_members WHERE run_id = ? GROUP BY segment ORDER BY 2 DESC",
            [run_id],
        )
    table = Table(title=f"segments as of {local_date(moment)}")
    # the key is what --segment takes; the names are the glossary's, as on the dashboard
    for col in ("key", "segment", "세그먼트", "rule", "customers"):
        table.add_column(col, justify="right" if col == "customers" else "left")
    for key, count in rows:
        seg = SEGMENTS.get(key)
        name = _names(key)
        table.add_row(
            key, name["en"], name["ko"], seg.rule if seg else "top 20% by 12-month CLV", f"{count:,}"
        )
    console.print(table)


@customers_app.command("list")
def customers_list(
    workspace: WorkspaceOpt = Path(".shopmind"),
    segment: Annotated[str, typer.Option(help="Segment key, e.g. vip, dormant_vip, clv_vip.")] = "clv_vip",
    limit: Annotated[int, typer.Option(min=1)] = 20,
    output: OutputOpt = None,
) -> None:
    """The profiles of a segment in the latest run, highest CLV first."""
    with open_workspace(workspace) as (_, store):
        run_id, _ = _run_or_fail(store)
        rows = store.sql(
            """SELECT m.profile_id,
                max(CASE WHEN s.name = 'clv_12m' THEN s.value END) AS clv,
                max(CASE WHEN s.name = 'p_alive' THEN s.value END) AS p_alive,
                max(CASE WHEN s.name = 'revenue' THEN s.value END) AS revenue
            FROM segment_members m LEFT JOIN scores s ON s.run_id = m.run_id AND s.profile_id = m.profile_id
            WHERE m.run_id = ? AND m.segment = ? GROUP BY m.profile_id ORDER BY clv DESC NULLS LAST, revenue DESC NULLS LAST""",
            [run_id, segment],
        )
    if output:
        _write_csv(output, ("profile_id", "clv_12m", "p_alive", "revenue"), rows)
    name = _names(segment)
    table = Table(title=f"{name['en']} · {name['ko']}: {counted(len(rows), 'customer')}")
    for col in ("customer", "CLV 12m", "P(alive)", "revenue so far"):
        table.add_column(col, justify="left" if col == "customer" else "right")
    for pid, clv, alive, revenue in rows[:limit]:
        table.add_row(
            pid,
            money(clv),
            "" if alive is None else f"{alive:.2f}",
            money(revenue),
        )
    console.print(table)


@customers_app.command("band")
def customers_band(
    workspace: WorkspaceOpt = Path(".shopmind"),
    low: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Lowest purchase probability, e.g. 0.3.")
    ] = 0.5,
    high: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Highest purchase probability, e.g. 0.6.")
    ] = 1.0,
    horizon: Annotated[int, typer.Option(min=1, help="The horizon the probability was run with.")] = 7,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the customers of the band to this CSV file.")
    ] = None,
) -> None:
    """The profiles whose purchase probability lies in [--low, --high]: count, expected buyers and,
    with --output, the audience as CSV (profile_id, probability), most likely buyers first."""
    from shopmind.models import probability_bands
    from shopmind.pipeline import score_name

    if high <= low:
        raise fail("--high must be above --low", EXIT_USAGE, "e.g. --low 0.3 --high 0.6")
    with open_workspace(workspace) as (_, store):
        latest = store.latest_run("purchase_probability")
        if latest is None:
            raise fail("no purchase-probability run yet", EXIT_USAGE, "run: shopmind run --as-of YYYY-MM-DD")
        rows = store.sql(
            "SELECT profile_id, value FROM scores WHERE run_id = ? AND name = ? AND value >= ? AND value <= ? "
            "ORDER BY value DESC, profile_id",
            [latest[0], score_name(horizon), low, high],
        )
    (band,) = probability_bands([v for _, v in rows], edges=[low, high]) if rows else (None,)
    expected = band.expected_buyers if band else 0.0
    console.print(
        f"{counted(len(rows), 'customer')} with P(buy within {counted(horizon, 'day')}) in [{low:.0%}, {high:.0%}] · "
        f"expected buyers {expected:,.1f}"
    )
    if output:
        _write_csv(output, ("profile_id", "probability"), rows)


@customers_app.command("moved")
def customers_moved(
    workspace: WorkspaceOpt = Path(".shopmind"),
    from_: Annotated[str, typer.Option("--from", help="Segment in the earlier run, e.g. vip.")] = "vip",
    to: Annotated[str, typer.Option(help="Segment in the latest run, e.g. dormant_vip.")] = "dormant_vip",
    since: Annotated[
        str | None, typer.Option(help="Compare with the latest run before this date (YYYY-MM-DD).")
    ] = None,
) -> None:
    """Segment movement between two runs, e.g. VIPs who became dormant this month."""
    with open_workspace(workspace) as (_, store):
        latest_id, latest_at = _run_or_fail(store)
        earlier = store.latest_run("customer_intelligence", before=parse_as_of(since) if since else latest_at)
        if earlier is None:
            raise fail(
                "only one run: nothing to compare with",
                EXIT_USAGE,
                "run: shopmind run --as-of <an earlier date>",
            )
        rows = store.sql(
            """SELECT b.profile_id FROM segment_members b JOIN segment_members a USING (profile_id)
            WHERE b.run_id = ? AND b.segment = ? AND a.run_id = ? AND a.segment = ? ORDER BY 1""",
            [earlier[0], from_, latest_id, to],
        )
        flows = store.sql(
            """SELECT b.segment, a.segment, count(*) FROM segment_members b JOIN segment_members a USING (profile_id)
            WHERE b.run_id = ? AND a.run_id = ? AND b.segment <> 'clv_vip' AND a.segment <> 'clv_vip'
            GROUP BY ALL ORDER BY 3 DESC LIMIT 15""",
            [earlier[0], latest_id],
        )
    table = Table(title=f"movement {local_date(earlier[1])} → {local_date(latest_at)}")
    for col in ("from", "to", "customers"):
        table.add_column(col)
    named = {
        key: f"{n['en']} · {n['ko']}"
        for key in {*(f[0] for f in flows), *(f[1] for f in flows), from_, to}
        for n in [_names(key)]
    }
    for a, b, n in flows:
        table.add_row(named[a], named[b], f"{n:,}")
    console.print(table)
    console.print(
        f"{counted(len(rows), 'customer')} moved from {named[from_]} to {named[to]}: "
        + ", ".join(r[0] for r in rows[:20])
    )


@customers_app.command("at-risk")
def customers_at_risk(
    workspace: WorkspaceOpt = Path(".shopmind"), limit: LimitOpt = 20, output: OutputOpt = None
) -> None:
    """VIPs at risk · 이탈 위험 VIP: today's VIPs (top 20% by CLV) whose churn risk is at least the
    run's --at-risk threshold, riskiest first, with their CLV (the value at stake)."""
    with open_workspace(workspace) as (_, store):
        run_id, moment = _run_or_fail(store, job="churn_risk")
        intelligence = store.run_at("customer_intelligence", moment)
        rows = store.sql(
            """SELECT m.profile_id, r.value AS risk, c.value AS clv, v.value AS revenue
            FROM segment_members m
            JOIN scores r ON r.run_id = m.run_id AND r.profile_id = m.profile_id AND r.name = 'churn_risk'
            LEFT JOIN scores c ON c.run_id = ? AND c.profile_id = m.profile_id AND c.name = 'clv_12m'
            LEFT JOIN scores v ON v.run_id = ? AND v.profile_id = m.profile_id AND v.name = 'revenue'
            WHERE m.run_id = ? AND m.segment = 'vip_at_risk' ORDER BY risk DESC, clv DESC NULLS LAST, 1""",
            [intelligence, intelligence, run_id],
        )
    if output:
        _write_csv(output, ("profile_id", "churn_risk", "clv_12m", "revenue"), rows)
    table = Table(title=f"VIPs at risk · 이탈 위험 VIP as of {local_date(moment)}: {len(rows):,}")
    for col in ("customer", "churn risk", "CLV 12m", "revenue so far"):
        table.add_column(col, justify="left" if col == "customer" else "right")
    for pid, risk, clv, revenue in rows[:limit]:
        table.add_row(pid, f"{risk:.0%}", money(clv), money(revenue))
    console.print(table)


@customers_app.command("dormant-vips")
def customers_dormant_vips(
    workspace: WorkspaceOpt = Path(".shopmind"), limit: LimitOpt = 20, output: OutputOpt = None
) -> None:
    """Dormant VIPs · 휴면 VIP: former VIPs, frequent, high-spending buyers who have stopped buying
    (RFM R <= 2, F >= 4, M >= 4), biggest spenders first, with their days since the last purchase
    and churn risk: the win-back list."""
    with open_workspace(workspace) as (_, store):
        run_id, moment = _run_or_fail(store)
        churn = store.run_at("churn_risk", moment)
        rows = store.sql(
            """SELECT m.profile_id, v.value AS revenue, round(7 * (t.value - r.value)) AS days_since,
                k.value AS risk
            FROM segment_members m
            LEFT JOIN scores v ON v.run_id = m.run_id AND v.profile_id = m.profile_id AND v.name = 'revenue'
            LEFT JOIN scores t ON t.run_id = m.run_id AND t.profile_id = m.profile_id AND t.name = 'T_weeks'
            LEFT JOIN scores r ON r.run_id = m.run_id AND r.profile_id = m.profile_id AND r.name = 'recency_weeks'
            LEFT JOIN scores k ON k.run_id = ? AND k.profile_id = m.profile_id AND k.name = 'churn_risk'
            WHERE m.run_id = ? AND m.segment = 'dormant_vip' ORDER BY revenue DESC NULLS LAST, 1""",
            [churn, run_id],
        )
    if output:
        _write_csv(output, ("profile_id", "revenue", "days_since_last_purchase", "churn_risk"), rows)
    table = Table(title=f"dormant VIPs · 휴면 VIP as of {local_date(moment)}: {len(rows):,}")
    for col in ("customer", "revenue so far", "days since last purchase", "churn risk"):
        table.add_column(col, justify="left" if col == "customer" else "right")
    for pid, revenue, days, risk in rows[:limit]:
        table.add_row(pid, money(revenue), _number(days, ".0f"), _number(risk, ".0%"))
    console.print(table)


@customers_app.command("lookalikes")
def customers_lookalikes(
    workspace: WorkspaceOpt = Path(".shopmind"), limit: LimitOpt = 20, output: OutputOpt = None
) -> None:
    """VIP look-alikes · VIP 유사 고객: non-VIPs whose behaviour looks like today's VIPs' behaviour
    before they were VIPs, likeliest first, with the features that drive each score."""
    with open_workspace(workspace) as (_, store):
        run_id, moment = _run_or_fail(store, job="vip_lookalike")
        rows = store.sql(
            """SELECT m.profile_id, s.value, f.facts FROM segment_members m
            JOIN scores s ON s.run_id = m.run_id AND s.profile_id = m.profile_id AND s.name = 'vip_lookalike'
            LEFT JOIN profile_facts f ON f.run_id = m.run_id AND f.profile_id = m.profile_id
                AND f.kind = 'vip_lookalike'
            WHERE m.run_id = ? AND m.segment = 'could_become_vip' ORDER BY 2 DESC, 1""",
            [run_id],
        )
    listed = [(pid, p, _drivers(facts)) for pid, p, facts in rows]
    if output:
        _write_csv(output, ("profile_id", "probability", "drivers"), listed)
    table = Table(title=f"VIP look-alikes · VIP 유사 고객 as of {local_date(moment)}: {len(rows):,}")
    for col in ("customer", "probability", "why (top features)"):
        table.add_column(col, justify="right" if col == "probability" else "left")
    for pid, p, drivers in listed[:limit]:
        table.add_row(pid, f"{p:.0%}", drivers)
    console.print(table)


def _drivers(facts: str | None) -> str:
    if not facts:
        return ""
    return "; ".join(
        f"{label('feature', d['feature'], 'en')} (+{d['contribution']:.2f})"
        for d in json.loads(facts)["drivers"]
    )


@customers_app.command("show")
def customers_show(
    profile: Annotated[str, typer.Argument(help="A profile id, e.g. user:m003412 (see customers list).")],
    workspace: WorkspaceOpt = Path(".shopmind"),
    as_json: Annotated[bool, typer.Option("--json", help="Print everything as JSON for scripts.")] = False,
) -> None:
    """One customer: segment, scores of the latest runs (CLV, P(alive), churn risk, purchase
    probability, could-become-VIP and its drivers), taste, and best time and channel."""
    from shopmind.pipeline import latest_scores, segment_label

    with open_workspace(workspace) as (_, store):
        if not store.sql("SELECT 1 FROM profiles WHERE profile_id = ?", [profile]):
            raise fail(f"no profile {profile!r}", EXIT_USAGE, "list some with: shopmind customers list")
        scores, segments = latest_scores(store, profile)
        facts = {kind: store.profile_facts(profile, kind) for kind in ("taste", "habits", "vip_lookalike")}
    found = {
        "profile_id": profile,
        "segments": segments,
        "scores": scores,
        **{kind: value for kind, value in facts.items() if value is not None},
    }
    if as_json:
        console.print_json(json.dumps(found, ensure_ascii=False, default=str))
        return
    console.print(f"[bold]{profile}[/]")
    for key in segments:
        names = segment_label(key)
        console.print(f"segment · 세그먼트: {names['en']} · {names['ko']}")
    table = Table(title="scores · 점수")
    table.add_column("score")
    table.add_column("점수")
    table.add_column("value", justify="right")
    for name, value in scores.items():
        table.add_row(label("score", name, "en"), label("score", name, "ko"), score_value(name, value))
    console.print(table)
    taste = facts["taste"]
    if taste:
        categories = ", ".join(c["category"] for c in taste["top_categories"]) or "-"
        brands = ", ".join(b["brand"] for b in taste["top_brands"]) or "-"
        console.print(f"taste · 취향: categories {categories} · brands {brands}")
        for kind in ("bought", "viewed"):
            if taste.get(f"{kind}_price_avg") is not None:
                console.print(
                    f"  {kind} prices: average {money(taste[f'{kind}_price_avg'])} "
                    f"(range {money(taste[f'{kind}_price_min'])}-{money(taste[f'{kind}_price_max'])})"
                )
        if taste["interests"]:
            console.print("  interests: " + ", ".join(i["keyword"] for i in taste["interests"]))
    habits = facts["habits"]
    if habits:
        days = "월화수목금토일"
        for kind, verb in (("browse", "browses"), ("buy", "buys")):
            if habits[f"{kind}_hour"] is not None:
                console.print(
                    f"{verb} around {habits[f'{kind}_hour']:02d}:00 on {days[habits[f'{kind}_weekday']]}요일, "
                    f"on {label('device', habits[f'{kind}_device'], 'en')} ({label('channel', habits[f'{kind}_channel'], 'en')})"
                )
        basis = {"profile": "their own history", "segment": "their segment", "shop": "the whole shop"}
        console.print(
            f"best send time · 최적 발송: {habits['send_hour']:02d}:00 by {label('channel', habits['send_channel'], 'en')} "
            f"(from {basis[habits['send_basis']]})"
        )
    look = facts["vip_lookalike"]
    if look:
        console.print(
            f"VIP look-alike · VIP 유사도: {look['probability']:.0%} · why: "
            + ("; ".join(label("feature", d["feature"], "en") for d in look["drivers"]) or "-")
        )


@customers_app.command("erase")
def customers_erase(
    profile: Annotated[
        str, typer.Argument(help="A profile id (e.g. user:m003412), a user id or an anonymous id.")
    ],
    workspace: WorkspaceOpt = Path(".shopmind"),
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Erase without asking to confirm.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the counts as JSON for scripts.")] = False,
    compact: Annotated[
        bool,
        typer.Option(
            help="Rewrite the store file afterwards, so the deleted rows leave no bytes behind in "
            "freed blocks (takes about as long as reading the store)."
        ),
    ] = True,
) -> None:
    """Erase a customer · 개인정보 삭제: every stored row holding any of their identifiers or
    hashes (events, orders, identities, scores, findings, memberships, decisions, consents,
    quarantined input), in one transaction. Only a record that an erasure happened stays."""
    from shopmind.store import compact_store, erase_profile, resolve_person

    with open_workspace(workspace) as (ws, store):
        found = resolve_person(store, profile)
        if found is not None and not yes:
            profile_id, identifiers = found
            question = (
                f"erase everything stored about {profile_id} ({counted(len(identifiers), 'identifier')})? "
                "This cannot be undone"
            )
            if not typer.confirm(question, default=False):
                raise fail("nothing erased", EXIT_USAGE, "add --yes to erase without being asked")
        try:
            erased = erase_profile(store, profile, ws.hasher())
        except UnknownProfileError as exc:
            raise fail(str(exc), EXIT_USAGE, "list some with: shopmind customers list") from None
    if compact:  # also after an erasure by the server, which cannot rewrite the file it holds
        compact_store(ws.store_path)
    if as_json:
        console.print_json(json.dumps(erased.to_dict(), ensure_ascii=False))
        return
    if erased.erasure_id is None:
        when = ", ".join(local_time(at) for at in erased.erased_before)
        console.print(f"nothing left to erase: {profile} was erased before ({when})")
        return
    table = Table(title=f"erased {erased.profile_id}: {counted(erased.total, 'row')}")
    table.add_column("table")
    table.add_column("rows deleted", justify="right")
    for name, count in erased.counts:
        table.add_row(name, f"{count:,}")
    console.print(table)
    if erased.models_removed:
        console.print(
            f"also removed the stored models learned from their data ({', '.join(erased.models_removed)}): "
            "the next 'shopmind run' stores them again"
        )
