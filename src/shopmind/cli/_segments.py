"""``shopmind segments ...``: define a segment in a JSON or YAML file, preview how many customers
it holds and who, save it, list and show the saved ones, list and export their members.

The definition language is in docs/segments.md; ``shopmind segments preview FILE`` checks a file
and says which field is wrong and why."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from shopmind.cli._common import (
    EXIT_BAD_FILE,
    EXIT_USAGE,
    AsOfOpt,
    WorkspaceOpt,
    app,
    console,
    declared_error,
    err_console,
    fail,
    open_workspace,
    parse_as_of,
    read_declared,
)
from shopmind.cli._format import local_time, money
from shopmind.core import GLOSSARY, InvalidInputError

if TYPE_CHECKING:  # the segments' compiler (Ibis) loads with the commands that use it
    from shopmind.segments import Definition, DefinitionWarning, SavedSegment
    from shopmind.store import Store

segments_app = typer.Typer(
    help="Segments defined by what customers did and who they are: preview, save, list, members, export. "
    "A definition is a JSON or YAML file (see docs/segments.md), e.g. "
    '{"name": {"ko": "문의하기를 누른 고객"}, "conditions": [{"kind": "event", "name": "문의하기 클릭"}]}.',
    no_args_is_help=True,
)
app.add_typer(segments_app, name="segments")

DefinitionArg = Annotated[
    Path,
    typer.Argument(
        help="The definition: a .json, .yaml or .yml file (names in Korean and English, conditions).",
        exists=False,
        dir_okay=False,
    ),
]
SegmentArg = Annotated[
    str,
    typer.Argument(help="A saved segment: its id or its name in Korean or English (shopmind segments list)."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the answer as JSON for scripts.")]


class ExportFormat(StrEnum):
    csv = "csv"
    parquet = "parquet"


def _read(path: Path) -> Definition:
    """The checked definition in ``path``; exits 4 naming each bad field."""
    from shopmind.segments import parse_definition, parse_yaml

    return read_declared(path, parse_definition, parse_yaml, what=_WHAT, hint=_HINT, code=EXIT_BAD_FILE)


_WHAT = "the segment definition{where} cannot be used"
_HINT = "the definition language is described in docs/segments.md"


def _bad(path: Path | None, exc: InvalidInputError) -> typer.Exit:
    return declared_error(path, exc, what=_WHAT, hint=_HINT, code=EXIT_BAD_FILE)


def _warn(warnings: tuple[DefinitionWarning, ...] | list[DefinitionWarning]) -> None:
    for w in warnings:
        err_console.print(f"[yellow]warning:[/] {w}", highlight=False)


def _names(key: str) -> tuple[str, str]:
    """A segment's names (Korean, English), the glossary's."""
    ko, en = GLOSSARY.get(f"segment.{key}") or GLOSSARY.get(f"list.{key}") or (key, key)
    return ko, en


def _both(key: str) -> str:
    """``dormant VIP · 휴면 VIP`` (once when both read the same)."""
    ko, en = _names(key)
    return en if ko == en else f"{en} · {ko}"


def _customers_table(title: str, rows: list[dict[str, Any]], entered: bool = False) -> Table:
    table = Table(title=title)
    for col in (
        "customer · 고객",
        "member id · 회원 ID",
        "segment · 세그먼트",
        "revenue · 구매액",
        "CLV 12m",
    ):
        table.add_column(col, justify="right" if col.startswith(("revenue", "CLV")) else "left")
    if entered:
        table.add_column("entered · 들어온 때")
    for r in rows:
        cells = [
            r["profile_id"],
            (r["member"] or "").removeprefix("user:"),
            _both(r["segment"]) if r["segment"] else "-",
            money(r["revenue"]),
            money(r["clv_12m"]),
        ]
        if entered:
            cells.append(local_time(r["entered_at"]))
        table.add_row(*cells)
    return table


def _saved_or_fail(store: Store, key: str) -> SavedSegment:
    from shopmind.segments import UnknownSegmentError, find_segment

    try:
        return find_segment(store, key)
    except UnknownSegmentError as exc:
        raise fail(str(exc), EXIT_USAGE, "see the saved segments with: shopmind segments list") from None


def _title(definition: Definition) -> str:
    ko, en = definition.name.text("ko"), definition.name.text("en")
    return ko if ko == en else f"{ko} · {en}"


@segments_app.command("preview")
def segments_preview(
    definition: DefinitionArg,
    workspace: WorkspaceOpt = Path(".shopmind"),
    as_of: AsOfOpt = None,
    sample: Annotated[int, typer.Option(min=0, max=100, help="Customers to show.")] = 10,
    as_json: JsonOpt = False,
) -> None:
    """How many customers a definition holds (without saving it), how many in each RFM segment,
    and a few of them, highest revenue first. Checks the file: a wrong field is named with the
    reason; names the shop has never seen (an event, a category) are warned about with the
    closest known ones."""
    from shopmind.segments import preview

    checked = _read(definition)
    moment = parse_as_of(as_of)
    with open_workspace(workspace) as (_, store):
        try:
            shown = preview(store, checked, as_of=moment, sample=sample)
        except InvalidInputError as exc:
            raise _bad(definition, exc) from None
    if as_json:
        console.print_json(json.dumps(shown.to_dict(), ensure_ascii=False, default=str))
        return
    _warn(shown.warnings)
    console.print(f"[bold]{_title(checked)}[/]")
    console.print(
        f"as of {local_time(shown.as_of)}: {shown.count:,} customers · 고객 {shown.count:,}명 "
        f"[dim]({shown.seconds:.2f} s)[/]"
    )
    if shown.by_segment:
        table = Table(title="by RFM segment · RFM 세그먼트별")
        for col in ("segment", "세그먼트", "customers · 고객"):
            table.add_column(col, justify="right" if col.startswith("customers") else "left")
        for key, n in shown.by_segment:
            ko, en = _names(key) if key != "(none)" else ("세그먼트 없음", "no segment")
            table.add_row(en, ko, f"{n:,}")
        console.print(table)
    if shown.sample:
        console.print(_customers_table("some of them · 일부 고객", list(shown.sample)))


@segments_app.command("create")
def segments_create(
    definition: DefinitionArg,
    workspace: WorkspaceOpt = Path(".shopmind"),
    as_of: AsOfOpt = None,
    count: Annotated[
        bool, typer.Option("--count/--no-count", help="Count the members now (their history starts here).")
    ] = True,
    as_json: JsonOpt = False,
) -> None:
    """Save a definition as a segment and count its members as of --as-of (default: now); each
    later 'shopmind segments refresh' records who entered and who left."""
    from shopmind.segments import create_segment

    checked = _read(definition)
    moment = parse_as_of(as_of)
    with open_workspace(workspace) as (_, store):
        try:
            saved = create_segment(store, checked, as_of=moment, materialize=count)
        except InvalidInputError as exc:
            raise _bad(definition, exc) from None
    if as_json:
        console.print_json(json.dumps(saved.to_dict(), ensure_ascii=False, default=str))
        return
    _warn(saved.warnings)
    console.print(
        f"saved segment [bold]{saved.segment_id}[/] · 세그먼트를 저장했습니다: {_title(saved.definition)}"
    )
    if count:
        console.print(
            f"{saved.members:,} customers as of {local_time(moment)} · {local_time(moment)} 기준 고객 {saved.members:,}명"
        )


@segments_app.command("refresh")
def segments_refresh(
    segment: SegmentArg,
    workspace: WorkspaceOpt = Path(".shopmind"),
    as_of: AsOfOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Count a saved segment's members again as of --as-of (default: now): who entered, who left."""
    from shopmind.segments import materialize

    moment = parse_as_of(as_of)
    with open_workspace(workspace) as (_, store):
        segment = _saved_or_fail(store, segment).segment_id
        try:
            change = materialize(store, segment, as_of=moment)
        except InvalidInputError as exc:
            raise fail(str(exc), EXIT_USAGE) from None
    found = {"id": segment, "members": change.members, "entered": change.entered, "exited": change.exited}
    if as_json:
        console.print_json(json.dumps(found))
        return
    console.print(
        f"{segment}: {change.members:,} customers (+{change.entered:,} entered, -{change.exited:,} left) · "
        f"고객 {change.members:,}명 (새로 들어온 고객 {change.entered:,}명, 빠진 고객 {change.exited:,}명)"
    )


@segments_app.command("list")
def segments_list(workspace: WorkspaceOpt = Path(".shopmind"), as_json: JsonOpt = False) -> None:
    """The saved segments, newest first, with their current members."""
    from shopmind.segments import saved_segments

    with open_workspace(workspace) as (_, store):
        found = saved_segments(store)
    if as_json:
        console.print_json(json.dumps([s.to_dict() for s in found], ensure_ascii=False, default=str))
        return
    if not found:
        console.print("no saved segments yet · 저장한 세그먼트가 없습니다 (shopmind segments create FILE)")
        return
    table = Table(title=f"saved segments · 저장한 세그먼트: {len(found)}")
    table.add_column("id", no_wrap=True)
    for col in ("name", "이름", "customers · 고객", "counted · 집계 시각"):
        table.add_column(col, justify="right" if col.startswith("customers") else "left")
    for s in found:
        table.add_row(
            s.segment_id,
            s.name_en,
            s.name_ko,
            f"{s.members:,}",
            local_time(s.materialized_at) if s.materialized_at else "-",
        )
    console.print(table)


@segments_app.command("show")
def segments_show(
    segment: SegmentArg,
    workspace: WorkspaceOpt = Path(".shopmind"),
    as_json: JsonOpt = False,
    as_yaml: Annotated[bool, typer.Option("--yaml", help="Print the definition as YAML.")] = False,
) -> None:
    """A saved segment: its names, description, definition and current members."""
    from shopmind.segments import to_yaml

    with open_workspace(workspace) as (_, store):
        saved = _saved_or_fail(store, segment)
    if as_json:
        console.print_json(json.dumps(saved.to_dict(), ensure_ascii=False, default=str))
        return
    if as_yaml:
        console.print(to_yaml(saved.definition), markup=False, highlight=False)
        return
    console.print(f"[bold]{_title(saved.definition)}[/] ({saved.segment_id})")
    if saved.definition.description is not None:
        console.print(saved.definition.description.text("ko"), markup=False)
        if (
            saved.definition.description.en
            and saved.definition.description.en != saved.definition.description.ko
        ):
            console.print(saved.definition.description.en, markup=False)
    counted = local_time(saved.materialized_at) if saved.materialized_at else "-"
    console.print(f"{saved.members:,} customers · 고객 {saved.members:,}명 (counted · 집계: {counted})")
    problem = saved.live_problem
    if problem is None:
        console.print(
            "live: a running server keeps its members up to date as events arrive · "
            "실시간: 이벤트가 들어올 때마다 서버가 바로 갱신"
        )
    else:
        console.print(f"counted at each run · 실행할 때마다 집계: {problem}", markup=False)
    console.print(to_yaml(saved.definition), markup=False, highlight=False)


@segments_app.command("members")
def segments_members(
    segment: SegmentArg,
    workspace: WorkspaceOpt = Path(".shopmind"),
    limit: Annotated[int, typer.Option(min=1, help="Rows to show.")] = 20,
    offset: Annotated[int, typer.Option(min=0, help="Rows to skip.")] = 0,
    at: Annotated[
        str | None,
        typer.Option("--at", help="The members at this moment of the history (YYYY-MM-DD or ISO time)."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """The members of a saved segment (now, or at --at), the longest-standing first."""
    from shopmind.segments import member_list

    moment = parse_as_of(at) if at else None
    with open_workspace(workspace) as (_, store):
        saved = _saved_or_fail(store, segment)
        total, rows = member_list(store, saved.segment_id, offset=offset, limit=limit, at=moment)
    if as_json:
        console.print_json(json.dumps({"total": total, "members": rows}, ensure_ascii=False, default=str))
        return
    title = f"{_title(saved.definition)}: {total:,} customers · 고객 {total:,}명"
    console.print(_customers_table(title, rows, entered=True))


@segments_app.command("export")
def segments_export(
    segment: SegmentArg,
    output: Annotated[Path, typer.Option("--output", "-o", help="The file to write (readable by you only).")],
    workspace: WorkspaceOpt = Path(".shopmind"),
    format: Annotated[
        ExportFormat, typer.Option("--format", help="csv (opens safely in spreadsheets) or parquet.")
    ] = ExportFormat.csv,
) -> None:
    """Write a saved segment's current members to a CSV or Parquet file: profile id, member id,
    RFM segment, revenue, CLV and when they entered. (Ad-platform customer lists: see the
    audience exports.)"""
    from shopmind.segments import export_members

    with open_workspace(workspace) as (_, store):
        segment = _saved_or_fail(store, segment).segment_id
        written = export_members(
            store, segment, output, format=ExportFormat(format).value
        )  # a plain text through the server
    console.print(f"wrote {written:,} customers to {output} · 고객 {written:,}명을 저장했습니다")


@segments_app.command("delete")
def segments_delete(
    segment: SegmentArg,
    workspace: WorkspaceOpt = Path(".shopmind"),
) -> None:
    """Delete a saved segment and its members' history (refused while another segment uses it)."""
    from shopmind.segments import SegmentInUseError, remove_segment

    with open_workspace(workspace) as (_, store):
        segment = _saved_or_fail(store, segment).segment_id
        try:
            remove_segment(store, segment)
        except SegmentInUseError as exc:
            raise fail(str(exc), EXIT_USAGE) from None
    console.print(f"deleted segment {segment} · 세그먼트를 삭제했습니다")
