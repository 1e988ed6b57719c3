"""``shopmind campaigns ...``: write a campaign in a YAML or JSON file, create it (a draft), preview
what it would send and to whom, schedule it (planned and queued in the outbox), pause, resume or
finish it, and read its results with the uplift over the holdout.

The campaign language is in docs/campaigns.md; ``shopmind campaigns create --file FILE`` checks
the file and names each wrong field with the reason (exit code 2; nothing is stored)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from shopmind.cli._campaign_tables import both, print_preview, results_tables, state
from shopmind.cli._common import (
    EXIT_USAGE,
    AsOfOpt,
    WorkspaceOpt,
    app,
    console,
    declared_error,
    fail,
    open_workspace,
    parse_as_of,
    progress_bars,
    read_declared,
)
from shopmind.cli._format import local_time, money, shop_zone
from shopmind.core import InvalidInputError, ShopmindError, counted, with_particle

if TYPE_CHECKING:  # the activation layer (Jinja2, Arrow) loads with the commands that use it
    from shopmind.activation import Campaign, CampaignSettings
    from shopmind.store import Store, StoredCampaign, Workspace

EXAMPLE = """\
name: 휴면 고객 복귀
audience: {kind: rfm, segments: [about_to_churn, hibernating, lost]}
steps:
  - id: s1
    coupon: "WB-{code}"
    messages:
      sms: {text: "{{ name_or_customer }}님, 다시 만나요. 10% 쿠폰 {{ coupon }}"}
      email: {subject: "{{ name_or_customer }}님, 다시 만나요", text: "쿠폰 {{ coupon }}"}
channel: {mode: cheapest, channels: [kakao, sms, email]}
send_time: {mode: best_hour, hour: 10}
caps: {per_day: 1, per_week: 3}
holdout: 0.1"""

campaigns_app = typer.Typer(
    help="Campaigns: personalised messages by e-mail, SMS, Kakao and push at each customer's best hour, "
    "within Korean advertising law, measured against a holdout. "
    "Write a campaign as a YAML or JSON file (docs/campaigns.md), then: create → preview → schedule "
    "(its messages wait in the outbox; 'shopmind worker' or 'shopmind serve --send' sends them) → results. "
    "A file looks like: name, audience {kind: rfm|segment|band|moved, ...}, steps [{id, messages: "
    "{sms: {text}, email: {subject, text}}, coupon}], channel {mode: cheapest|fixed, channels}, "
    "send_time {mode: best_hour|fixed, hour}, caps {per_day, per_week}, holdout (0.1); "
    "'shopmind campaigns create --help' shows a whole one.",
    no_args_is_help=True,
)
app.add_typer(campaigns_app, name="campaigns")

CampaignArg = Annotated[
    str, typer.Argument(help="A campaign: its id (c_…) or its name (shopmind campaigns list).")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the answer as JSON for scripts.")]
PublicUrlOpt = Annotated[
    str | None,
    typer.Option(
        "--public-url",
        envvar="SHOPMIND_PUBLIC_URL",
        help="The server's address as customers reach it (https://crm.shop.example): the tracked links "
        "and unsubscribe links in the messages point there. Default: http://127.0.0.1:8000.",
    ),
]


def _read(path: Path) -> Campaign:
    """The checked campaign in ``path``; exits 2 naming each bad field (4: unreadable)."""
    from shopmind.activation import parse_campaign, parse_campaign_yaml

    return read_declared(path, parse_campaign, parse_campaign_yaml, what=_WHAT, hint=_HINT, code=EXIT_USAGE)


_WHAT = "the campaign{where} cannot be used · 캠페인을 쓸 수 없습니다"
_HINT = "the campaign file is described in docs/campaigns.md"


def _bad(path: Path | None, exc: InvalidInputError) -> typer.Exit:
    return declared_error(path, exc, what=_WHAT, hint=_HINT, code=EXIT_USAGE)


def _stored(store: Store, key: str) -> StoredCampaign:
    from shopmind.store import UnknownCampaignError, get_campaign

    try:
        return get_campaign(store, key)
    except UnknownCampaignError as exc:
        raise fail(str(exc), EXIT_USAGE, "see the campaigns with: shopmind campaigns list") from None


def _settings(ws: Workspace, public_url: str | None = None) -> CampaignSettings:
    from shopmind.activation import DEFAULT_PUBLIC_URL, campaign_settings
    from shopmind.cli._worker import check_public_url

    url = check_public_url(public_url or DEFAULT_PUBLIC_URL)
    try:
        return campaign_settings(ws, public_url=url, zone=shop_zone())
    except InvalidInputError as exc:  # channels.toml, each field named
        raise fail(str(exc), EXIT_USAGE, "the channels.toml file is described in docs/campaigns.md") from None


def _print_json(data: Any) -> None:
    console.print_json(json.dumps(data, ensure_ascii=False, default=str))


@campaigns_app.command("create")
def campaigns_create(
    file: Annotated[
        Path,
        typer.Option("--file", "-f", help="The campaign: a .yaml, .yml or .json file.", dir_okay=False),
    ],
    workspace: WorkspaceOpt = Path(".shopmind"),
    as_json: JsonOpt = False,
) -> None:
    r"""Keep a campaign as a draft (nothing is planned or sent yet). The file is checked first: each
    wrong field is named with the reason, exit code 2, and nothing is stored. A campaign's name is
    unique. Example (YAML; the templates are Jinja2, see docs/campaigns.md for every field):

    name: 휴면 고객 복귀

    audience: {kind: rfm, segments: \[about_to_churn, hibernating, lost]}

    steps: \[{id: s1, coupon: "WB-{code}", messages: {sms: {text: "{{ name_or_customer }}님, 다시 만나요.
    쿠폰 {{ coupon }}"}, email: {subject: "다시 만나요", text: "쿠폰 {{ coupon }}"}}}]

    channel: {mode: cheapest, channels: \[kakao, sms, email]}

    send_time: {mode: best_hour, hour: 10}

    caps: {per_day: 1, per_week: 3}

    holdout: 0.1"""
    import getpass  # its termios import is paid only by the command that names the author
    from datetime import UTC, datetime

    from shopmind.activation import new_campaign

    campaign = _read(file)
    with open_workspace(workspace) as (_, store):
        try:
            stored = new_campaign(
                store, campaign, created_by=f"cli:{getpass.getuser()}", now=datetime.now(UTC)
            )
        except InvalidInputError as exc:
            raise _bad(file, exc) from None
    if as_json:
        _print_json(stored.to_dict())
        return
    console.print(
        f"created campaign [bold]{stored.campaign_id}[/] (draft) · "
        f"캠페인 {with_particle(f'‘{stored.name}’', '을/를')} 초안으로 만들었습니다"
    )
    console.print(f"next · 다음: shopmind campaigns preview {stored.campaign_id}", highlight=False)


@campaigns_app.command("list")
def campaigns_list(
    workspace: WorkspaceOpt = Path(".shopmind"),
    state_filter: Annotated[
        str | None,
        typer.Option(
            "--state", help="Only campaigns in this state: draft, scheduled, running, paused, finished."
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """The campaigns, newest first, with their state and how many messages wait or went."""
    from shopmind.store import list_campaigns, outbox_counts

    with open_workspace(workspace) as (_, store):
        try:
            found = list_campaigns(store, state_filter)
        except InvalidInputError as exc:
            raise fail(str(exc), EXIT_USAGE) from None
        outbox = {c.campaign_id: outbox_counts(store, c.campaign_id) for c in found}
    if as_json:
        _print_json([{**c.to_dict(), "outbox": outbox[c.campaign_id]} for c in found])
        return
    if not found:
        console.print("no campaigns yet · 캠페인이 없습니다 (shopmind campaigns create --file FILE)")
        return
    table = Table(title=f"campaigns · 캠페인: {len(found)}")
    table.add_column("id", no_wrap=True)
    table.add_column(both("name", "이름"))
    table.add_column(both("state", "상태"))
    table.add_column(both("queued", "대기"), justify="right")
    table.add_column(both("sent", "발송"), justify="right")
    table.add_column(both("created", "만든 때"))
    for c in found:
        counts = outbox[c.campaign_id]
        table.add_row(
            c.campaign_id,
            c.name,
            state(c.state),
            f"{counts['queued']:,}",
            f"{counts['sent']:,}",
            local_time(c.created_at),
        )
    console.print(table)


@campaigns_app.command("show")
def campaigns_show(
    campaign: CampaignArg, workspace: WorkspaceOpt = Path(".shopmind"), as_json: JsonOpt = False
) -> None:
    """A campaign: its state, members (treated and holdout), its messages in the outbox by state,
    and its whole definition as YAML (defaults written out)."""
    from shopmind.activation import campaign_yaml, stored_definition
    from shopmind.store import member_counts, outbox_counts

    with open_workspace(workspace) as (_, store):
        stored = _stored(store, campaign)
        members = member_counts(store, stored.campaign_id)
        outbox = outbox_counts(store, stored.campaign_id)
    definition = stored_definition(stored)
    if as_json:
        _print_json(
            {
                **stored.to_dict(),
                "members": members,
                "outbox": outbox,
                "definition": json.loads(stored.definition),
            }
        )
        return
    console.print(
        f"[bold]{escape(stored.name)}[/] ({stored.campaign_id}) · {state(stored.state)}", highlight=False
    )
    console.print(
        f"members · 고객: treated · 발송 대상군 {members['treated']:,}, holdout · 대조군 {members['holdout']:,}"
    )
    console.print(
        "outbox · 발송함: "
        + ", ".join(f"{k} {v:,}" for k, v in outbox.items() if v or k in ("queued", "sent")),
        highlight=False,
    )
    console.print(campaign_yaml(definition), markup=False, highlight=False)


@campaigns_app.command("preview")
def campaigns_preview(
    campaign: Annotated[
        str,
        typer.Argument(
            help="A stored campaign (id or name), or a campaign file (.yaml/.json) not yet created."
        ),
    ],
    workspace: WorkspaceOpt = Path(".shopmind"),
    customers: Annotated[
        int, typer.Option("--customers", "-n", min=0, max=20, help="Sample customers whose message to show.")
    ] = 3,
    customer: Annotated[
        list[str], typer.Option("--customer", help="Show this customer's message (profile id; repeatable).")
    ] = [],  # noqa: B006 (typer reads the default, never mutates it)
    as_of: AsOfOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """What the campaign would send, planned for its whole audience now (nothing is written):
    how many customers are planned, held out and excluded by reason (no consent, opted out, caps,
    no address), how many messages were moved out of the night (21:00–08:00 needs night-time
    consent), messages per channel, the estimated cost and when they go; then the finished
    message of a few sample customers ("(광고)", the sender and the opt-out added as the law
    wants) with its format (SMS/LMS, 알림톡, e-mail, push), its length in bytes as the carriers
    count it, and anything that would stop it."""
    from shopmind.activation import preview_campaign, stored_definition

    file = Path(campaign)
    from_file = file.suffix.lower() in (".yaml", ".yml", ".json") and file.is_file()
    definition = _read(file) if from_file else None
    moment = parse_as_of(as_of)
    with open_workspace(workspace) as (ws, store):
        stored = None if from_file else _stored(store, campaign)
        checked = definition if definition is not None else stored_definition(stored)  # type: ignore[arg-type]
        settings = _settings(ws)
        with progress_bars() as progress:
            progress("planning", 0, 1)
            try:
                shown = preview_campaign(
                    store,
                    settings,
                    checked,
                    at=moment,
                    campaign_id=stored.campaign_id if stored else None,
                    customers=customers,
                    profile_ids=customer,
                )
            except InvalidInputError as exc:
                raise _bad(file if from_file else None, exc) from None
            progress("planning", 1, 1)
    if as_json:
        _print_json(shown.to_dict())
        return
    print_preview(console, shown)


@campaigns_app.command("schedule")
def campaigns_schedule(
    campaign: CampaignArg,
    workspace: WorkspaceOpt = Path(".shopmind"),
    public_url: PublicUrlOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Plan a draft campaign for its audience as it is now and queue its messages in the outbox,
    each at its customer's best hour (or the campaign's), all in one go: a failure leaves it a
    draft with nothing queued. Every member is recorded with their arm (the holdout is measured
    too). Prints what was queued, per channel, and when it goes. The messages are sent by
    'shopmind worker' (or 'shopmind serve --send'); pause, resume and finish control it. A
    campaign triggered by segment entry or an event is only marked scheduled (its journeys queue
    each customer's steps as they come)."""
    from datetime import UTC, datetime

    from shopmind.activation import due_hours, schedule_stored
    from shopmind.cli._campaign_tables import counts_table, due_table

    with open_workspace(workspace) as (ws, store):
        stored = _stored(store, campaign)
        settings = _settings(ws, public_url)
        with progress_bars() as progress:
            try:
                done = schedule_stored(
                    store, settings, stored.campaign_id, now=datetime.now(UTC), progress=progress
                )
            except InvalidInputError as exc:
                raise _bad(None, exc) from None
            except ShopmindError as exc:  # not a draft
                raise fail(str(exc), EXIT_USAGE) from None
    due = due_hours(done.plan) if done.plan is not None else ()
    if as_json:
        _print_json(
            {
                **done.campaign.to_dict(),
                "members": done.members,
                "queued": done.queued,
                "counts": done.plan.counts.to_dict() if done.plan else None,
                "due": [{"at": at.isoformat(), "messages": n} for at, n in due],
            }
        )
        return
    name = done.campaign.name
    if done.plan is None:
        console.print(
            f"scheduled {name}: its trigger queues each customer's messages as they come · "
            f"{with_particle(f'‘{name}’', '을/를')} 예약했습니다. 조건에 맞는 고객이 생길 때마다 메시지를 보냅니다"
        )
        return
    console.print(
        f"scheduled [bold]{escape(name)}[/]: queued {counted(done.queued, 'message')} for "
        f"{counted(done.members, 'member')} · "
        f"{with_particle(f'‘{name}’', '을/를')} 예약했습니다. 메시지 {done.queued:,}건이 발송을 기다립니다",
        highlight=False,
    )
    console.print(counts_table(done.plan.counts, both("what was queued", "대기열에 넣은 메시지")))
    if due:
        console.print(due_table(due))
    console.print(
        "sent by · 발송: shopmind worker --contacts members.csv (or shopmind serve --send)", highlight=False
    )


def _move(campaign: str, workspace: Path, action: str) -> StoredCampaign:
    from datetime import UTC, datetime

    from shopmind import activation

    move = {
        "pause": activation.pause_campaign,
        "resume": activation.resume_campaign,
        "finish": activation.finish_campaign,
    }[action]
    with open_workspace(workspace) as (_, store):
        stored = _stored(store, campaign)
        try:
            return move(store, stored.campaign_id, now=datetime.now(UTC))
        except ShopmindError as exc:
            raise fail(str(exc), EXIT_USAGE) from None


@campaigns_app.command("pause")
def campaigns_pause(campaign: CampaignArg, workspace: WorkspaceOpt = Path(".shopmind")) -> None:
    """Stop sending: the sender claims none of its queued messages until it is resumed."""
    after = _move(campaign, workspace, "pause")
    console.print(
        f"paused {after.name} · {with_particle(f'‘{after.name}’', '을/를')} 일시 중지했습니다 (resume · 재개: "
        f"shopmind campaigns resume {after.campaign_id})",
        highlight=False,
    )


@campaigns_app.command("resume")
def campaigns_resume(campaign: CampaignArg, workspace: WorkspaceOpt = Path(".shopmind")) -> None:
    """Send again what a pause held back (messages due meanwhile go at once)."""
    after = _move(campaign, workspace, "resume")
    console.print(f"resumed {after.name} · ‘{after.name}’ 발송을 다시 시작했습니다", highlight=False)


@campaigns_app.command("finish")
def campaigns_finish(campaign: CampaignArg, workspace: WorkspaceOpt = Path(".shopmind")) -> None:
    """End the campaign: nothing more of it is sent (its results stay readable)."""
    after = _move(campaign, workspace, "finish")
    console.print(
        f"finished {after.name} · {with_particle(f'‘{after.name}’', '을/를')} 종료했습니다", highlight=False
    )


@campaigns_app.command("results")
def campaigns_results(
    campaign: CampaignArg,
    workspace: WorkspaceOpt = Path(".shopmind"),
    as_of: AsOfOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """What the campaign did, per step: messages planned, sent, delivered, opened, clicked,
    converted (an order by the customer within the attribution window after the message), revenue
    and cost; and the uplift over the holdout with 95% intervals: conversion rate and revenue per
    customer of the treated against the holdout, the incremental conversions and revenue, and the
    incremental revenue minus what the messages cost."""
    from shopmind.activation import campaign_results

    moment = parse_as_of(as_of)
    with open_workspace(workspace) as (_, store):
        stored = _stored(store, campaign)
        results = campaign_results(store, stored.campaign_id, as_of=moment)
    if as_json:
        _print_json({"name": stored.name, "state": stored.state, **results.to_dict()})
        return
    console.print(
        f"[bold]{escape(stored.name)}[/] · {state(stored.state)} · as of · 기준 {local_time(results.as_of)} · "
        f"attribution · 구매 인정 기간 {results.attribution_days} days · 일",
        highlight=False,
    )
    if not results.steps:
        console.print("nothing queued yet · 아직 보낸 메시지가 없습니다")
    for table in results_tables(results):
        console.print(table)
    net = results.uplift.net_revenue
    if net is not None:
        verdict = (
            "paid for itself · 비용보다 많이 벌었습니다"
            if net.low > 0
            else "lost money · 비용보다 적게 벌었습니다"
            if net.high < 0
            else "not yet distinguishable from zero · 아직 0과 구별되지 않습니다"
        )
        console.print(f"incremental revenue − cost · 추가 매출 − 비용: {money(net.estimate)} ({verdict})")
