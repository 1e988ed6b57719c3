"""The personas the latest personas run found, as the dashboard and the command line show them:
each persona's names in both languages, traits, size and value (the run's model card), and the
names by segment key, for segment builders and segment descriptions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shopmind.insights._runs import Run, latest_run
from shopmind.store import Store

#: the job and model card the personas job writes (``pipeline.run_personas``)
JOB = "personas"
CARD = "personas"


@dataclass(frozen=True)
class StoredPersona:
    """One persona of a stored run: key (the segment key, ``persona_2``), names, size, share of the
    buyers, value (``revenue``, ``revenue_share``, ``revenue_per_customer``,
    ``orders_per_customer``, ``average_order_value``, ``clv_12m``) and traits (each with ``ko``,
    ``en``, ``feature``, ``value``, ``overall``, ``effect``)."""

    key: str
    number: int
    name_ko: str
    name_en: str
    size: int
    share: float
    value: dict[str, Any]
    traits: tuple[dict[str, Any], ...]

    def name(self, lang: str) -> str:
        return self.name_en if lang == "en" else self.name_ko

    def trait_lines(self, lang: str) -> list[str]:
        return [t["en"] if lang == "en" else t["ko"] for t in self.traits]


@dataclass(frozen=True)
class StoredPersonas:
    """The latest personas run: when, how many buyers, how k was chosen (``criterion``:
    ``silhouette`` or ``given``; ``silhouette``: k -> mean silhouette), the currency amounts are
    in and the personas, largest first."""

    run: Run
    buyers: int
    criterion: str
    silhouette: dict[int, float]
    currency: str
    personas: tuple[StoredPersona, ...]

    @property
    def as_of(self) -> datetime:
        return self.run.as_of

    def names(self, lang: str) -> dict[str, str]:
        """Segment key -> the persona's name in ``lang``."""
        return {p.key: p.name(lang) for p in self.personas}


def stored_personas(store: Store) -> StoredPersonas | None:
    """The latest successful personas run, or None when there is none."""
    run = latest_run(store, JOB)
    if run is None:
        return None
    card = store.model_card(run.run_id, CARD)
    if card is None:
        return None
    personas = tuple(
        StoredPersona(
            key=p["key"],
            number=int(p["number"]),
            name_ko=p["name_ko"],
            name_en=p["name_en"],
            size=int(p["size"]),
            share=float(p["share"]),
            value=dict(p.get("value") or {}),
            traits=tuple(p.get("traits") or ()),
        )
        for p in card.get("personas", [])
    )
    return StoredPersonas(
        run=run,
        buyers=int(card.get("buyers", 0)),
        criterion=str(card.get("criterion", "")),
        silhouette={int(k): float(v) for k, v in (card.get("silhouette") or {}).items() if v is not None},
        currency=str(card.get("currency") or "KRW"),
        personas=tuple(sorted(personas, key=lambda p: (-p.size, p.number))),
    )


def persona_names(store: Store, lang: str) -> dict[str, str]:
    """Segment key -> persona name in ``lang``, from the latest personas run (empty without one)."""
    found = stored_personas(store)
    return {} if found is None else found.names(lang)
