"""Importing order lines from CSV, Parquet or XLSX files, with a column mapping.

Each input row is one order line. The work runs in the embedded engine: rows are typed and
checked in SQL, rejected rows go to the quarantine with the field and the reason, and accepted
rows are stored under a *line key* — a hash of the line's normalised content and its occurrence
number among identical lines of the same order — so re-importing a file, or importing two files
that overlap, stores each line once while genuine repeated lines inside one file are kept.

Presets describe the UCI "Online Retail" files: invoices starting with 'C' are cancellations
(returns), a missing CustomerID is a guest buyer, and codes such as POST or BANK CHARGES are
flagged as non-product lines.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import dataclass, fields, replace
from pathlib import Path

import duckdb
import pyarrow as pa

from shopmind.core import IdentifierHasher, ImportFileError
from shopmind.events import ORDER_LINE_SCHEMA
from shopmind.ingest._report import ImportReport, Progress, finish_import, no_progress
from shopmind.ingest._tabular import (
    LINE,
    UnreadableRow,
    hash_contacts,
    read_tabular,
    scan_parquet,
    split_checked,
)
from shopmind.store import Store

_NO_LINES = ORDER_LINE_SCHEMA.empty_table()


@dataclass(frozen=True)
class OrderColumns:
    """Which source column holds each field (None: the file has no such column)."""

    order_id: str = "order_id"
    ordered_at: str = "ordered_at"
    product_id: str = "product_id"
    quantity: str = "quantity"
    unit_price: str = "unit_price"
    customer_id: str | None = "customer_id"
    description: str | None = "description"
    email: str | None = "email"
    phone: str | None = "phone"
    currency: str | None = None
    country: str | None = None
    region: str | None = None
    channel: str | None = None

    REQUIRED = ("order_id", "ordered_at", "product_id", "quantity", "unit_price")


@dataclass(frozen=True)
class OrderFormat:
    """How to read one kind of order file."""

    name: str
    columns: OrderColumns
    currency: str = "KRW"
    timezone: str = "Asia/Seoul"  # zone of times written without an offset
    date_format: str | None = None  # strptime format; None reads ISO 8601
    cancellation_prefix: str | None = None
    non_product_pattern: str | None = None  # full-match, case-insensitive regex on product_id

    def with_mapping(self, mapping: Mapping[str, str | None]) -> OrderFormat:
        known = {f.name for f in fields(OrderColumns)}
        unknown = set(mapping) - known
        if unknown:
            raise ImportFileError(
                f"unknown mapping field(s) {sorted(unknown)}; the fields are {sorted(known)}"
            )
        return replace(self, columns=replace(self.columns, **mapping))  # type: ignore[arg-type]


#: Codes in the UCI Online Retail files that are not products (postage, fees, manual entries...).
UCI_NON_PRODUCT = r"POST|DOT|M|D|S|C2|B|CRUK|PADS|AMAZONFEE|BANK CHARGES|ADJUST\d*|TEST\d*|gift_.*"

ONLINE_RETAIL = OrderFormat(
    name="online_retail",
    columns=OrderColumns(
        order_id="InvoiceNo",
        ordered_at="InvoiceDate",
        product_id="StockCode",
        quantity="Quantity",
        unit_price="UnitPrice",
        customer_id="CustomerID",
        description="Description",
        country="Country",
    ),
    currency="GBP",
    timezone="Europe/London",
    cancellation_prefix="C",
    non_product_pattern=UCI_NON_PRODUCT,
)
ONLINE_RETAIL_II = replace(
    ONLINE_RETAIL,
    name="online_retail_ii",
    columns=replace(ONLINE_RETAIL.columns, order_id="Invoice", unit_price="Price", customer_id="Customer ID"),
)
GENERIC = OrderFormat(name="generic", columns=OrderColumns())
FORMATS = {f.name: f for f in (GENERIC, ONLINE_RETAIL, ONLINE_RETAIL_II)}


def detect_format(column_names: list[str]) -> OrderFormat:
    """The preset whose required columns the file has (generic when none fits)."""
    for fmt in (ONLINE_RETAIL, ONLINE_RETAIL_II):
        needed = [getattr(fmt.columns, f) for f in OrderColumns.REQUIRED]
        if all(c in column_names for c in needed):
            return fmt
    return GENERIC


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _text(col: str) -> str:
    return f"nullif(nullif(trim(CAST({_q(col)} AS VARCHAR)), ''), 'nan')"


def _typed_select(fmt: OrderFormat, schema: pa.Schema, rows: str) -> str:
    """SQL turning source columns (of ``rows``, a table name or a parenthesised query) into typed
    fields plus a list of 'field: reason' errors (NULL for an accepted row)."""
    c = fmt.columns
    types = {f.name: f.type for f in schema}

    def src(field: str) -> str:
        # used inside SQL string literals, hence the doubled quotes
        return "column " + _sql_str(getattr(c, field)).replace("'", "''")

    def numeric(col: str) -> str:
        if pa.types.is_integer(types[col]) or pa.types.is_floating(types[col]):
            return f"CAST({_q(col)} AS DOUBLE)"
        return f"TRY_CAST(replace(trim(CAST({_q(col)} AS VARCHAR)), ',', '') AS DOUBLE)"

    tz = _sql_str(fmt.timezone)
    ts_col = c.ordered_at
    ts_type = types[ts_col]
    # the time as the line keys write it, and where the checked rows come from (see below)
    stamps, ts_text, checked_from = "", "CAST(ordered_at AS VARCHAR)", "typed"
    if pa.types.is_timestamp(ts_type):
        ts = _q(ts_col) if ts_type.tz else f"timezone({tz}, {_q(ts_col)})"
    elif pa.types.is_date(ts_type):
        ts = f"timezone({tz}, CAST({_q(ts_col)} AS TIMESTAMP))"
    else:
        s = "trim(_stamp_raw)"
        if fmt.date_format:
            parsed = f"timezone({tz}, try_strptime({s}, {_sql_str(fmt.date_format)}))"
        else:
            parsed = (
                f"CASE WHEN regexp_matches({s}, '(Z|[+-][0-9]{{2}}:?[0-9]{{2}})$') "
                f"THEN TRY_CAST({s} AS TIMESTAMPTZ) ELSE timezone({tz}, TRY_CAST({s} AS TIMESTAMP)) END"
            )
        # each distinct text read once (the lines of an order share theirs: Online Retail has 23,260
        # for 541,909 lines), with its text as the line keys write it; the typed rows look theirs up
        # by their raw text (joined to ``typed``, whose names are fixed: the source's own columns
        # may be called anything, ``_stamp_raw`` too)
        stamps = f"""stamps AS MATERIALIZED (
        SELECT _stamp_raw, _stamp_at, CAST(_stamp_at AS VARCHAR) AS _stamp_text
          FROM (SELECT _stamp_raw, {parsed} AS _stamp_at
                  FROM (SELECT DISTINCT CAST({_q(ts_col)} AS VARCHAR) AS _stamp_raw FROM {rows} s))
    ), """
        ts, ts_text = "NULL::TIMESTAMPTZ", "st._stamp_text"
        checked_from = "typed LEFT JOIN stamps st ON st._stamp_raw = typed.ordered_at_raw"

    non_product = (
        f"regexp_full_match(product_id, {_sql_str('(?i)(' + fmt.non_product_pattern + ')')})"
        if fmt.non_product_pattern
        else "false"
    )
    cancel = (
        f"starts_with(order_id, {_sql_str(fmt.cancellation_prefix)})" if fmt.cancellation_prefix else "false"
    )
    opt = {
        name: (_text(getattr(c, name)) if getattr(c, name) else "NULL")
        for name in ("description", "country", "region", "channel")
    }
    customer = (
        f"nullif(regexp_replace({_text(c.customer_id)}, '\\.0+$', ''), '')" if c.customer_id else "NULL"
    )
    if c.customer_id and pa.types.is_floating(types[c.customer_id]):
        # ids read as numbers (Online Retail's 17850.0): a whole one's text without the regular
        # expression, the very same text (DuckDB writes these as '17850.0'; -0.0 keeps its sign)
        x = _q(c.customer_id)
        customer = (
            f"CASE WHEN {x} = trunc({x}) AND {x} <> 0 AND abs({x}) < 1e15 "
            f"THEN CAST(CAST({x} AS BIGINT) AS VARCHAR) ELSE {customer} END"
        )
    currency = f"upper({_text(c.currency)})" if c.currency else _sql_str(fmt.currency)
    when = (
        " with format " + fmt.date_format
        if fmt.date_format
        else " (expected ISO 8601, e.g. 2026-03-01 14:30:00)"
    )
    checks = f"""        CASE WHEN order_id IS NULL THEN 'order_id: {src("order_id")} is empty' END,
        CASE WHEN ordered_at_raw IS NULL THEN 'ordered_at: {src("ordered_at")} is empty'
             WHEN ordered_at IS NULL THEN 'ordered_at: cannot read ' || to_json(ordered_at_raw)
                 || ' as a date and time{when}' END,
        CASE WHEN product_id IS NULL THEN 'product_id: {src("product_id")} is empty' END,
        CASE WHEN quantity_raw IS NULL THEN 'quantity: {src("quantity")} is empty'
             WHEN quantity_num IS NULL THEN 'quantity: ' || to_json(quantity_raw) || ' is not a number'
             WHEN quantity_num <> floor(quantity_num) THEN 'quantity: ' || quantity_raw || ' is not a whole number'
             WHEN quantity_num = 0 THEN 'quantity: zero items on an order line' END,
        CASE WHEN unit_price_raw IS NULL THEN 'unit_price: {src("unit_price")} is empty'
             WHEN unit_price IS NULL THEN 'unit_price: ' || to_json(unit_price_raw) || ' is not a number'
             WHEN unit_price < 0 AND NOT non_product
                 THEN 'unit_price: negative price ' || unit_price_raw || ' on a product line' END,
        CASE WHEN NOT regexp_full_match(currency, '[A-Z]{{3}}')
             THEN 'currency: ' || to_json(currency) || ' is not a 3-letter ISO 4217 code' END,
        CASE WHEN email_bad THEN 'email: not a valid e-mail address' END,
        CASE WHEN phone_bad THEN 'phone: not a valid phone number' END"""
    typed_columns = "typed.* REPLACE (st._stamp_at AS ordered_at)" if stamps else "*"
    return f"""
    WITH {stamps}typed AS (
        SELECT {LINE} AS line_no,
            {_text(c.order_id)} AS order_id,
            CAST({_q(c.ordered_at)} AS VARCHAR) AS ordered_at_raw,
            {ts} AS ordered_at,
            {_text(c.product_id)} AS product_id,
            CAST({_q(c.quantity)} AS VARCHAR) AS quantity_raw,
            {numeric(c.quantity)} AS quantity_num,
            CAST({_q(c.unit_price)} AS VARCHAR) AS unit_price_raw,
            {numeric(c.unit_price)} AS unit_price,
            {customer} AS customer_id,
            {opt["description"]} AS description,
            {currency} AS currency,
            {opt["country"]} AS country,
            {opt["region"]} AS region,
            {opt["channel"]} AS channel,
            _email_hash AS email_hash, _email_bad AS email_bad,
            _phone_hash AS phone_hash, _phone_bad AS phone_bad
        FROM {rows} s
    ), flagged AS (
        SELECT {typed_columns}, {non_product} AS non_product, {cancel} AS cancelled,
            {ts_text} AS ordered_at_text
        FROM {checked_from}
    )
    SELECT * EXCLUDE (ordered_at_raw, quantity_raw, unit_price_raw, email_bad, phone_bad),
        -- each check is NULL when it passes: the list of reasons is built for rejected rows only
        CASE WHEN coalesce(
{checks}
        ) IS NOT NULL THEN list_filter([
{checks}
        ], lambda e: e IS NOT NULL) END AS errors
    FROM flagged
    """


def _keyed_lines(checked: str) -> str:
    """The accepted rows of ``checked`` (a table of ``_typed_select``'s rows) with the columns of
    ``order_lines``, each with its line key.

    The key is the md5 of the line's normalised content (its fields joined by '|') and its
    occurrence among the lines of the file with that same content (so genuine repeats inside a
    file are kept, and re-imports are skipped). Numbering the repeats of the joined text itself
    makes every key of a file different, even for two lines whose fields differ but join alike.
    Nearly every line is the only one with its content: the occurrences are counted among the
    few rows whose content hash is shared (by the content, so a hash collision cannot shift a
    number), and the others are the first."""
    return f"""(
    WITH ok AS MATERIALIZED (
        SELECT *, concat_ws('|', order_id, product_id, coalesce(description, '~'),
            CAST(quantity_num AS BIGINT), unit_price, ordered_at_text,
            coalesce(customer_id, '~'), coalesce(country, '~')) AS content
        FROM {checked} WHERE errors IS NULL),
    hashed AS (SELECT line_no, hash(content) AS h FROM ok),
    shared AS (SELECT h FROM hashed GROUP BY h HAVING count(*) > 1),
    repeated AS (
        SELECT line_no, row_number() OVER (PARTITION BY content ORDER BY line_no) AS occurrence
        FROM ok WHERE line_no IN (SELECT line_no FROM hashed SEMI JOIN shared USING (h)))
    SELECT line_no, order_id, product_id, description, CAST(quantity_num AS BIGINT) AS quantity,
        unit_price, cancelled AS is_return, NOT non_product AS is_product,
        md5(content || '|' || coalesce(r.occurrence, 1)) AS line_key
    FROM ok LEFT JOIN repeated r USING (line_no))"""


def import_orders(
    store: Store,
    path: str | Path,
    *,
    fmt: OrderFormat | str | None = None,
    mapping: Mapping[str, str | None] | None = None,
    hasher: IdentifierHasher | None = None,
    sheet: str | None = None,
    progress: Progress = no_progress,
    saved_mapping: bool = False,
) -> ImportReport:
    """Import an order-line file; ``fmt`` is a preset name or format (detected when None).
    ``saved_mapping``: ``mapping`` is the one remembered from an earlier import, not asked for
    now, so a file of a known format (Online Retail) is read by its format instead."""
    source = str(path)
    progress("read", 0, 1)
    # a Parquet file is read by the engine in the checking query itself; other files through Arrow
    scan = scan_parquet(path)
    data = None if scan else read_tabular(path, sheet=sheet)
    names = scan.schema.names if scan else [c for c in data.rows.column_names if c != LINE] if data else []
    fmt = _resolve_format(fmt, mapping, saved_mapping, names, source)
    columns = fmt.columns
    if scan and (columns.email or columns.phone):
        scan, data = None, read_tabular(path, sheet=sheet)  # contact data is hashed in Python
    progress("read", 1, 1)

    unreadable: tuple[UnreadableRow, ...] = ()
    if scan:
        sha, n = scan.sha256, scan.num_rows
        contacts = {"_email_hash": "NULL::VARCHAR", "_email_bad": "false"}
        contacts |= {"_phone_hash": "NULL::VARCHAR", "_phone_bad": "false"}
        rows_sql = scan.select_sql(contacts)
    else:
        assert data is not None
        rows = data.rows
        sha, unreadable, n = data.sha256, data.unreadable, rows.num_rows
        for kind in ("email", "phone"):
            col = getattr(columns, kind)
            hashes, bad = hash_contacts(rows.column(col) if col else None, hasher, kind, n)
            rows = rows.append_column(f"_{kind}_hash", hashes).append_column(f"_{kind}_bad", bad)
            if col:  # plain contact data never reaches the store, not even the quarantine
                rows = rows.drop_columns([col])

    progress("validate", 0, 1)
    with ExitStack() as stack:
        if scan:
            schema, relation = scan.schema, f"({rows_sql})"
        else:
            schema, relation = rows.schema, stack.enter_context(store.staged("staged_orders", rows))
        # the checked rows stay in the engine: only the rejected ones, the order headers and the
        # products come to Python (the lines go from here to order_lines in one statement)
        try:
            checked = stack.enter_context(store.held("_checked_orders", _typed_select(fmt, schema, relation)))
        except (duckdb.IOException, duckdb.InvalidInputException) as exc:
            if not scan:
                raise
            raise ImportFileError(f"{source}: not a readable Parquet file ({exc})") from None
        progress("validate", 1, 1)

        # logged once the file was read whole (an unreadable Parquet page stops the import above)
        import_id = store.begin_import(f"orders:{fmt.name}", source, sha)
        # the raw row, for the quarantine, is read again for the rejected rows only
        rejected = store.query_arrow(
            f"""WITH bad AS (SELECT line_no, errors FROM {checked} WHERE errors IS NOT NULL)
            SELECT bad.line_no, bad.errors, raw.raw FROM bad LEFT JOIN (
                SELECT {LINE} AS line_no, to_json(s) AS raw FROM {relation} s
                 WHERE {LINE} IN (SELECT line_no FROM bad)) raw USING (line_no)
            ORDER BY bad.line_no"""
        )
        rejected_q = split_checked(rejected, unreadable)[1]
        store.quarantine(rejected_q, source=source, import_id=import_id, file_sha256=sha)

        accepted = f"(SELECT * FROM {checked} WHERE errors IS NULL)"
        headers = store.query_arrow(
            f"""SELECT order_id, min(ordered_at) AS ordered_at, min(customer_id) AS customer_id,
                    min(email_hash) AS email_hash, min(phone_hash) AS phone_hash, min(currency) AS currency,
                    min(country) AS country, min(region) AS region, min(channel) AS channel,
                    bool_or(cancelled) AS is_return, ? AS source
               FROM {accepted} GROUP BY order_id""",
            [f"import:{fmt.name}"],
        )
        # the name: the product's most frequent description, ties to the first in text order
        # (DuckDB's mode() breaks ties by whichever thread saw a value first, so two imports of
        # one file could name a product differently, and the recommenders that read names moved)
        products = store.query_arrow(
            f"""WITH counted AS (
                   SELECT product_id, description, count(*) AS n FROM {accepted} k
                    WHERE description IS NOT NULL GROUP BY product_id, description),
               named AS (
                   SELECT product_id, first(description ORDER BY n DESC, description) AS name
                     FROM counted GROUP BY product_id),
               priced AS (
                   SELECT product_id, median(unit_price) FILTER (WHERE unit_price > 0) AS price,
                        min(currency) AS currency, bool_and(NOT non_product) AS is_product
                     FROM {accepted} k GROUP BY product_id)
               SELECT product_id, named.name, price, currency, is_product
               FROM priced LEFT JOIN named USING (product_id)"""
        )
        orders_result, _ = store.write_orders(headers, _NO_LINES)
        accepted_lines = n - rejected.num_rows
        progress("store", 0, accepted_lines)
        # each key hashes its line's occurrence among lines of the same text: no two alike
        lines_result = store.write_order_lines_from(_keyed_lines(checked), unique_rows=accepted_lines)
        progress("store", accepted_lines, accepted_lines)
    products_result = store.write_products(products, overwrite=False)
    store.rebuild_profiles()

    return finish_import(
        store,
        import_id=import_id,
        kind=f"orders:{fmt.name}",
        source=source,
        rows_read=n + len(unreadable),
        written=lines_result,
        rejected=rejected_q.num_rows,
        rejected_by_reason=_reasons(rejected_q),
        extra=(("new orders", orders_result.inserted), ("new products", products_result.inserted)),
    )


def _resolve_format(
    fmt: OrderFormat | str | None,
    mapping: Mapping[str, str | None] | None,
    saved_mapping: bool,
    names: list[str],
    source: str,
) -> OrderFormat:
    """The format to read a file with these columns: the preset named or detected, the mapping
    applied, optional fields the file lacks dropped; raises ImportFileError for missing ones."""
    if isinstance(fmt, str):
        if fmt not in FORMATS:
            raise ImportFileError(f"unknown order format {fmt!r}; known: {', '.join(FORMATS)}")
        fmt = FORMATS[fmt]
    preset = fmt is None and detect_format(names) is not GENERIC
    fmt = fmt or detect_format(names)
    if mapping and not (saved_mapping and preset):
        fmt = fmt.with_mapping(mapping)
    columns = fmt.columns
    for spec in fields(OrderColumns):
        col = getattr(columns, spec.name)
        if col is None or col in names:
            continue
        if spec.name in OrderColumns.REQUIRED or col != getattr(OrderColumns(), spec.name):
            raise ImportFileError(
                f"{source}: field {spec.name!r} is mapped to column {col!r}, but the file's columns are "
                f"{names}; pass --map {spec.name}=COLUMN (format {fmt.name!r})"
            )
        columns = replace(columns, **{spec.name: None})  # type: ignore[arg-type]  # optional, absent here
    return replace(fmt, columns=columns)


_DETAIL = re.compile(r"\"[^\"]*\"|(?<![\w.-])-?\d+(?:\.\d+)?(?![\w.:-])")


def _reasons(rejected: pa.Table) -> tuple[tuple[str, int], ...]:
    """Rejections grouped by reason, with the row-specific values taken out."""
    counts: dict[str, int] = {}
    for reason in rejected.column("reason").to_pylist():
        first = str(reason).split("; ")[0]
        key = _DETAIL.sub("…", first)
        counts[key] = counts.get(key, 0) + 1
    return tuple(sorted(counts.items(), key=lambda kv: -kv[1]))
