"""``shopmind export``: an audience (a score band, a segment, a list of profile ids) to CSV or
Parquet, to an ad platform's hashed customer list, or to a webhook; the export log; the webhook
destinations. Every command works through a running server too (the server reads and writes the
files, on this machine)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from shopmind.cli._common import (
    EXIT_BAD_FILE,
    EXIT_USAGE,
    WorkspaceOpt,
    app,
    console,
    err_console,
    fail,
    open_workspace,
)
from shopmind.cli._data import _remembered
from shopmind.cli._format import local_time
from shopmind.core import ImportFileError, InvalidInputError

if TYPE_CHECKING:
    from shopmind.audiences import Audience
    from shopmind.store import Store

export_app = typer.Typer(
    help="Export an audience · 오디언스 내보내기: CSV/Parquet, the ad platforms' hashed customer lists "
    "(google, meta, kakao, naver), a signed webhook; 'shopmind export log' lists what left.",
    no_args_is_help=True,
)
destinations_app = typer.Typer(help="Webhook destinations (URL and signing secret).", no_args_is_help=True)
export_app.add_typer(destinations_app, name="destinations")
app.add_typer(export_app, name="export")

BandOpt = Annotated[
    str | None,
    typer.Option(
        "--band",
        help="SCORE:LOW-HIGH of the latest run holding the score, e.g. purchase_probability_7d:0.3-0.6.",
    ),
]
SegmentOpt = Annotated[
    str | None,
    typer.Option(
        "--segment",
        help="A segment's members now: an RFM segment key (vip, loyal, about_to_churn, ...), a persona (persona_2) or a saved "
        "segment's id (shopmind segments list).",
    ),
]
ProfilesOpt = Annotated[
    Path | None,
    typer.Option("--profiles", help="A text file of profile ids, one a line (e.g. user:m000123)."),
]
OutOpt = Annotated[Path, typer.Option("--output", "-o", help="The file to write.")]


def actor() -> str:
    """Who runs the command, for the export log."""
    import getpass  # its termios import is paid only by the commands that log an export

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no user name in a bare container
        return "cli"


def choose_audience(store: Store, band: str | None, segment: str | None, profiles: Path | None) -> Audience:
    """The audience of exactly one of ``--band``, ``--segment``, ``--profiles``."""
    from shopmind.audiences import audience_from_ids, parse_band, score_band_audience, segment_audience

    given = [name for name, v in (("--band", band), ("--segment", segment), ("--profiles", profiles)) if v]
    if len(given) != 1:
        raise fail(
            "say who to export with exactly one of --band, --segment or --profiles"
            + (f" (given: {', '.join(given)})" if given else ""),
            EXIT_USAGE,
            "e.g. --band purchase_probability_7d:0.3-0.6",
        )
    try:
        if band:
            return score_band_audience(store, *parse_band(band))
        if segment:
            return segment_audience(store, segment)
        assert profiles is not None
        if not profiles.is_file():
            raise fail(f"{profiles}: no such file", EXIT_BAD_FILE)
        ids = [line.strip() for line in profiles.read_text(encoding="utf-8-sig").splitlines() if line.strip()]
        return audience_from_ids(ids, label=f"profile list {profiles.name}")
    except InvalidInputError as exc:
        raise fail(str(exc), EXIT_USAGE) from None


def _said(record: object) -> None:
    from shopmind.store import ExportRecord

    assert isinstance(record, ExportRecord)
    detail = json.loads(record.detail)
    console.print(
        f"exported {record.members:,} customers · {record.members:,}명 내보냄 ({record.format} → {record.destination}); "
        f"export id {record.export_id}"
    )
    left = {k: detail[k] for k in ("unknown", "no_consent", "no_contact") if detail.get(k)}
    if left:
        reasons = {
            "unknown": "not in the store (erased or unknown)",
            "no_consent": "no ad consent on the channel",
            "no_contact": "no usable row in the contact file",
        }
        for key, count in left.items():
            console.print(f"  left out: {count:,} {reasons[key]}")


@export_app.command("csv")
def export_csv(
    output: OutOpt,
    band: BandOpt = None,
    segment: SegmentOpt = None,
    profiles: ProfilesOpt = None,
    workspace: WorkspaceOpt = Path(".shopmind"),
) -> None:
    """The audience as CSV (profile id, member id, segment, scores; opens safely in Excel)."""
    _export_file("csv", output, band, segment, profiles, workspace)


@export_app.command("parquet")
def export_parquet(
    directory: Annotated[
        Path | None,
        typer.Argument(
            help="The lake directory to write: the shop's events, orders, order lines, products, profiles, "
            "consents and scores as Parquet, partitioned by day (docs/data-layout.md)."
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="With --band, --segment or --profiles: the audience file to write."
        ),
    ] = None,
    band: BandOpt = None,
    segment: SegmentOpt = None,
    profiles: ProfilesOpt = None,
    replace: Annotated[
        bool,
        typer.Option("--replace", help="Replace the lake's table folders already in DIR (nothing else)."),
    ] = False,
    zone: Annotated[
        str | None,
        typer.Option(
            help="The time zone of the day partitions (default: the shop's, SHOPMIND_SHOP_TIMEZONE)."
        ),
    ] = None,
    workspace: WorkspaceOpt = Path(".shopmind"),
) -> None:
    """The whole shop as an open Parquet lake in DIR (Spark, DuckDB and pandas read it as is), or an
    audience as one Parquet file (-o FILE with --band, --segment or --profiles: profile id, member
    id, segment, scores)."""
    if band or segment or profiles or output:
        if directory is not None:
            raise fail(
                f"give either a lake directory ({directory}) or an audience file (-o with --band, --segment "
                "or --profiles), not both",
                EXIT_USAGE,
            )
        if output is None:
            raise fail("an audience export needs the file to write: -o FILE", EXIT_USAGE)
        _export_file("parquet", output, band, segment, profiles, workspace)
        return
    if directory is None:
        raise fail(
            "say where to write: shopmind export parquet DIR (the whole shop), or -o FILE with --band, "
            "--segment or --profiles (an audience)",
            EXIT_USAGE,
        )
    _export_lake(directory, replace, zone, workspace)


def _export_lake(directory: Path, replace: bool, zone: str | None, workspace: Path) -> None:
    from shopmind.cli._format import shop_zone
    from shopmind.store import LakeError, export_lake

    with open_workspace(workspace) as (_, store):
        try:
            report = export_lake(store, directory, zone=zone or shop_zone(), replace=replace, actor=actor())
        except LakeError as exc:
            raise fail(str(exc), EXIT_BAD_FILE) from None
        except InvalidInputError as exc:
            raise fail(str(exc), EXIT_USAGE) from None
    table = Table(title=f"lake written · 내보낸 데이터: {report.directory} (days in {report.zone})")
    for column, justify in (("table", "left"), ("rows", "right"), ("files", "right")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for name, rows, files in report.tables:
        table.add_row(name, f"{rows:,}", f"{files:,}")
    console.print(table)
    console.print(f"read it back with: shopmind import parquet {report.directory}")


def _export_file(
    fmt: str, output: Path, band: str | None, segment: str | None, profiles: Path | None, workspace: Path
) -> None:
    from shopmind.audiences import export_file

    with open_workspace(workspace) as (ws, store):
        audience = choose_audience(store, band, segment, profiles)
        record = export_file(store, audience, fmt, output, hasher=ws.hasher(), actor=actor())
    _said(record)


def _platform_command(key: str, name: str, confirmed: bool) -> Callable[..., None]:
    def command(
        output: OutOpt,
        contacts: Annotated[
            Path,
            typer.Option(
                "--contacts",
                help="The shop's contact file (CSV, Parquet or XLSX; e.g. the member export with "
                "아이디, 이메일, 휴대폰). Read now, never stored.",
            ),
        ],
        band: BandOpt = None,
        segment: SegmentOpt = None,
        profiles: ProfilesOpt = None,
        map_: Annotated[
            list[str] | None,
            typer.Option(
                "--map", help="FIELD=COLUMN of the contact file, repeatable: member_id, email, phone."
            ),
        ] = None,
        encoding: Annotated[
            str, typer.Option(help="The contact file's text encoding (cp949 for many Korean Excel exports).")
        ] = "utf-8",
        consent: Annotated[
            str | None,
            typer.Option(
                "--consent",
                help="Which ad-consent channel lets each identifier leave: email=CHANNEL,phone=CHANNEL "
                "(default email=email,phone=sms).",
            ),
        ] = None,
        columns: Annotated[
            str | None,
            typer.Option("--columns", help="Rename the two columns: EMAIL_HEADER,PHONE_HEADER."),
        ] = None,
        workspace: WorkspaceOpt = Path(".shopmind"),
    ) -> None:
        from shopmind.audiences import ConsentChannels, export_for_platform

        header: tuple[str, str] | None = None
        if columns:
            parts = [c.strip() for c in columns.split(",")]
            if len(parts) != 2 or not all(parts):
                raise typer.BadParameter("expected EMAIL_HEADER,PHONE_HEADER", param_hint="--columns")
            header = (parts[0], parts[1])
        mapping = _remembered(workspace, "contacts", map_, False) or None
        try:
            channels = ConsentChannels.parse(consent)
        except InvalidInputError as exc:
            raise fail(str(exc), EXIT_USAGE) from None
        with open_workspace(workspace) as (ws, store):
            audience = choose_audience(store, band, segment, profiles)
            try:
                record = export_for_platform(
                    store,
                    audience,
                    key,
                    contacts,
                    output,
                    hasher=ws.hasher(),
                    actor=actor(),
                    channels=channels,
                    contact_columns=mapping,
                    encoding=encoding,
                    columns=header,
                )
            except ImportFileError as exc:
                raise fail(str(exc), EXIT_BAD_FILE) from None
            except InvalidInputError as exc:
                raise fail(str(exc), EXIT_USAGE) from None
        _said(record)
        if not confirmed:
            err_console.print(
                f"[yellow]note:[/] the {name} layout could not be confirmed in its documentation: check the "
                "platform's current template before uploading (rename with --columns); see docs/exports.md"
            )

    command.__doc__ = (
        f"{name}: a customer list of SHA-256 hashes of normalised e-mail and phone, for the audience "
        "members in the contact file whose ad consent allows it."
    )
    return command


for _key, _name, _confirmed in (
    ("google", "Google Ads Customer Match", True),
    ("meta", "Meta Custom Audiences", True),
    ("kakao", "Kakao Moment 고객파일", False),
    ("naver", "Naver 맞춤 타겟", False),
):
    export_app.command(_key)(_platform_command(_key, _name, _confirmed))


@export_app.command("webhook")
def export_webhook(
    destination: Annotated[
        str, typer.Option("--destination", "-d", help="A destination's name (see destinations).")
    ],
    band: BandOpt = None,
    segment: SegmentOpt = None,
    profiles: ProfilesOpt = None,
    batch_size: Annotated[int, typer.Option(help="Members a request (1-10000).")] = 500,
    workspace: WorkspaceOpt = Path(".shopmind"),
) -> None:
    """POST the audience to a webhook in signed JSON batches (retried with backoff on 5xx/timeouts)."""
    from shopmind.audiences import DeliveryError, UnknownDestinationError, export_to_webhook

    with open_workspace(workspace) as (ws, store):
        audience = choose_audience(store, band, segment, profiles)
        try:
            record = export_to_webhook(
                store, audience, destination, hasher=ws.hasher(), actor=actor(), batch_size=batch_size
            )
        except UnknownDestinationError as exc:
            raise fail(str(exc), EXIT_USAGE, "list them with: shopmind export destinations list") from None
        except InvalidInputError as exc:
            raise fail(str(exc), EXIT_USAGE) from None
        except DeliveryError as exc:
            raise fail(f"{exc} (the export log has it as failed)", EXIT_BAD_FILE) from None
    _said(record)


@export_app.command("log")
def export_log_cmd(
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
    workspace: WorkspaceOpt = Path(".shopmind"),
) -> None:
    """What left · 내보내기 기록: when, which audience, how many, in which format, to whom, who ran it."""
    from shopmind.store import export_log

    with open_workspace(workspace) as (_, store):
        records = export_log(store, limit)
    if as_json:
        console.print_json(json.dumps([r.to_dict() for r in records], ensure_ascii=False))
        return
    if not records:
        console.print("no exports yet · 내보낸 기록이 없습니다")
        return
    table = Table(title="exports · 내보내기 기록")
    for column, justify in (
        ("when", "left"),
        ("format", "left"),
        ("audience", "left"),
        ("customers", "right"),
        ("to", "left"),
        ("by", "left"),
        ("status", "left"),
        ("id", "left"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for r in records:
        table.add_row(
            local_time(r.started_at),
            r.format,
            r.audience,
            f"{r.members:,}",
            r.destination,
            r.actor,
            r.status,
            r.export_id,
        )
    console.print(table)


@destinations_app.command("add")
def destinations_add(
    name: Annotated[str, typer.Argument(help="A name for the destination, e.g. crm.")],
    url: Annotated[str, typer.Argument(help="The receiver's http(s) URL.")],
    secret: Annotated[
        str | None,
        typer.Option(help="The signing secret the receiver holds (default: a new random one, printed once)."),
    ] = None,
    workspace: WorkspaceOpt = Path(".shopmind"),
) -> None:
    """Add a webhook destination; prints its signing secret (keep it for the receiver)."""
    from shopmind.audiences import add_webhook

    with open_workspace(workspace) as (_, store):
        try:
            destination, key = add_webhook(store, name, url, created_by=actor(), secret=secret)
        except InvalidInputError as exc:
            raise fail(str(exc), EXIT_USAGE) from None
    console.print(f"added {destination.name} → {destination.url}")
    if secret is None:
        console.print(f"signing secret (shown once; the receiver checks signatures with it): {key}")


@destinations_app.command("list")
def destinations_list(workspace: WorkspaceOpt = Path(".shopmind")) -> None:
    """The webhook destinations (without their secrets)."""
    from shopmind.store import destinations

    with open_workspace(workspace) as (_, store):
        found = destinations(store)
    if not found:
        console.print("no destinations · 등록된 대상이 없습니다 (shopmind export destinations add NAME URL)")
        return
    table = Table(title="destinations")
    for column in ("name", "url", "added", "by"):
        table.add_column(column)
    for d in found:
        table.add_row(d.name, d.url, local_time(d.created_at), d.created_by)
    console.print(table)


@destinations_app.command("remove")
def destinations_remove(
    name: Annotated[str, typer.Argument(help="The destination's name.")],
    workspace: WorkspaceOpt = Path(".shopmind"),
) -> None:
    """Forget a webhook destination and its secret."""
    from shopmind.store import remove_destination

    with open_workspace(workspace) as (_, store):
        removed = remove_destination(store, name)
    if not removed:
        raise fail(
            f"no destination {name!r}", EXIT_USAGE, "list them with: shopmind export destinations list"
        )
    console.print(f"removed {name}")
