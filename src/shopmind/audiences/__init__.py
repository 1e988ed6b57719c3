"""Audience exports: an audience (profile ids, a score band, a segment) to CSV or Parquet, to the
hashed customer lists of the ad platforms (Google, Meta, Kakao, Naver) from the shop's contact
file, or to a webhook in signed, retried JSON batches; every export in the export log."""

from shopmind.audiences._audience import (
    Audience,
    audience_from_ids,
    latest_score_run,
    parse_band,
    score_band_audience,
    segment_audience,
)
from shopmind.audiences._consent import (
    ConsentChannels,
    ConsentFilter,
    ad_consented_profiles,
    allowed_profiles,
)
from shopmind.audiences._contacts import MEMBER_ID_KEYS, ContactColumns, contact_batches, find_columns
from shopmind.audiences._errors import DeliveryError, ExportError, UnknownDestinationError
from shopmind.audiences._export import (
    FILE_FORMATS,
    FORMATS,
    add_webhook,
    export_file,
    export_for_platform,
    export_to_webhook,
)
from shopmind.audiences._members import EXPORT_SCORES, member_columns
from shopmind.audiences._platforms import (
    PLATFORMS,
    Platform,
    normalise_email_for,
    phone_e164,
    platform,
    sha256_hex,
)
from shopmind.audiences._webhook import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    DeliveryReport,
    RetryPolicy,
    deliver,
    sign,
    verify_signature,
)

__all__ = [
    "EXPORT_SCORES",
    "FILE_FORMATS",
    "FORMATS",
    "IDEMPOTENCY_HEADER",
    "MEMBER_ID_KEYS",
    "PLATFORMS",
    "SIGNATURE_HEADER",
    "Audience",
    "ConsentChannels",
    "ConsentFilter",
    "ContactColumns",
    "DeliveryError",
    "DeliveryReport",
    "ExportError",
    "Platform",
    "RetryPolicy",
    "UnknownDestinationError",
    "ad_consented_profiles",
    "add_webhook",
    "allowed_profiles",
    "audience_from_ids",
    "contact_batches",
    "deliver",
    "export_file",
    "export_for_platform",
    "export_to_webhook",
    "find_columns",
    "latest_score_run",
    "member_columns",
    "normalise_email_for",
    "parse_band",
    "phone_e164",
    "platform",
    "score_band_audience",
    "segment_audience",
    "sha256_hex",
    "sign",
    "verify_signature",
]
