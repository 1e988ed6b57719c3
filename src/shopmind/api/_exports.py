"""Audience exports over HTTP (secret key): ``POST /v1/exports`` makes one server-side — a CSV or
Parquet file, an ad platform's hashed customer list from the contact rows in the request (held in
memory while they are hashed, never stored), or a webhook delivery to a destination the shop's
admin set up with ``shopmind export destinations add`` (so a caller cannot make the server post
anywhere else) — and ``GET /v1/exports`` lists the export log. The work runs on a job thread with
a connection of its own, so collection is not held up by a long export."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.background import BackgroundTask

from shopmind.api._auth import presented_key, requires
from shopmind.api._errors import ERROR_SCHEMA, ApiError, error_responses
from shopmind.audiences import (
    FORMATS,
    Audience,
    ConsentChannels,
    DeliveryError,
    UnknownDestinationError,
    audience_from_ids,
    export_file,
    export_for_platform,
    export_to_webhook,
    parse_band,
    score_band_audience,
    segment_audience,
)
from shopmind.core import FieldError, IdentifierHasher, ImportFileError
from shopmind.store import ExportRecord, Store, export_log

router = APIRouter(
    prefix="/v1",
    tags=["exports"],
    dependencies=[Depends(requires("secret"))],
    responses=error_responses(400, 401, 403, 404, 429),
)
MEDIA = {"csv": "text/csv", "parquet": "application/vnd.apache.parquet"}
SUFFIX = {"csv": ".csv", "parquet": ".parquet"}


class AudienceSpec(BaseModel):
    """Exactly one of: a score band, a segment, a list of profile ids."""

    model_config = ConfigDict(extra="forbid")
    band: str | None = Field(None, description="SCORE:LOW-HIGH, e.g. purchase_probability_7d:0.3-0.6")
    segment: str | None = Field(
        None, description="An RFM segment key (vip, loyal, about_to_churn, ...) or a saved segment's id"
    )
    profile_ids: list[str] | None = Field(
        None, max_length=1_000_000, description="Profile ids, e.g. user:m000123"
    )

    @model_validator(mode="after")
    def one_source(self) -> AudienceSpec:
        given = [k for k in ("band", "segment", "profile_ids") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                f"give exactly one of band, segment, profile_ids (given: {', '.join(given) or 'none'})"
            )
        return self


class ExportRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    to: Literal["csv", "parquet", "google", "meta", "kakao", "naver", "webhook"] = Field(
        description="A file format, an ad platform's customer list, or webhook"
    )
    audience: AudienceSpec
    destination: str | None = Field(None, description="webhook: the destination's name", max_length=64)
    contacts_csv: str | None = Field(
        None,
        description="Ad platforms: the shop's contact rows as CSV text with a header (member id, e-mail, "
        "phone columns; held in memory while hashed, never stored)",
    )
    contact_columns: dict[Literal["member_id", "email", "phone"], str] | None = Field(
        None, description="Which CSV column holds each field (default: found by name)"
    )
    consent: dict[Literal["email", "phone"], str] | None = Field(
        None,
        description="Ad platforms: the consent channel for each identifier (default email→email, phone→sms)",
    )
    columns: list[str] | None = Field(
        None, min_length=2, max_length=2, description="Ad platforms: rename the e-mail and phone columns"
    )
    batch_size: int = Field(500, ge=1, le=10_000, description="webhook: members a request")

    @model_validator(mode="after")
    def fits(self) -> ExportRequest:
        if self.to == "webhook" and not self.destination:
            raise ValueError(
                "a webhook export needs destination (a name from 'shopmind export destinations')"
            )
        if self.to in ("google", "meta", "kakao", "naver") and self.contacts_csv is None:
            raise ValueError(f"an export to {self.to} needs contacts_csv (the shop's contact rows)")
        return self


def _actor(request: Request) -> str:
    key, _ = presented_key(request)
    parts = (key or "").split("_")
    return f"api:{parts[2]}" if len(parts) == 4 else "api"


def _audience(store: Store, spec: AudienceSpec) -> Audience:
    if spec.band is not None:
        return score_band_audience(store, *parse_band(spec.band))
    if spec.segment is not None:
        return segment_audience(store, spec.segment)
    return audience_from_ids(spec.profile_ids or [], label="profile list (api)")


def _export(
    store: Store, asked: ExportRequest, hasher: IdentifierHasher, actor: str, out: Path | None
) -> ExportRecord:
    audience = _audience(store, asked.audience)
    if asked.to == "webhook":
        assert asked.destination is not None
        return export_to_webhook(
            store, audience, asked.destination, hasher=hasher, actor=actor, batch_size=asked.batch_size
        )
    assert out is not None
    if asked.to in MEDIA:
        return export_file(
            store, audience, asked.to, out, hasher=hasher, actor=actor, destination="api download"
        )
    channels = ConsentChannels(**asked.consent) if asked.consent else ConsentChannels()
    return export_for_platform(
        store,
        audience,
        asked.to,
        asked.contacts_csv or "",
        out,
        hasher=hasher,
        actor=actor,
        channels=channels,
        contact_columns={str(k): v for k, v in (asked.contact_columns or {}).items()} or None,
        columns=(asked.columns[0], asked.columns[1]) if asked.columns else None,
        destination="api download",
    )


_FILE = {"schema": {"type": "string", "format": "binary"}}


@router.post(
    "/exports",
    summary="Export an audience (a score band, an RFM segment, or profile ids): a CSV or Parquet file, an ad "
    "platform's hashed customer list (google, meta, kakao, naver) from the given contact rows, or signed "
    "webhook batches to a named destination; recorded in the export log",
    response_class=FileResponse,
    responses={
        200: {
            "description": "The file (its export id in Shopmind-Export-Id), or for a webhook the log record",
            "content": {"text/csv": _FILE, "application/vnd.apache.parquet": _FILE, "application/json": {}},
        },
        502: {
            "description": "The webhook receiver refused a batch or kept failing after the retries",
            "content": {"application/json": {"schema": ERROR_SCHEMA}},
        },
    },
)
async def create_export(asked: ExportRequest, request: Request) -> Any:
    state = request.app.state
    folder = Path(tempfile.mkdtemp(prefix="shopmind-export-")) if asked.to != "webhook" else None
    out = folder / ("export" + SUFFIX.get(asked.to, ".csv")) if folder else None
    try:
        record: ExportRecord = await state.jobs.call(_export, asked, state.hasher, _actor(request), out)
    except UnknownDestinationError as exc:
        _cleanup(folder)
        raise ApiError(404, "not_found", str(exc), [FieldError("destination", str(exc))]) from None
    except DeliveryError as exc:
        _cleanup(folder)
        raise ApiError(502, "delivery_failed", f"{exc} (the export log has it as failed)") from None
    except ImportFileError as exc:
        _cleanup(folder)
        raise ApiError(400, "invalid_input", str(exc), [FieldError("contacts_csv", str(exc))]) from None
    except BaseException:
        _cleanup(folder)
        raise
    headers = {"Shopmind-Export-Id": record.export_id}
    if out is None:
        from shopmind.api._json import JSON

        return JSON(record.to_dict(), headers=headers)
    name = f"shopmind-{asked.to}-{record.export_id}{SUFFIX.get(asked.to, '.csv')}"
    return FileResponse(
        out,
        media_type=MEDIA.get(asked.to, "text/csv"),
        filename=name,
        headers=headers,
        background=BackgroundTask(_cleanup, folder),
    )


def _cleanup(folder: Path | None) -> None:
    if folder is None:
        return
    for path in folder.glob("*"):
        path.unlink(missing_ok=True)
    folder.rmdir()


@router.get("/exports", summary="The export log: what left, when, to whom and who ran it (newest first)")
async def list_exports(request: Request, limit: int = Query(50, ge=1, le=1000)) -> dict[str, Any]:
    records = await request.app.state.jobs.call(export_log, limit)
    return {"exports": [r.to_dict() for r in records], "formats": list(FORMATS)}
