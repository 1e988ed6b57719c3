"""``shopmind consent ...``: the advertising consent ledger (정보통신망법 제50조). Import a member
export's 수신동의 columns, show a customer's consent now and whether advertising may go to them,
every change with when and how, who is due the two-yearly notice of consent status (§50⑧),
and record a consent, a withdrawal or a notice by hand. Times are shown in the shop's zone."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated
from zoneinfo import ZoneInfo

import typer
from rich.table import Table

from shopmind.cli._common import (
    EXIT_BAD_FILE,
    EXIT_USAGE,
    WorkspaceOpt,
    app,
    console,
    fail,
    open_workspace,
    progress_bars,
)
from shopmind.cli._data import ForgetMapOpt, _print_report, _remembered
from shopmind.cli._format import local_time, shop_zone
from shopmind.core import ImportFileError, InvalidInputError, label, term, to_utc

if TYPE_CHECKING:  # the store is imported where it is used: ``shopmind --help`` stays quick
    from shopmind.core import IdentifierHasher
    from shopmind.store import ConsentFact, ProfileConsent, SendDecision, Store

#: ``shopmind.store.CHANNELS`` and ``METHODS``, for the help (a test keeps them equal)
CHANNEL_NAMES = ("email", "sms", "kakao", "app_push", "web_push")
METHOD_NAMES = (
    "signup_form",
    "checkout",
    "reply_080",
    "unsubscribe_link",
    "import",
    "api",
    "tracker",
    "admin",
)

consent_app = typer.Typer(
    help="Advertising consent (정보통신망법 §50): import, show, history, who is due the two-yearly notice.",
    no_args_is_help=True,
)
app.add_typer(consent_app, name="consent")

ProfileArg = Annotated[
    str,
    typer.Argument(
        help="The customer: a profile id (user:m003412), a member or anonymous id, or a phone number or "
        "e-mail address as typed (hashed with the workspace key, never stored)."
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def _moment(value: str | None, option: str) -> datetime | None:
    """A date (its midnight in the shop's zone) or an ISO time (without an offset: the shop's)."""
    if value is None:
        return None
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), time(0), ZoneInfo(shop_zone())).astimezone(UTC)
        return to_utc(datetime.fromisoformat(value), shop_zone())
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not a date (YYYY-MM-DD) or ISO time", param_hint=option
        ) from None


def _both(kind: str, code: str) -> str:
    """A code's words in English and Korean, as the command line shows names."""
    return f"{label(kind, code, 'en')} · {label(kind, code, 'ko')}"


def _term(key: str) -> str:
    """A glossary term in English and Korean."""
    return f"{term(key, 'en')} · {term(key, 'ko')}"


def _customer(store: Store, reference: str, hasher: IdentifierHasher) -> str:
    from shopmind.store import resolve_customer

    found = resolve_customer(store, reference, hasher)
    if found is None:
        raise fail(
            f"no customer {reference!r}",
            EXIT_USAGE,
            "give a profile id (user:m003412), a member id, or the phone number or e-mail they gave",
        )
    return found


@consent_app.command("import")
def consent_import(
    file: Annotated[Path, typer.Argument(help="CSV, Parquet or XLSX member export with 수신동의 columns.")],
    workspace: WorkspaceOpt = Path(".shopmind"),
    map_: Annotated[
        list[str] | None,
        typer.Option(
            "--map",
            help="FIELD=COLUMN, repeatable (without any, the usual Korean column names are found: 아이디, "
            "휴대폰번호, 이메일, SMS 수신여부, 이메일 수신여부, 수신동의일, …). Fields: user_id, anonymous_id, "
            "email, phone; consent_<channel> and night_<channel> (channels email, sms, kakao, app_push, "
            "web_push); occurred_at and occurred_at_<channel>; text_version.",
        ),
    ] = None,
    exported_at: Annotated[
        str | None,
        typer.Option(
            help="When the export was taken (YYYY-MM-DD or an ISO time): the date of rows without one. "
            "Needed when the file has no date column."
        ),
    ] = None,
    method: Annotated[
        str, typer.Option(help=f"How the consents were collected: {', '.join(METHOD_NAMES)}.")
    ] = "import",
    text_version: Annotated[
        str | None, typer.Option(help="The version of the consent text the members agreed to.")
    ] = None,
    forget_map: ForgetMapOpt = False,
) -> None:
    """Import advertising consent from a member export (e.g. Cafe24's 회원 목록: Y/N or 수신/수신거부
    columns per channel). Contact columns are hashed, never stored; bad rows go to the quarantine;
    re-importing a file stores nothing twice; an undated row only records a change."""
    from shopmind.ingest import import_consents

    mapping = _remembered(workspace, "consents", map_, forget_map) or None
    when = _moment(exported_at, "--exported-at")
    with open_workspace(workspace) as (ws, store), progress_bars() as progress:
        try:
            report = import_consents(
                store,
                file,
                hasher=ws.hasher(),
                mapping=mapping,
                exported_at=when,
                zone=shop_zone(),
                method=method,
                text_version=text_version,
                progress=progress,
            )
        except ImportFileError as exc:
            raise fail(str(exc), EXIT_BAD_FILE) from None
    raise typer.Exit(_print_report(report))


def _fact(fact: ConsentFact | None) -> str:
    if fact is None:
        return "not recorded · 기록 없음"
    state = "granted · 동의" if fact.granted else "refused · 거부"
    return f"{state}  {local_time(fact.occurred_at)}, {_both('consent_method', fact.method)}"


def _decision(decision: SendDecision) -> str:
    text = _both("consent_reason", decision.reason)
    if decision.reason == "withdrawn" and decision.since:
        text += f" ({local_time(decision.since)})"
    return ("yes · 가능: " if decision.allowed else "no · 불가: ") + text


@consent_app.command("show")
def consent_show(
    profile: ProfileArg,
    workspace: WorkspaceOpt = Path(".shopmind"),
    at: Annotated[
        str | None,
        typer.Option(
            help="Whether advertising may be sent at this moment (YYYY-MM-DD or ISO time). Default: now."
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """A customer's advertising consent now, per channel (and at night), whether an advertising
    message may go to them (at --at), and their last and next consent-status notice."""
    from shopmind.store import consent_state, decide_advertising

    moment = _moment(at, "--at") or datetime.now(UTC)
    with open_workspace(workspace) as (ws, store):
        profile_id = _customer(store, profile, ws.hasher())
        state: ProfileConsent = consent_state(store, profile_id)
    decisions = {c.channel: decide_advertising(c, moment, shop_zone()) for c in state.channels}
    if as_json:
        found = {**state.to_dict(), "may_send": {k: d.to_dict() for k, d in decisions.items()}}
        console.print_json(json.dumps(found, ensure_ascii=False))
        return
    table = Table(title=f"{profile_id}: {_term('consent.advertising')}")
    for column in (
        "channel · 채널",
        "advertising · 광고 수신",
        "at night · 야간 수신",
        f"may send at {local_time(moment)}",
    ):
        table.add_column(column)
    for c in state.channels:
        night = "no night-time rule · 야간 제한 없음" if c.channel == "email" else _fact(c.night)
        table.add_row(
            _both("channel", c.channel), _fact(c.advertising), night, _decision(decisions[c.channel])
        )
    console.print(table)
    last = local_time(state.last_notice_at) if state.last_notice_at else "never · 없음"
    due = f", next due by {local_time(state.notice_due_at)}" if state.notice_due_at else ""
    console.print(f"{_term('consent.notice')} (every two years · 2년마다): last {last}{due}")
    console.print(
        "informational messages (orders, delivery) · 정보성 메시지: allowed without advertising consent"
    )


@consent_app.command("history")
def consent_history_cmd(
    profile: ProfileArg, workspace: WorkspaceOpt = Path(".shopmind"), as_json: JsonOpt = False
) -> None:
    """Every change of a customer's advertising consent, oldest first: when they did it and when it
    was stored (shop time), channel, given or withdrawn, how, the text version, which of their
    identifiers it came for and from where; and the consent-status notices they were sent."""
    from shopmind.store import consent_history, notice_history, profile_identifiers

    with open_workspace(workspace) as (ws, store):
        profile_id = _customer(store, profile, ws.hasher())
        identifiers = profile_identifiers(store, profile_id)
        entries = consent_history(store, identifiers)
        notices = notice_history(store, identifiers)
    if as_json:
        found = {
            "profile_id": profile_id,
            "entries": [e.to_dict() for e in entries],
            "notices": [n.to_dict() for n in notices],
        }
        console.print_json(json.dumps(found, ensure_ascii=False))
        return
    table = Table(title=f"{profile_id}: {_term('consent.history')} ({len(entries)} changes)")
    for column in (
        "happened · 시각",
        "stored · 기록",
        "channel · 채널",
        "what · 내용",
        "how · 방법",
        "text · 문구",
        "for · 식별자",
        "source · 출처",
    ):
        table.add_column(column, overflow="fold")
    for e in entries:
        what = ("granted · 동의" if e.granted else "refused · 거부") + (
            " (night · 야간)" if e.purpose == "night_advertising" else ""
        )
        table.add_row(
            local_time(e.occurred_at),
            local_time(e.recorded_at),
            _both("channel", e.channel),
            what,
            _both("consent_method", e.method),
            e.text_version or "",
            e.identifier,
            e.source,
        )
    console.print(table)
    if notices:
        sent = Table(title=f"sent · 발송: {_term('consent.notice')}")
        for column in ("sent · 발송", "stored · 기록", "channel · 채널", "text · 문구"):
            sent.add_column(column)
        for n in notices:
            sent.add_row(
                local_time(n.sent_at),
                local_time(n.recorded_at),
                _both("channel", n.channel),
                n.text_version or "",
            )
        console.print(sent)


@consent_app.command("due")
def consent_due(
    workspace: WorkspaceOpt = Path(".shopmind"),
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Due by this day (YYYY-MM-DD) or time. Default: now.")
    ] = None,
    within: Annotated[int, typer.Option(min=0, help="Also those due in the next N days.")] = 0,
    limit: Annotated[int, typer.Option(min=1, help="Rows to show on screen.")] = 20,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write every customer due to this CSV file.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Customers due the consent-status notice (§50⑧: every two years from their advertising
    consent, or from their last notice): who, for which channels, since when, due by when."""
    from shopmind.cli._customers import _write_csv
    from shopmind.store import notices_due

    moment = _moment(as_of, "--as-of") or datetime.now(UTC)
    with open_workspace(workspace) as (_, store):
        due = notices_due(store, moment, within=timedelta(days=within))
    if output:
        _write_csv(
            output,
            ("profile_id", "channels", "consented_at", "last_notice_at", "due_at"),
            (
                (
                    d.profile_id,
                    " ".join(d.channels),
                    d.consented_at.isoformat(),
                    d.last_notice_at.isoformat() if d.last_notice_at else "",
                    d.due_at.isoformat(),
                )
                for d in due
            ),
        )
    if as_json:
        console.print_json(json.dumps([d.to_dict() for d in due], ensure_ascii=False))
        return
    horizon = f" (and the next {within} days)" if within else ""
    table = Table(
        title=f"{term('consent.notice', 'en')} due · {term('consent.notice', 'ko')} 대상, by {local_time(moment)}"
        f"{horizon}: {len(due):,} customers"
    )
    for column in (
        "customer · 고객",
        "channels · 채널",
        "consented · 동의",
        "last notice · 마지막 안내",
        "due by · 기한",
    ):
        table.add_column(column)
    for d in due[:limit]:
        table.add_row(
            d.profile_id,
            ", ".join(label("channel", c, "en") for c in d.channels),
            local_time(d.consented_at),
            local_time(d.last_notice_at) if d.last_notice_at else "never · 없음",
            local_time(d.due_at),
        )
    console.print(table)
    if due:
        console.print(
            "after sending them the notice, record it: shopmind consent notice-sent --all-due --channel email"
        )


@consent_app.command("record")
def consent_record(
    profile: ProfileArg,
    channel: Annotated[str, typer.Option(help=f"One of: {', '.join(CHANNEL_NAMES)}.")],
    granted: Annotated[
        bool, typer.Option("--granted/--withdrawn", help="Consent given, or refused or withdrawn.")
    ],
    workspace: WorkspaceOpt = Path(".shopmind"),
    night: Annotated[bool, typer.Option("--night", help="The night-time (21:00-08:00) consent.")] = False,
    method: Annotated[str, typer.Option(help=f"How: {', '.join(METHOD_NAMES)}.")] = "admin",
    at: Annotated[
        str | None, typer.Option(help="When the customer did it (YYYY-MM-DD or ISO time). Default: now.")
    ] = None,
    text_version: Annotated[
        str | None, typer.Option(help="The version of the consent text they saw.")
    ] = None,
) -> None:
    """Record a consent or withdrawal the customer gave another way (a phone call, a letter, the
    counter): appended to the ledger, nothing is changed or lost."""
    from shopmind.store import SUBJECT_KINDS, ConsentEntry, consent_state, record_consents, resolve_customer

    moment = _moment(at, "--at") or datetime.now(UTC)
    with open_workspace(workspace) as (ws, store):
        hasher = ws.hasher()
        subject = resolve_customer(store, profile, hasher) or _new_subject(profile, hasher, SUBJECT_KINDS)
        entry = ConsentEntry(
            identifier=subject,
            channel=channel,
            granted=granted,
            occurred_at=moment,
            method=method,
            purpose="night_advertising" if night else "advertising",
            text_version=text_version,
            source="cli",
        )
        try:
            written = record_consents(store, [entry])
        except InvalidInputError as exc:
            raise fail(str(exc).replace("entries.0.", ""), EXIT_USAGE) from None
        state = consent_state(store, subject).channel(channel)
    what = "night-time consent" if night else "consent"
    done = "recorded" if written.inserted else "already recorded"
    console.print(
        f"{done}: {subject} {_both('channel', channel)} {what} {'granted' if granted else 'refused or withdrawn'}"
        f" at {local_time(moment)}; now {_fact(state.night if night else state.advertising)}"
    )


def _new_subject(reference: str, hasher: IdentifierHasher, kinds: tuple[str, ...]) -> str:
    """The identifier of a customer the store does not know yet: ``user:…`` as given, or a phone
    number or e-mail address hashed."""
    kind, sep, value = reference.partition(":")
    if sep and kind in kinds and value:
        return reference
    if "@" in reference and (email := hasher.email(reference)):
        return f"email:{email}"
    if (phone := hasher.phone(reference)) is not None:
        return f"phone:{phone}"
    raise fail(
        f"no customer {reference!r}",
        EXIT_USAGE,
        "name a new customer by an identifier (user:m123), a phone number or an e-mail address",
    )


@consent_app.command("notice-sent")
def consent_notice_sent(
    profiles: Annotated[list[str] | None, typer.Argument(help="The customers the notice went to.")] = None,
    channel: Annotated[str, typer.Option(help=f"How it went out: {', '.join(CHANNEL_NAMES)}.")] = "email",
    workspace: WorkspaceOpt = Path(".shopmind"),
    all_due: Annotated[
        bool, typer.Option("--all-due", help="Every customer 'shopmind consent due' lists (with --as-of).")
    ] = False,
    as_of: Annotated[str | None, typer.Option("--as-of", help="With --all-due: due by this day.")] = None,
    sent_at: Annotated[
        str | None, typer.Option(help="When it went out (YYYY-MM-DD or ISO time). Default: now.")
    ] = None,
    text_version: Annotated[str | None, typer.Option(help="The version of the notice's text.")] = None,
) -> None:
    """Record that the consent-status notice (§50⑧) went out to customers: their two years start
    again from it."""
    from shopmind.store import ConsentNotice, notices_due, record_notices

    if not profiles and not all_due:
        raise fail("name the customers, or give --all-due", EXIT_USAGE)
    moment = _moment(sent_at, "--sent-at") or datetime.now(UTC)
    with open_workspace(workspace) as (ws, store):
        targets = [_customer(store, p, ws.hasher()) for p in profiles or []]
        if all_due:
            targets += [d.profile_id for d in notices_due(store, _moment(as_of, "--as-of") or moment)]
        notices = [
            ConsentNotice(t, channel, moment, text_version=text_version, source="cli")
            for t in dict.fromkeys(targets)
        ]
        try:
            written = record_notices(store, notices)
        except InvalidInputError as exc:
            raise fail(str(exc), EXIT_USAGE) from None
    console.print(
        f"recorded the {_term('consent.notice')} of {written.inserted:,} customers "
        f"({written.duplicates:,} already recorded), sent {local_time(moment)} by {_both('channel', channel)}"
    )
