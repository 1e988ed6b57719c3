"""Warnings about names a definition uses that the store has never seen (an event type, a
``track`` name, a property, a category, a product, a banner, a segment), each with the closest
names it has seen (difflib), so a typo ("문의하가") is caught before a segment silently counts no one.
Warnings never refuse a definition: a shop may define a segment on an event it is about to send."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from shopmind.segments._definition import (
    EVENT_COLUMNS,
    Definition,
    DefinitionWarning,
    Event,
    EventSequence,
    InSegment,
    Moved,
    Step,
    nodes,
)
from shopmind.segments._rfm import SEGMENTS
from shopmind.segments._sources import PURCHASE, PURCHASE_COLUMNS
from shopmind.store import Store

#: the property keys looked at: the newest events carry the keys a shop sends now
_KEY_SAMPLE = 50_000
#: event columns whose values are few enough to check (``where`` with = or in)
_CHECKED_VALUES = ("banner_id", "device_type", "channel", "region", "utm_source", "utm_medium", "campaign_id")


def vocabulary_warnings(store: Store, definition: Definition) -> list[DefinitionWarning]:
    """A warning for every name in ``definition`` the store has not seen, with suggestions."""
    seen = _Seen(store)
    out: list[DefinitionWarning] = []
    for node, path, _ in nodes(definition):
        if isinstance(node, Event):
            out.extend(_step_warnings(node, path, seen))
        elif isinstance(node, EventSequence):
            for i, step in enumerate(node.steps):
                out.extend(_step_warnings(step, f"{path}.steps[{i}]", seen))
        elif isinstance(node, InSegment):
            out.extend(_unknown(node.segment, f"{path}.segment", seen.segments(), "segment"))
        elif isinstance(node, Moved):
            out.extend(_unknown(node.from_, f"{path}.from", seen.segments(), "segment"))
            out.extend(_unknown(node.to, f"{path}.to", seen.segments(), "segment"))
            if node.from_run is None and seen.rfm_runs() < 2:
                out.append(
                    DefinitionWarning(
                        path, "a movement needs two runs; run the analysis again later (shopmind run)"
                    )
                )
    return out


class _Seen:
    """What the store holds, each read once and only when a definition asks."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._cache: dict[str, list[str]] = {}

    def _values(self, key: str, read: Callable[[], Iterable[object]]) -> list[str]:
        if key not in self._cache:
            self._cache[key] = sorted({str(v) for v in read() if v is not None})
        return self._cache[key]

    def _column(self, table: str, column: str) -> list[str]:
        return self._values(
            f"{table}.{column}",
            lambda: (v for (v,) in self.store.sql(f"SELECT DISTINCT {column} FROM {table}")),
        )

    def types(self) -> list[str]:
        return sorted({*self._column("events", "type"), PURCHASE})

    def names(self) -> list[str]:
        return self._column("events", "name")

    def categories(self) -> list[str]:
        return sorted({*self._column("events", "category"), *self._column("products", "category")})

    def products(self) -> list[str]:
        return self._column("products", "product_id")

    def values(self, column: str) -> list[str]:
        return self._column("events", column)

    def property_keys(self) -> list[str]:
        """Top-level and ``traits.`` keys of the newest events' properties."""

        def read() -> Iterable[str]:
            rows = self.store.sql(
                f"""SELECT DISTINCT k FROM (
                    SELECT unnest(json_keys(properties)) AS k FROM (
                        SELECT properties FROM events WHERE properties IS NOT NULL
                        ORDER BY event_time DESC LIMIT {_KEY_SAMPLE}))"""
            )
            keys = [k for (k,) in rows]
            traits = self.store.sql(
                f"""SELECT DISTINCT 'traits.' || k FROM (
                    SELECT unnest(json_keys(json_extract(properties, '$.traits'))) AS k FROM (
                        SELECT properties FROM events WHERE json_extract(properties, '$.traits') IS NOT NULL
                        ORDER BY event_time DESC LIMIT {_KEY_SAMPLE}))"""
            )
            return [*keys, *(k for (k,) in traits)]

        return self._values("properties", read)

    def segments(self) -> list[str]:
        return sorted({*SEGMENTS, *self._column("segment_members", "segment")})

    def rfm_runs(self) -> int:
        return int(
            self.store.scalar(
                "SELECT count(*) FROM job_runs WHERE job = 'customer_intelligence' AND status = 'ok'"
            )
        )


def _unknown(value: str, field: str, known: list[str], what: str) -> list[DefinitionWarning]:
    if value in known:
        return []
    near = tuple(difflib.get_close_matches(value, known, n=3, cutoff=0.5))
    if not near and len(known) <= 12:
        near = tuple(known)
    return [DefinitionWarning(field, f"no {what} {value!r} has been seen in this shop", near)]


def _step_warnings(step: Step, path: str, seen: _Seen) -> list[DefinitionWarning]:
    out: list[DefinitionWarning] = []
    if step.type is not None:
        out.extend(_unknown(step.type, f"{path}.type", seen.types(), "event type"))
    if step.name is not None:
        out.extend(_unknown(step.name, f"{path}.name", seen.names(), "event name"))
    if step.category is not None:
        out.extend(_unknown(step.category, f"{path}.category", seen.categories(), "category"))
    if step.product is not None:
        out.extend(_unknown(step.product, f"{path}.product", seen.products(), "product"))
    purchase = step.type == PURCHASE
    for i, where in enumerate(step.where):
        field = f"{path}.where[{i}]"
        key = where.property
        columns = PURCHASE_COLUMNS if purchase else EVENT_COLUMNS
        if key in columns:
            if key in _CHECKED_VALUES and not purchase and where.op in ("=", "in"):
                values = where.value if isinstance(where.value, list) else [where.value]
                known = seen.values(key)
                for value in values:
                    if isinstance(value, str):
                        out.extend(_unknown(value, f"{field}.value", known, key.replace("_", " ")))
            continue
        if purchase:
            continue  # refused when compiled: purchases have no other properties
        name = key.removeprefix("properties.")
        keys = seen.property_keys()
        if name not in keys:
            known = [*keys, *EVENT_COLUMNS]
            near = tuple(difflib.get_close_matches(name, known, n=3, cutoff=0.5))
            out.append(
                DefinitionWarning(f"{field}.property", f"no event has carried a property {name!r}", near)
            )
    return out


@dataclass(frozen=True)
class SeenNames:
    """The names a segment builder offers, as the store has seen them: event types (with
    purchases), ``track`` names, categories, regions and products (id and name; only the first
    ``limit`` by id in a large catalogue)."""

    types: tuple[str, ...]
    names: tuple[str, ...]
    categories: tuple[str, ...]
    regions: tuple[str, ...]
    products: tuple[tuple[str, str], ...]
    brands: tuple[str, ...]


def seen_names(store: Store, limit: int = 2_000) -> SeenNames:
    """What the store has seen, for the builder's choices and completions."""
    seen = _Seen(store)
    products = store.sql(
        f"SELECT product_id, coalesce(name, product_id) FROM products ORDER BY product_id LIMIT {int(limit)}"
    )
    brands = store.sql(
        f"SELECT DISTINCT brand FROM products WHERE brand IS NOT NULL ORDER BY 1 LIMIT {int(limit)}"
    )
    return SeenNames(
        types=tuple(seen.types()),
        names=tuple(seen.names()[:limit]),
        categories=tuple(seen.categories()[:limit]),
        regions=tuple(seen.values("region")[:limit]),
        products=tuple((str(p), str(n)) for p, n in products),
        brands=tuple(str(b) for (b,) in brands),
    )
