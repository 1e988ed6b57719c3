"""Importing a product catalogue (CSV/Parquet/XLSX): id, name, category, brand, price, colour,
description, stock, region. A later import of the same product updates it."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from shopmind.core import ImportFileError
from shopmind.ingest._report import ImportReport, Progress, count_by_field, finish_import, no_progress
from shopmind.ingest._tabular import LINE, read_tabular, split_checked
from shopmind.store import Store

CATALOGUE_FIELDS = (
    "product_id",
    "name",
    "category",
    "brand",
    "price",
    "currency",
    "colour",
    "description",
    "stock",
    "region",
)


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def import_catalogue(
    store: Store,
    path: str | Path,
    *,
    mapping: Mapping[str, str] | None = None,
    currency: str = "KRW",
    sheet: str | None = None,
    progress: Progress = no_progress,
) -> ImportReport:
    """Import products; ``mapping`` maps catalogue fields to the file's column names."""
    mapping = dict(mapping or {})
    unknown = set(mapping) - set(CATALOGUE_FIELDS)
    if unknown:
        raise ImportFileError(
            f"unknown catalogue field(s) {sorted(unknown)}; the fields are {CATALOGUE_FIELDS}"
        )
    data = read_tabular(path, sheet=sheet)
    progress("read", 1, 1)
    present = [c for c in data.rows.column_names if c != LINE]
    cols = {f: mapping.get(f, f) for f in CATALOGUE_FIELDS}
    for f, c in mapping.items():
        if c not in present:
            raise ImportFileError(
                f"{path}: field {f!r} is mapped to column {c!r}, but the columns are {present}"
            )
    if cols["product_id"] not in present:
        raise ImportFileError(
            f"{path}: no product id column; the columns are {present}; pass --map product_id=COLUMN"
        )

    def text(f: str) -> str:
        c = cols[f]
        return f"nullif(trim(CAST({_q(c)} AS VARCHAR)), '')" if c in present else "NULL"

    price = f"TRY_CAST(replace({text('price')}, ',', '') AS DOUBLE)" if cols["price"] in present else "NULL"
    stock = f"TRY_CAST({text('stock')} AS DOUBLE)" if cols["stock"] in present else "NULL"
    sql = f"""
        SELECT {LINE} AS line_no, to_json(s) AS raw, {text("product_id")} AS product_id,
            {text("name")} AS name, {text("category")} AS category, {text("brand")} AS brand,
            {price} AS price, coalesce(upper({text("currency")}), '{currency}') AS currency,
            {text("colour")} AS colour, {text("description")} AS description,
            CAST({stock} AS BIGINT) AS stock, {text("region")} AS region, true AS is_product,
            list_filter([
                CASE WHEN {text("product_id")} IS NULL THEN 'product_id: empty' END,
                CASE WHEN {text("price")} IS NOT NULL AND {price} IS NULL
                     THEN 'price: ' || to_json({text("price")}) || ' is not a number' END,
                CASE WHEN {price} < 0 THEN 'price: negative price ' || {text("price")} END,
                CASE WHEN {text("stock")} IS NOT NULL AND ({stock} IS NULL OR {stock} <> floor({stock}))
                     THEN 'stock: ' || to_json({text("stock")}) || ' is not a whole number' END
            ], lambda e: e IS NOT NULL) AS errors
        FROM staged_catalogue s"""
    import_id = store.begin_import("catalogue", str(path), data.sha256)
    with store.staged("staged_catalogue", data.rows):
        checked = store.query_arrow(sql)
    accepted, quarantined = split_checked(checked, data.unreadable)
    good = accepted.select(["product_id", *CATALOGUE_FIELDS[1:], "is_product"])
    store.quarantine(quarantined, source=str(path), import_id=import_id, file_sha256=data.sha256)
    result = store.write_products(good, overwrite=True)
    progress("store", 1, 1)
    return finish_import(
        store,
        import_id=import_id,
        kind="catalogue",
        source=str(path),
        rows_read=data.rows.num_rows + len(data.unreadable),
        written=result,
        rejected=quarantined.num_rows,
        rejected_by_reason=count_by_field(quarantined),
        extra=(("updated products", result.duplicates),),
    )
