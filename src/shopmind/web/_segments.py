"""Segments: the saved segments; the builder, where conditions are added with forms and a preview
counts the customers again as they change (how many, how many per RFM segment, some of them, and
the names the store has never seen with the closest it has); and a segment's page, its conditions
in words, its members, how their number changed, and its exports (CSV, Parquet, a registered
webhook) through the audience exports, so the export log records each one.

Viewers look; saving, counting again and exporting need a marketer (personal data leaves the
dashboard). Every POST carries the session's CSRF token: the forms a hidden field, the preview's
script the ``X-CSRF-Token`` header."""

from __future__ import annotations

import logging
import re
import tempfile
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import orjson
from fastapi import Depends, Form, Query
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.background import BackgroundTask
from starlette.requests import Request

from shopmind.audiences import (
    DeliveryError,
    UnknownDestinationError,
    export_file,
    export_to_webhook,
    segment_audience,
)
from shopmind.core import (
    IdentifierHasher,
    InvalidInputError,
    counted,
    label,
    resolve_particles,
    resolve_plurals,
)
from shopmind.insights import persona_names
from shopmind.segments import (
    CONSENT_CHANNELS,
    NO_SEGMENT,
    PROFILE_FIELDS,
    SEGMENTS,
    Definition,
    UnknownSegmentError,
    create_segment,
    field_unit,
    in_words,
    materialize,
    member_list,
    parse_definition,
    preview,
    saved_segment,
    saved_segments,
    seen_names,
    segment_name,
    to_dict,
)
from shopmind.store import Store, destinations, membership_timeline
from shopmind.web._access import Viewer, require, store_write
from shopmind.web._frame import PREFIX, lang_of, page, render
from shopmind.web._i18n import message
from shopmind.web._reading import read
from shopmind.web._segment_form import (
    CONSENT_CHOICES,
    SEGMENT_CHOICES,
    Problem,
    definition_data,
    locate,
)

router = page("segments", "nav.segments")
HERE = f"{PREFIX}/segments"
Marketer = Annotated[Viewer, Depends(require("marketer"))]
#: a builder's state larger than this is refused before it is read
MAX_STATE_BYTES = 256 * 1024
MEMBERS_PAGE = 50
SAMPLE = 8
_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_log = logging.getLogger("shopmind.web")
#: a newest event older than this means a history, not a live shop: count as of that event
STALE_AFTER = timedelta(days=1)


# -- the list ------------------------------------------------------------------------------------


def _list(store: Store) -> list[dict[str, Any]]:
    return [
        {
            "id": s.segment_id,
            "name": {"ko": s.name_ko, "en": s.name_en},
            "description": s.definition.description,
            "members": s.members,
            "counted_at": s.materialized_at,
            "created_at": s.created_at,
        }
        for s in saved_segments(store)
    ]


@router.get("", response_class=HTMLResponse)
async def show(request: Request) -> HTMLResponse:
    segments = await read(request, _list)
    return render(request, "segments.html", "nav.segments", segments=segments)


# -- the builder ---------------------------------------------------------------------------------


def _choices(store: Store, lang: str) -> dict[str, Any]:
    """What the builder's fields offer: the event types, names, categories, regions, products and
    brands the store has seen; the profile fields by group; segments and consent channels."""
    seen = seen_names(store)

    def named(kind: str, code: str) -> str:  # a choice in a form: capitalised in English
        word = label(kind, code, lang)
        return word[:1].upper() + word[1:] if lang == "en" else word

    fields: dict[str, Any] = {}
    for key, f in PROFILE_FIELDS.items():
        kinds = {"gender": "gender", "age_band": "age_band", "price_band": "price_band"}
        kind = kinds.get(key, "channel" if key == "send_channel" else "device")
        fields[key] = {
            "group": f.group,
            "type": f.type,
            "name": f.en if lang == "en" else f.ko,
            "unit": field_unit(key),
            "values": [[v, named(kind, v)] for v in f.values],
            "list": {"region": "dl-regions", "top_category": "dl-categories", "top_brand": "dl-brands"}.get(
                key
            ),
        }
    return {
        "types": [(t, named("event", t)) for t in seen.types],
        "labels": {k: named("event_field", k) for k in ("type", "name", "category", "product_id")},
        "names": seen.names,
        "categories": seen.categories,
        "regions": seen.regions,
        "products": seen.products,
        "brands": seen.brands,
        "fields": fields,
        "groups": ("trait", "score", "taste", "habit"),
        "segments": [
            *((k, _first_upper(segment_name(k, lang), lang)) for k in SEGMENT_CHOICES),
            # the latest run's personas: each is a segment (persona_<n>)
            *(
                (k, f"{message('nav.personas', lang)} · {name}")
                for k, name in persona_names(store, lang).items()
            ),
        ],
        "rfm": [(k, _first_upper(segment_name(k, lang), lang)) for k in SEGMENTS],
        "channels": [(c, named("channel", c)) for c in CONSENT_CHANNELS],
        "purposes": [(p, named("consent_purpose", p)) for p in CONSENT_CHOICES],
    }


def _first_upper(text: str, lang: str) -> str:
    return text[:1].upper() + text[1:] if lang == "en" else text


def _problems(found: list[Problem], lang: str) -> list[dict[str, Any]]:
    out = []
    for p in found:
        text = message(p.key, lang).format(**p.values) if p.values else message(p.key, lang)
        out.append({"row": p.row, "field": p.field, "message": text})
    return out


async def _builder(
    request: Request, state: Any = None, problems: list[Problem] | None = None, status: int = 200
) -> HTMLResponse:
    lang = lang_of(request)
    choices = await read(request, _choices, lang)
    viewer: Viewer = request.state.viewer
    response = render(
        request,
        "segments_new.html",
        "sg.builder",
        choices=choices,
        may_save=viewer.may("marketer"),
        builder={
            "state": state,
            "problems": _problems(problems or [], lang),
            "fields": choices["fields"],
            "words": {
                key: message(key, lang)
                for key in (
                    "sg.counting",
                    "sg.no_rfm",
                    "sg.did_you_mean",
                    "sg.fix",
                    "sg.no_rows",
                    "sg.err.invalid",
                )
            },
        },
    )
    response.status_code = status
    return response


@router.get("/new", response_class=HTMLResponse)
async def new(request: Request) -> HTMLResponse:
    return await _builder(request)


async def _state(request: Request, text: str | None = None) -> Any:
    """The builder's state from the request body (JSON) or from a form field's text."""
    if text is None:
        body = await request.body()
        if len(body) > MAX_STATE_BYTES:
            return None
        text_bytes: bytes | str = body
    else:
        if len(text) > MAX_STATE_BYTES:
            return None
        text_bytes = text
    try:
        return orjson.loads(text_bytes)
    except orjson.JSONDecodeError:
        return None


def _library_problems(exc: InvalidInputError) -> list[Problem]:
    """The definition language's own errors (English, with field paths) at their rows, in the
    page's words; the detail goes to the log."""
    out = []
    for error in exc.errors:
        row, name = locate(error.field)
        _log.info("segment builder: %s: %s", error.field, error.reason)
        out.append(Problem(row, name, "sg.err.invalid"))
    return out


def _warning_key(path: str, reason: str) -> str:
    if "two runs" in reason:
        return "sg.warn.two_runs"
    last = path.rsplit(".", 1)[-1]
    return {
        "type": "sg.warn.type",
        "name": "sg.warn.name",
        "category": "sg.warn.category",
        "product": "sg.warn.product",
        "segment": "sg.warn.segment",
        "from": "sg.warn.segment",
        "to": "sg.warn.segment",
    }.get(last, "sg.warn.other")


def _counted(n: int, lang: str) -> str:
    return f"고객 {n:,}명" if lang == "ko" else counted(n, "customer")


def _counting_moment(store: Store, now: datetime) -> datetime:
    """The moment the page counts segments as of: now, unless the store's newest event and its
    newest run are both more than a day old (an imported history, the demo shop), when "the last
    30 days" would find nobody: then the later of the two (the page says which moment it counted
    as of; the scores a segment reads are those of the runs as of that moment)."""
    newest = store.scalar(
        "SELECT greatest((SELECT max(event_time) FROM events), "
        "(SELECT max(as_of) FROM job_runs WHERE status = 'ok'))"
    )
    if isinstance(newest, datetime) and now - newest > STALE_AFTER:
        return newest
    return now


def _preview(store: Store, definition: Definition, now: datetime, lang: str) -> dict[str, Any]:
    found = preview(store, definition, as_of=_counting_moment(store, now), sample=SAMPLE)
    total = found.count or 1
    warnings = []
    for w in found.warnings:
        row, name = locate(w.field)
        suggestions = [
            {"value": s, "label": label("event", s, lang) if name == "type" else segment_name(s, lang)}
            for s in w.suggestions
        ]
        warnings.append(
            {
                "row": row,
                "field": name,
                "message": message(_warning_key(w.field, w.reason), lang),
                "suggestions": suggestions,
            }
        )
    return {
        "count": found.count,
        "count_text": _counted(found.count, lang),
        "as_of": _as_of_text(found.as_of, found.seconds, lang),
        "by_segment": [
            {
                "key": key,
                "name": message("sg.no_rfm", lang) if key == NO_SEGMENT else segment_name(key, lang),
                "customers": n,
                "share": round(n / total, 4),
            }
            for key, n in found.by_segment
        ],
        "sample": [_customer_row(r, lang) for r in found.sample],
        "warnings": warnings,
        "words": _words_lines(definition, lang, segments=persona_names(store, lang)),
    }


def _as_of_text(at: datetime, seconds: float, lang: str) -> str:
    from shopmind.web._frame import _when

    return message("sg.as_of", lang).format(at=_when(at), seconds=f"{seconds:.2f}")


def _customer_row(row: Mapping[str, Any], lang: str) -> dict[str, Any]:
    member = (row.get("member") or "").removeprefix("user:")
    return {
        "profile_id": row["profile_id"],
        "shown": member or row["profile_id"],
        "href": f"{PREFIX}/customer?id={quote(row['profile_id'], safe='')}",
        "segment": segment_name(row["segment"], lang) if row.get("segment") else "–",
        "revenue": "–" if row.get("revenue") is None else f"₩{row['revenue']:,.0f}",
        "clv": "–" if row.get("clv_12m") is None else f"₩{row['clv_12m']:,.0f}",
    }


def _words_lines(
    definition: Definition,
    lang: str,
    saved: Mapping[str, str] | None = None,
    segments: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    words = in_words(definition, lang, saved, segments)

    def plain(w: Any) -> dict[str, Any]:
        return {"text": w.text, "children": [plain(c) for c in w.children]}

    return plain(words)


@router.post("/preview")
async def preview_count(request: Request) -> Response:
    """How many customers the builder's conditions hold now (JSON, for the page's script). Form
    problems are an answer too (``{"problems": [...]}``, 200): the page shows them by their
    fields, and a browser does not log a correction in progress as a failed request."""
    lang = lang_of(request)
    state = await _state(request)
    data, problems = definition_data(state, require_name=False)
    if data is None:
        return JSONResponse({"problems": _problems(problems, lang)})
    try:
        definition = parse_definition(data)
        answer = await read(request, _preview, definition, datetime.now(UTC), lang)
    except InvalidInputError as exc:
        return JSONResponse({"problems": _problems(_library_problems(exc), lang)})
    answer["definition"] = to_dict(definition)
    return JSONResponse(answer)


def _create(store: Store, definition: Definition, now: datetime) -> tuple[str, int]:
    saved = create_segment(store, definition, as_of=_counting_moment(store, now))
    return saved.segment_id, saved.members


@router.post("/new", response_model=None)
async def save(
    request: Request, _: Marketer, state: Annotated[str, Form(max_length=MAX_STATE_BYTES)] = ""
) -> Response:
    """Save the builder's segment, count its members now, and open its page."""
    found = await _state(request, state)
    data, problems = definition_data(found, require_name=True)
    if data is None:
        return await _builder(request, found, problems, 400)
    try:
        definition = parse_definition(data)
        segment_id, members = await store_write(request, _create, definition, datetime.now(UTC))
    except InvalidInputError as exc:
        return await _builder(request, found, _library_problems(exc), 400)
    return RedirectResponse(f"{HERE}/{segment_id}?done=created&n={members}", 303)


# -- a segment's page ----------------------------------------------------------------------------


def _one(store: Store, segment_id: str, offset: int, lang: str) -> dict[str, Any] | None:
    try:
        segment = saved_segment(store, segment_id)
    except UnknownSegmentError:
        return None
    total, rows = member_list(store, segment_id, offset=offset, limit=MEMBERS_PAGE)
    names = {s.segment_id: (s.name_en if lang == "en" else s.name_ko) for s in saved_segments(store)}
    return {
        "segment": segment,
        "words": _words_lines(segment.definition, lang, names, persona_names(store, lang)),
        "definition_json": to_dict(segment.definition),
        "total": total,
        "rows": [{**_customer_row(r, lang), "entered_at": r["entered_at"]} for r in rows],
        "timeline": membership_timeline(store, segment_id),
        "destinations": [d.name for d in destinations(store)],
    }


_DONE = ("created", "refreshed", "sent")


@router.get("/{segment_id}", response_class=HTMLResponse)
async def segment_page(
    request: Request,
    segment_id: str,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
    done: Annotated[str | None, Query(max_length=20)] = None,
    problem: Annotated[str | None, Query(max_length=40)] = None,
) -> HTMLResponse:
    lang = lang_of(request)
    found = await read(request, _one, segment_id, offset, lang) if _ID.match(segment_id) else None
    viewer: Viewer = request.state.viewer
    if found is None:
        response = render(request, "segments_one.html", "nav.segments", segment=None)
        response.status_code = 404
        return response
    note = None
    if done in _DONE:
        fields = {k: _int_or_text(request.query_params.get(k, "")) for k in ("n", "entered", "exited", "to")}
        text = message(f"sg.done.{done}", lang).format(**fields)
        note = resolve_particles(text) if lang == "ko" else resolve_plurals(text)
    problem_text = message(f"sg.err.{problem}", lang) if problem in ("delivery", "no_destination") else None
    segment = found["segment"]
    return render(
        request,
        "segments_one.html",
        "nav.segments",
        name=segment.name_en if lang == "en" else segment.name_ko,
        description=segment.definition.description.text(lang) if segment.definition.description else "",
        offset=offset,
        limit=MEMBERS_PAGE,
        done=note,
        problem=problem_text,
        may_act=viewer.may("marketer"),
        **found,
    )


def _int_or_text(value: str) -> str:
    """A number from the query as the page writes it (1,234); a name as it is (short)."""
    return f"{int(value):,}" if value.isdigit() else value[:64]


def _refresh(store: Store, segment_id: str, now: datetime) -> tuple[int, int] | None:
    as_of = _counting_moment(store, now)
    try:
        change = materialize(store, segment_id, as_of=as_of)
    except UnknownSegmentError:
        return None
    return change.entered, change.exited


@router.post("/{segment_id}/refresh", response_model=None)
async def refresh(request: Request, segment_id: str, _: Marketer) -> Response:
    found = await store_write(request, _refresh, segment_id, datetime.now(UTC))
    if found is None:
        return RedirectResponse(HERE, 303)
    entered, exited = found
    return RedirectResponse(f"{HERE}/{segment_id}?done=refreshed&entered={entered}&exited={exited}", 303)


MEDIA = {"csv": "text/csv; charset=utf-8", "parquet": "application/vnd.apache.parquet"}


def _export(
    store: Store, segment_id: str, fmt: str, out: Path, hasher: IdentifierHasher, actor: str
) -> int | None:
    try:
        saved_segment(store, segment_id)
    except UnknownSegmentError:
        return None
    audience = segment_audience(store, segment_id)
    record = export_file(
        store, audience, fmt, out, hasher=hasher, actor=actor, destination="dashboard download"
    )
    return record.rows_out


def _actor(viewer: Viewer) -> str:
    return f"dashboard:{viewer.login}"


@router.post("/{segment_id}/export", response_model=None)
async def export(
    request: Request,
    segment_id: str,
    viewer: Marketer,
    format: Annotated[str, Form(pattern="^(csv|parquet)$")] = "csv",
) -> Response:
    """The segment's current members as a CSV or Parquet file (profile id, member id, RFM
    segment, the latest scores), made by the audience exports and recorded in the export log."""
    folder = Path(tempfile.mkdtemp(prefix="shopmind-dashboard-export-"))
    out = folder / f"segment.{format}"
    state = request.app.state
    try:
        rows = await state.jobs.call(_export, segment_id, format, out, state.hasher, _actor(viewer))
    except BaseException:
        _cleanup(folder)
        raise
    if rows is None:
        _cleanup(folder)
        return RedirectResponse(HERE, 303)
    day = datetime.now(UTC).strftime("%Y%m%d")
    return FileResponse(
        out,
        media_type=MEDIA[format],
        filename=f"segment-{segment_id}-{day}.{format}",
        background=BackgroundTask(_cleanup, folder),
    )


def _cleanup(folder: Path) -> None:
    for path in folder.glob("*"):
        path.unlink(missing_ok=True)
    folder.rmdir()


def _send(
    store: Store, segment_id: str, destination: str, hasher: IdentifierHasher, actor: str
) -> int | None:
    try:
        saved_segment(store, segment_id)
    except UnknownSegmentError:
        return None
    audience = segment_audience(store, segment_id)
    return export_to_webhook(store, audience, destination, hasher=hasher, actor=actor).rows_out


@router.post("/{segment_id}/webhook", response_model=None)
async def send(
    request: Request,
    segment_id: str,
    viewer: Marketer,
    destination: Annotated[str, Form(min_length=1, max_length=64)],
) -> Response:
    """Send the segment's current members to a webhook the shop's admin registered (signed,
    retried batches; recorded in the export log)."""
    state = request.app.state
    here = f"{HERE}/{segment_id}"
    try:
        sent = await state.jobs.call(_send, segment_id, destination, state.hasher, _actor(viewer))
    except UnknownDestinationError:
        return RedirectResponse(f"{here}?problem=no_destination", 303)
    except DeliveryError:
        return RedirectResponse(f"{here}?problem=delivery", 303)
    if sent is None:
        return RedirectResponse(HERE, 303)
    return RedirectResponse(f"{here}?done=sent&n={sent}&to={quote(destination, safe='')}", 303)
