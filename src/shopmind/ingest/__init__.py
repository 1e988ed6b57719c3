"""Importers: orders (CSV/Parquet/XLSX with a column mapping; the UCI Online Retail formats),
events (JSON Lines), product catalogues, external interest signals and the advertising consent
of a shop's member export."""

from shopmind.ingest._catalogue import CATALOGUE_FIELDS, import_catalogue
from shopmind.ingest._consent import FIELDS as CONSENT_IMPORT_FIELDS
from shopmind.ingest._consent import consent_value, detect_columns, import_consents
from shopmind.ingest._events import import_events
from shopmind.ingest._interests import import_interests
from shopmind.ingest._lake import IMPORTED_TABLES as LAKE_IMPORTED_TABLES
from shopmind.ingest._lake import import_lake
from shopmind.ingest._live import LiveWriter, Rejected, event_rows, store_incoming, validate_incoming
from shopmind.ingest._orders import (
    FORMATS,
    GENERIC,
    ONLINE_RETAIL,
    ONLINE_RETAIL_II,
    OrderColumns,
    OrderFormat,
    detect_format,
    import_orders,
)
from shopmind.ingest._report import ImportReport, Progress
from shopmind.ingest._weather import import_weather

__all__ = [
    "CATALOGUE_FIELDS",
    "CONSENT_IMPORT_FIELDS",
    "FORMATS",
    "GENERIC",
    "LAKE_IMPORTED_TABLES",
    "ONLINE_RETAIL",
    "ONLINE_RETAIL_II",
    "ImportReport",
    "LiveWriter",
    "OrderColumns",
    "OrderFormat",
    "Progress",
    "Rejected",
    "consent_value",
    "detect_columns",
    "detect_format",
    "event_rows",
    "import_catalogue",
    "import_consents",
    "import_events",
    "import_interests",
    "import_lake",
    "import_orders",
    "import_weather",
    "store_incoming",
    "validate_incoming",
]
