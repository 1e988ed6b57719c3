"""A template as chosen customers will read it: rendered with their own fields and recommended
products, finished by the compliance engine, with its format, its length as the carriers count
it, and anything that would stop it (the dashboard's live preview and ``campaigns preview``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shopmind.activation._compliance import Violation, finish, violations
from shopmind.activation._context import Recommends, customer_contexts
from shopmind.activation._message import Kind, Sender
from shopmind.activation._template import Draft, Template, render, unsendable
from shopmind.store import Store

#: where a preview's links point: nothing is tracked and no one can be unsubscribed from it
PREVIEW_BASE = "https://preview.invalid"


@dataclass(frozen=True)
class Preview:
    """One customer's message as it would go out: ``draft`` finished, its ``format`` and
    ``carrier_bytes``; ``unsendable``: characters a text message cannot carry; ``violations``:
    what would stop it (none for a message finish made)."""

    profile_id: str
    draft: Draft
    format: str
    carrier_bytes: int
    unsendable: tuple[str, ...]
    violations: tuple[Violation, ...]

    def to_dict(self) -> dict[str, Any]:
        d = self.draft
        return {
            "profile_id": self.profile_id,
            "format": self.format,
            "carrier_bytes": self.carrier_bytes,
            "subject": d.subject,
            "text": d.text,
            "html": d.html,
            "links": list(d.links),
            "unsendable": list(self.unsendable),
            "violations": [{"rule": v.rule, "field": v.field, "reason": v.reason} for v in self.violations],
        }


def preview(
    store: Store,
    template: Template,
    profile_ids: Iterable[str],
    channel: str,
    kind: Kind,
    sender: Sender,
    *,
    as_of: datetime,
    recommender: Recommends | None = None,
    coupon: str | None = None,
    coupon_secret: bytes = b"",
    product_url: str | None = None,
    where: str = "",
    unsubscribe_url: Callable[[str], str] | None = None,
) -> list[Preview]:
    """``template`` for each of ``profile_ids`` on ``channel``, as it would be sent (in the order
    given). A template that cannot be rendered is an InvalidInputError naming ``where``'s field."""
    wanted = list(dict.fromkeys(profile_ids))
    contexts = customer_contexts(
        store,
        wanted,
        as_of=as_of,
        locale=template.locale,
        recommender=recommender,
        coupon=coupon,
        coupon_secret=coupon_secret,
        coupon_seed="preview",
        shop=sender.name,
        product_url=product_url,
    )
    out = []
    for pid in wanted:
        draft = render(template, contexts[pid], channel, kind, where=where)
        unsubscribe = (unsubscribe_url or (lambda p: f"{PREVIEW_BASE}/u/{p}"))(pid)
        done = finish(draft, kind, channel, sender, unsubscribe)
        found = violations(done, kind, channel, sender, unsubscribe)
        out.append(
            Preview(pid, done, done.format, done.carrier_bytes, tuple(unsendable(done.text)), tuple(found))
        )
    return out
