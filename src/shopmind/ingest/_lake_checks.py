"""The checks of a lake import, as SQL over one batch of rows (``staged_lake``): each column read
into its declared type, required fields, values that must make sense, and defaults for the
columns a shop's own files may lack."""

from __future__ import annotations

from datetime import datetime

import pyarrow as pa

from shopmind.events import CHANNELS, DEVICE_TYPES, KIND_PRIORITY, EventType
from shopmind.ingest._tabular import LINE
from shopmind.store import CHANNELS as CONSENT_CHANNELS
from shopmind.store import METHODS as CONSENT_METHODS
from shopmind.store import PURPOSES as CONSENT_PURPOSES
from shopmind.store import lake_schema

FILE = "_file"  # which of the gathered files a row is from
POS = "_pos"  # a row's position in the gathered rows

#: columns whose absence (or null) rejects a row; the others are optional or have a default
_REQUIRED = {
    "events": ("type", "event_time"),
    "orders": ("order_id", "ordered_at"),
    "order_lines": ("order_id", "product_id", "quantity", "unit_price"),
    "products": ("product_id",),
    "profiles": ("identifier", "profile_id"),
    "consents": ("identifier", "channel", "purpose", "granted", "occurred_at"),
}
_SQL_TYPES = {
    pa.string(): "VARCHAR",
    pa.int32(): "INTEGER",
    pa.int64(): "BIGINT",
    pa.float64(): "DOUBLE",
    pa.bool_(): "BOOLEAN",
}


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _in_list(values: tuple[str, ...] | list[str]) -> str:
    return "(" + ", ".join(_lit(v) for v in values) + ")"


def _typed(field: pa.Field, source: pa.DataType | None, zone: str, utc_naive: bool) -> str:
    """SQL reading a file column into the lake type (NULL when it cannot be read)."""
    col = _q(field.name)
    if source is None:
        return f"CAST(NULL AS {_SQL_TYPES.get(field.type, 'TIMESTAMPTZ')})"
    if pa.types.is_timestamp(field.type):
        if pa.types.is_timestamp(source):
            if source.tz:
                return f"CAST({col} AS TIMESTAMPTZ)"
            # a time without a zone is the shop's, except Spark's INT96 times: UTC instants
            return f"timezone({_lit('UTC' if utc_naive else zone)}, CAST({col} AS TIMESTAMP))"
        if pa.types.is_date(source):
            return f"timezone({_lit(zone)}, CAST({col} AS TIMESTAMP))"
        if pa.types.is_string(source) or pa.types.is_large_string(source):
            s = f"trim({col})"
            return (
                f"CASE WHEN regexp_matches({s}, '(Z|[+-][0-9]{{2}}:?[0-9]{{2}})$') "
                f"THEN TRY_CAST({s} AS TIMESTAMPTZ) ELSE timezone({_lit(zone)}, TRY_CAST({s} AS TIMESTAMP)) END"
            )
        return "CAST(NULL AS TIMESTAMPTZ)"  # a number is no time: the check below names it
    target = _SQL_TYPES[field.type]
    if target == "VARCHAR":
        return f"CAST({col} AS VARCHAR)"
    if pa.types.is_string(source) or pa.types.is_large_string(source):
        return f"TRY_CAST(trim({col}) AS {target})"
    return f"TRY_CAST({col} AS {target})"


def _what(field: pa.Field) -> str:
    if pa.types.is_timestamp(field.type):
        return "a date and time (ISO 8601, e.g. 2026-03-01 14:30:00+09:00)"
    if pa.types.is_boolean(field.type):
        return "true or false"
    if pa.types.is_integer(field.type):
        return "a whole number"
    return "a number"


def checked_select(
    name: str,
    schema: pa.Schema,
    zone: str,
    utc_naive: frozenset[str],
    now: datetime,
    currency: str,
    complete: frozenset[str] = frozenset(),
) -> str:
    """SQL over ``staged_lake`` (one batch of a file, with ``_line``): the lake columns typed (and
    defaulted), the ``errors`` list ('field: reason') and ``_file_row`` (the row's number in its
    file). ``complete``: the columns of the batch without nulls (they need no default: a lake
    shopmind wrote has every key, so no row is hashed)."""
    lake = lake_schema(name, partition=False)
    present = {f.name: f.type for f in schema if f.name != LINE}
    row = "struct_pack(" + ", ".join(f"{_q(c)} := {_q(c)}" for c in present) + ")"
    # a key for rows that come without one: their content and their occurrence among identical rows
    content = f"'h-' || left(sha256(to_json({row}) || (row_number() OVER (PARTITION BY {row}))::VARCHAR), 32)"
    defaults = _defaults(name, now, currency, content)
    typed = []
    errors = []
    for field in lake:
        source = present.get(field.name)
        expr = _typed(field, source, zone, field.name in utc_naive)
        if source is not None and field.type != pa.string():
            errors.append(
                f"CASE WHEN {_q(field.name)} IS NOT NULL AND {expr} IS NULL THEN "
                f"'{field.name}: cannot read ' || to_json(CAST({_q(field.name)} AS VARCHAR)) || ' as {_what(field)}' END"
            )
        if field.name in defaults and field.name not in complete:
            expr = f"coalesce({expr}, {defaults[field.name]})"
        typed.append(f"{expr} AS {_q(field.name)}")
    for required in _REQUIRED[name]:
        if required not in present:
            errors.append(f"'{required}: the file has no column {required}'")
        else:
            blank = f"trim(CAST({_q(required)} AS VARCHAR)) = ''"
            errors.append(f"CASE WHEN {_q(required)} IS NULL OR {blank} THEN '{required}: is empty' END")
    return f"""
    WITH typed AS (
        SELECT {LINE} AS _file_row, {FILE}, {POS}, {", ".join(typed)}, [{", ".join(errors)}] AS _read_errors
        FROM staged_lake
    )
    SELECT * EXCLUDE (_read_errors),
        list_filter(list_concat(_read_errors, [{", ".join(_rules(name)) or "NULL"}]), lambda e: e IS NOT NULL) AS errors
    FROM typed t
    """


def _rules(name: str) -> list[str]:
    """The checks of a table's values beyond their types ('field: reason' or NULL per row)."""
    finite = "(isfinite({c}) AND {c} >= 0)"
    if name == "events":
        types = tuple(t.value for t in EventType)
        return [
            f"CASE WHEN t.type IS NOT NULL AND t.type NOT IN {_in_list(types)} THEN 'type: ' || to_json(t.type) "
            f"|| ' is not an event type (one of {', '.join(types)})' END",
            "CASE WHEN t.anonymous_id IS NULL AND t.user_id IS NULL "
            "THEN 'anonymous_id: an event needs an anonymous_id or a user_id' END",
            f"CASE WHEN t.device_type NOT IN {_in_list(DEVICE_TYPES)} THEN 'device_type: ' || to_json(t.device_type) "
            f"|| ' is not one of {', '.join(DEVICE_TYPES)}' END",
            f"CASE WHEN t.channel NOT IN {_in_list(CHANNELS)} THEN 'channel: ' || to_json(t.channel) "
            f"|| ' is not one of {', '.join(CHANNELS)}' END",
            f"CASE WHEN NOT {finite.format(c='t.price')} THEN 'price: must be a finite number >= 0, not ' "
            "|| CAST(t.price AS VARCHAR) END",
            f"CASE WHEN NOT {finite.format(c='t.revenue')} THEN 'revenue: must be a finite number >= 0, not ' "
            "|| CAST(t.revenue AS VARCHAR) END",
            "CASE WHEN t.quantity < 0 THEN 'quantity: must be >= 0, not ' || CAST(t.quantity AS VARCHAR) END",
            "CASE WHEN NOT regexp_full_match(t.currency, '[A-Z]{3}') "
            "THEN 'currency: ' || to_json(t.currency) || ' is not a 3-letter ISO 4217 code' END",
            "CASE WHEN NOT json_valid(t.properties) THEN 'properties: not valid JSON' END",
        ]
    if name == "orders":
        return [
            "CASE WHEN NOT regexp_full_match(t.currency, '[A-Z]{3}') "
            "THEN 'currency: ' || to_json(t.currency) || ' is not a 3-letter ISO 4217 code' END",
        ]
    if name == "order_lines":
        return [
            "CASE WHEN t.quantity = 0 THEN 'quantity: zero items on an order line' END",
            "CASE WHEN NOT isfinite(t.unit_price) OR (t.unit_price < 0 AND t.is_product) "
            "THEN 'unit_price: a product line needs a finite price >= 0, not ' || CAST(t.unit_price AS VARCHAR) END",
            "CASE WHEN t.order_id IS NOT NULL AND t.order_id NOT IN (SELECT order_id FROM orders) "
            "THEN 'order_id: no order ' || to_json(t.order_id) || ' (a line needs its order in orders/ or the store)' END",
        ]
    if name == "products":
        return [
            f"CASE WHEN NOT {finite.format(c='t.price')} THEN 'price: must be a finite number >= 0, not ' "
            "|| CAST(t.price AS VARCHAR) END",
        ]
    kinds = "(" + "|".join(KIND_PRIORITY) + ")"
    identifier = (
        "CASE WHEN NOT regexp_full_match(t.{col}, '" + kinds + ":.+') THEN '{col}: ' || to_json(t.{col}) "
        f"|| ' is not an identifier (kind:value, kind one of {', '.join(KIND_PRIORITY)})' END"
    )
    if name == "profiles":
        return [identifier.format(col="identifier"), identifier.format(col="profile_id")]
    if name == "consents":
        return [
            identifier.format(col="identifier"),
            *(
                f"CASE WHEN t.{col} NOT IN {_in_list(values)} THEN '{col}: ' || to_json(t.{col}) "
                f"|| ' is not one of {', '.join(values)}' END"
                for col, values in (
                    ("channel", CONSENT_CHANNELS),
                    ("purpose", CONSENT_PURPOSES),
                    ("method", CONSENT_METHODS),
                )
            ),
        ]
    return []


def _defaults(name: str, now: datetime, currency: str, content: str) -> dict[str, str]:
    """SQL defaults of the columns a shop's own files may lack (the store needs a value)."""
    if name == "events":
        return {
            "message_id": content,
            "received_at": f"TIMESTAMPTZ '{now.isoformat()}'",
            "source": "'lake'",
        }
    if name == "orders":
        return {"currency": _lit(currency), "is_return": "false", "source": "'lake'", "verified": "true"}
    if name == "order_lines":
        return {"line_key": content, "is_return": "false", "is_product": "true"}
    if name == "products":
        return {"is_product": "true"}
    if name == "profiles":
        return {"kind": "split_part(identifier, ':', 1)"}
    if name == "consents":
        return {"entry_id": content, "method": "'import'", "source": "'lake'"}
    return {}
