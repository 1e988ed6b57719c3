"""``shopmind uplift CAMPAIGN``: who a finished campaign moved (uplift models on its treated members
and its holdout, judged on a held-out third) and whom a coupon is worth next time, within a budget."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from shopmind.cli._common import (
    EXIT_USAGE,
    AsOfOpt,
    WorkspaceOpt,
    app,
    console,
    fail,
    open_workspace,
    parse_as_of,
)
from shopmind.cli._format import money
from shopmind.core import InvalidInputError

if TYPE_CHECKING:
    from shopmind.measure import CampaignUplift

RANKING_NAMES = {
    "x_learner": "X-learner (uplift) · X-러너(업리프트)",
    "response_model": "response model P(buy | treated) · 반응 모델",
    "random": "random · 무작위",
}


@app.command("uplift")
def uplift(
    campaign: Annotated[str, typer.Argument(help="The campaign's id or name.")],
    budget: Annotated[float, typer.Option(min=0, help="What the coupons may cost in all (won).")] = 1_000_000,
    coupon_cost: Annotated[
        float, typer.Option("--coupon-cost", min=0, help="What sending one coupon costs (won).")
    ] = 3_000,
    discount: Annotated[
        float,
        typer.Option(
            min=0,
            help="What the coupon takes off an order (won): paid also by the customers who would "
            "have bought anyway, so they cost rather than earn.",
        ),
    ] = 0,
    margin: Annotated[
        float, typer.Option(min=0, help="What one order earns after the coupon's discount (won).")
    ] = 20_000,
    top: Annotated[int, typer.Option(min=0, help="How many of the listed customers to print.")] = 20,
    as_of: AsOfOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the whole result as JSON.")] = False,
    workspace: WorkspaceOpt = Path(".shopmind"),
) -> None:
    """Find the customers a campaign persuaded, and whom to send a coupon next.

    Fits an X-learner (gradient-boosted trees) on the campaign's treated members
    and its holdout, with what the store knew of each at the campaign's start
    (RFM, CLV, churn and purchase scores); the outcome is an order within the
    campaign's attribution window. On a held-out third of the members it
    compares the X-learner's ranking with a response model's (who buys when
    sent the message: it ranks the customers who buy anyway first) and a
    random one by the Qini coefficient (1 perfect, 0 no better than random).
    Then lists the customers whose predicted uplift × margin exceeds the
    coupon's cost and the discount they would take on an order placed anyway,
    best first, while the budget lasts.

    The campaign needs a holdout (20 members at least) and some orders. When
    the coupon moves a few points of buying among some of the members, one
    held-out third's Qini is mostly noise even with thousands of members:
    read it as a hint, not a verdict (docs/uplift.md, "How much data this
    needs").

    Example: shopmind uplift "봄 쿠폰" --budget 300000 --margin 30000
    """
    from shopmind.measure import campaign_uplift

    moment = parse_as_of(as_of) if as_of else None
    with open_workspace(workspace) as (_, store):
        try:
            found = campaign_uplift(
                store,
                campaign,
                budget=budget,
                coupon_cost=coupon_cost,
                margin=margin,
                discount=discount,
                as_of=moment,
            )
        except InvalidInputError as exc:
            raise fail(
                str(exc), EXIT_USAGE, hint="a finished campaign with a holdout: 'shopmind campaigns list'"
            ) from None
        except KeyError as exc:  # UnknownCampaignError
            raise fail(str(exc), EXIT_USAGE, hint="'shopmind campaigns list' shows the campaigns") from None
    if as_json:
        typer.echo(json.dumps(found.to_dict(), ensure_ascii=False, indent=2))
        return
    _print(found, top)


def _rate(converted: int, n: int) -> str:
    return f"{converted:,} / {n:,} ({converted / n * 100:.1f}%)" if n else "0"


def _print(found: CampaignUplift, top: int) -> None:
    console.print(
        f"[bold]{found.name}[/] ({found.campaign_id}): {found.members:,} members · 대상 고객, "
        f"ordered within {found.attribution_days} days · {found.attribution_days}일 안에 주문: "
        f"treated · 발송군 {_rate(found.treated_converted, found.treated)}, "
        f"holdout · 대조군 {_rate(found.holdout_converted, found.holdout)}"
    )
    if found.rankings:
        table = Table(title=f"held-out third · 검증용 1/3 ({found.held_out:,} members · 명)")
        table.add_column("ranking · 순위 기준")
        table.add_column("Qini", justify="right")
        table.add_column("AUUC", justify="right")
        for r in found.rankings:
            table.add_row(RANKING_NAMES.get(r.name, r.name), f"{r.qini:+.3f}", f"{r.auuc:+.3f}")
        console.print(table)
    t = found.targets
    console.print(
        f"target list · 쿠폰 대상: {len(t.targets):,} of · 중 {t.candidates:,} customers · 명 "
        f"({t.worth_it:,} worth a coupon · 쿠폰 가치 있음), coupons · 쿠폰 비용 {money(t.spent)} "
        f"of budget · 예산 {money(t.budget)}, expected extra orders · 기대 추가 주문 {t.expected_orders:.1f}, "
        f"expected gain · 기대 이익 {money(t.expected_gain)}"
    )
    if top and t.targets:
        listed = Table()
        listed.add_column("customer · 고객")
        listed.add_column("uplift · 업리프트", justify="right")
        listed.add_column("expected gain · 기대 이익", justify="right")
        for target in t.targets[:top]:
            listed.add_row(target.customer, f"{target.uplift * 100:+.1f}%p", money(target.expected_gain))
        console.print(listed)
    for note in found.notes:
        console.print(f"[yellow]note:[/] {note}")
