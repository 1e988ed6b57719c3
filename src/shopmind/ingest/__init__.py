"""Importers: orders (CSV/Parquet/XLSX with a column mapping; the UCI Online Retail formats),
events (JSON Lines), product catalogues and external interest signals."""

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

__all__ = [
    "FORMATS",
    "GENERIC",
    "ONLINE_RETAIL",
    "ONLINE_RETAIL_II",
    "ImportReport",
    "OrderColumns",
    "OrderFormat",
    "Progress",
    "detect_format",
    "import_orders",
]
