"""What segment conditions read, as Ibis expressions over the store's tables, each defined once:
who the customers are, which events and purchases are theirs, their latest scores, taste, habits,
segments and consent as of a moment.

The definitions are the ones the rest of shopmind uses: a customer is a profile (``profiles``),
an event is a profile's through its member or device id (``features.event_profiles``), a purchase
is one the RFM and CLV runs count (``features.purchase_transactions``: placed, verified, product
lines, worth something), a member is a profile with a member id, "now" for a job's results is its
latest successful run at or before the moment (as the profile page reads them).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import ibis
import ibis.expr.types as ir

from shopmind.core import DEFAULT_SHOP_TZ
from shopmind.features import event_profiles, purchase_transactions
from shopmind.features._json import Kind, json_value
from shopmind.features._taste import catalogue_price_thirds, price_band
from shopmind.features._time import local_day
from shopmind.store import Store

#: the columns of a purchase (one row per product line of a placed order)
PURCHASE_COLUMNS: dict[str, str] = {
    "order_id": "text",
    "product_id": "text",
    "category": "text",
    "brand": "text",
    "price": "number",  # the line's unit price
    "quantity": "number",
    "revenue": "number",  # the order's value (product lines)
    "currency": "text",
    "region": "text",
    "channel": "text",
    "device_type": "text",
}
#: purchases are events of this type in conditions, read from the orders
PURCHASE = "order_completed"
#: the RFM job: its runs hold the RFM segments, the purchase summary's scores and the VIP list
RFM_JOB = "customer_intelligence"


@dataclass(frozen=True)
class Sources:
    """The store's tables as Ibis expressions and the moment conditions are evaluated at
    (``as_of``: nothing at or after it is seen), in the shop's time zone ``zone``."""

    tables: dict[str, Any]
    as_of: datetime
    zone: str = DEFAULT_SHOP_TZ

    @classmethod
    def of(cls, store: Store, as_of: datetime, zone: str = DEFAULT_SHOP_TZ) -> Sources:
        names = (
            "events",
            "orders",
            "order_lines",
            "products",
            "profiles",
            "scores",
            "segment_members",
            "job_runs",
            "profile_facts",
            "consent_ledger",
            "segment_history",
        )
        return cls({name: store.table(name) for name in names}, as_of, zone)

    def __getitem__(self, name: str) -> Any:
        return self.tables[name]

    # -- who ------------------------------------------------------------------------------
    def customers(self) -> ir.Table:
        """Every customer (profile), once: the set a ``not`` is taken from."""
        return self["profiles"].select("profile_id").distinct()

    def members(self) -> ir.Table:
        """Customers with a member id (as ``insights.counts`` counts them)."""
        p = self["profiles"]
        return p.filter(p.kind == "user").select("profile_id").distinct()

    # -- what they did ----------------------------------------------------------------------
    def events(self) -> ir.Table:
        """Events before ``as_of`` (not yet tied to profiles: filter first, then ``owned``)."""
        e = self["events"]
        return e.filter(e.event_time < self.as_of)

    def owned(self, events: ir.Table) -> ir.Table:
        """``events`` with the profile id of whoever made them."""
        return event_profiles(events, self["profiles"])

    def purchases(self) -> ir.Table:
        """One row per product line of each purchase before ``as_of``: profile_id, event_time
        (when ordered) and ``PURCHASE_COLUMNS``."""
        o, lines, products = self["orders"], self["order_lines"], self["products"]
        tx = purchase_transactions(o, lines, self["profiles"])
        tx = tx.filter(tx.ordered_at < self.as_of)
        orders = o.select("order_id", "currency", "region", "channel", "device_type")
        kept = lines.filter(lines.is_product & ~lines.is_return).select(
            "order_id", "product_id", "quantity", price=lines.unit_price
        )
        catalogue = products.select("product_id", "category", "brand")
        rows = tx.join(orders, "order_id").join(kept, "order_id").left_join(catalogue, "product_id")
        return rows.select(
            "profile_id",
            "order_id",
            "product_id",
            "category",
            "brand",
            "price",
            "quantity",
            "currency",
            "region",
            "channel",
            "device_type",
            event_time=rows.ordered_at,
            revenue=rows.value,
        )

    def first_visits(self) -> ir.Table:
        """Each customer's first event: profile_id, first_at."""
        seen = self.owned(self.events())
        return seen.group_by("profile_id").aggregate(first_at=seen.event_time.min())

    # -- what the jobs found ----------------------------------------------------------------
    def latest_runs(self) -> ir.Table:
        """The latest successful run of each job at or before ``as_of``: job, run_id, as_of."""
        r = self["job_runs"]
        ok = r.filter((r.status == "ok") & (r.as_of <= self.as_of))
        return ok.group_by("job").aggregate(run_id=ok.run_id.argmax(ok.as_of), run_as_of=ok.as_of.max())

    def runs_of(self, job: str) -> ir.Table:
        r = self["job_runs"]
        return r.filter((r.status == "ok") & (r.as_of <= self.as_of) & (r.job == job))

    def scores(self, name: str) -> ir.Table:
        """Each customer's ``name`` score from the latest run that wrote it: profile_id, value."""
        s = self["scores"]
        latest = self.latest_runs().select("run_id", "run_as_of")
        found = s.filter(s.name == name).join(latest, "run_id")
        return found.group_by("profile_id").aggregate(value=found.value.argmax(found.run_as_of))

    def facts(self, kind: str) -> ir.Table:
        """Each customer's facts of ``kind`` (``taste``, ``habits``) from the latest run of the
        job that writes them: profile_id, facts (JSON)."""
        f = self["profile_facts"]
        latest = self.latest_runs().select("run_id")
        # one job writes each kind, once per profile and run: the latest run's rows, as they are
        # (no per-profile pick over every run's JSON, which costs a second on 100,000 customers)
        found = f.filter(f.kind == kind).semi_join(latest, "run_id")
        return found.select("profile_id", facts=found.facts.cast("json"))

    def segment_members(self) -> ir.Table:
        """RFM and model segments now: profile_id, segment, from the latest run of each job."""
        m = self["segment_members"]
        latest = self.latest_runs().select("run_id")
        return m.join(latest, "run_id").select("profile_id", "segment")

    def run_members(self, run_id: str | ir.Value) -> ir.Table:
        m = self["segment_members"]
        return m.filter(m.run_id == run_id).select("profile_id", "segment")

    def consent(self) -> ir.Table:
        """Each customer's current consent: profile_id, channel, purpose, granted. The latest
        decision per customer, channel and purpose holds, whichever of their identifiers (member
        id, device, e-mail, phone) it was recorded under; this is the one place that reads the
        consent records."""
        c, p = self["consent_ledger"], self["profiles"]
        c = c.filter(c.occurred_at <= self.as_of)
        keyed = c.left_join(p.select("identifier", p.profile_id.name("owner")), "identifier")
        keyed = keyed.mutate(profile_id=ibis.coalesce(keyed.owner, keyed.identifier))
        # the ledger's order: by when it happened, ties by the order shopmind stored them
        latest = ibis.window(
            group_by=[keyed.profile_id, keyed.channel, keyed.purpose],
            order_by=[keyed.occurred_at.desc(), keyed.seq.desc()],
        )
        ranked = keyed.mutate(rank=ibis.row_number().over(latest))
        return ranked.filter(ranked["rank"] == 0).select("profile_id", "channel", "purpose", "granted")

    def saved_members(self, segment_id: str) -> ir.Table:
        """The current members of a saved segment."""
        h = self["segment_history"]
        return h.filter((h.segment_id == segment_id) & h.exited_at.isnull()).select("profile_id")

    # -- traits -------------------------------------------------------------------------------
    def traits(self) -> ir.Table:
        """Per customer: the latest region their events carry, and from their ``identify`` calls'
        traits the latest gender, age band (``age_band``, else from ``age``) and sign-up date
        (``signed_up_at`` or ``created_at``, else their first ``identify`` as a member):
        profile_id, region, gender, age_band, signed_up."""
        e = self.events()
        seen = self.owned(e.select("type", "user_id", "anonymous_id", "event_time", "region", "properties"))

        def trait(name: str, kind: Kind = "text") -> Any:
            return json_value(seen.properties, ["traits", name], kind)

        gender = _trim(trait("gender").lower())
        # an age, or an age band the shop sends (a birth date is personal data: the collector drops it)
        age = trait("age", "number")
        identified = (seen.type == "identify") & seen.user_id.notnull()
        seen = seen.mutate(
            _gender=ibis.cases(
                (gender.isin(["f", "female", "woman", "여", "여성", "여자"]), "female"),
                (gender.isin(["m", "male", "man", "남", "남성", "남자"]), "male"),
                (gender.notnull() & (gender != ""), "other"),
                else_=ibis.null("string"),
            ),
            _age=age,
            _age_band=trait("age_band"),
            _signed=ibis.coalesce(trait("signed_up_at").left(10), trait("created_at").left(10)).try_cast(
                "date"
            ),
            _identified=ibis.ifelse(identified, seen.event_time, ibis.null("timestamp('UTC')")),
        )
        per = seen.group_by("profile_id").aggregate(
            region=seen.region.argmax(seen.event_time, where=seen.region.notnull()),
            gender=seen._gender.argmax(seen.event_time, where=seen._gender.notnull()),
            age=seen._age.argmax(seen.event_time, where=seen._age.notnull()),
            age_band=seen._age_band.argmax(seen.event_time, where=seen._age_band.notnull()),
            signed=seen._signed.min(),
            first_identified=seen._identified.min(),
        )
        return per.select(
            "profile_id",
            "region",
            "gender",
            age_band=ibis.coalesce(per.age_band, age_band(per.age)),
            signed_up=ibis.coalesce(per.signed, local_day(per.first_identified, self.zone, self.as_of)),
        )

    def price_bands(self) -> ir.Table:
        """Each customer's price band (``low``, ``mid``, ``high``) from their taste: where the
        prices they pay (else look at) sit among the catalogue's (``features.price_band``)."""
        taste = self.facts("taste")
        price = ibis.coalesce(
            json_value(taste.facts, ["bought_price_avg"], "number"),
            json_value(taste.facts, ["viewed_price_avg"], "number"),
        )
        thirds = catalogue_price_thirds(self["products"])
        joined = taste.mutate(price=price).cross_join(thirds)
        return joined.select("profile_id", value=price_band(joined.price, joined.low, joined.high))


@ibis.udf.scalar.builtin(name="trim")
def _trim(text: str) -> str:  # type: ignore[empty-body]
    """Spaces off both ends, by the engine's own one-argument ``trim`` (the same on DuckDB and
    Spark). Ibis's ``strip()`` passes the whitespace characters as a second argument, which Spark
    reads the other way round: ``"F"`` came back empty, and a woman's gender was lost."""


def age_band(age: ir.FloatingValue) -> ir.StringValue:
    """``10s`` .. ``50s``, ``60s+`` (null under 10 or unknown)."""
    decade = (age / 10).floor().cast("int64")
    return ibis.cases(
        (age.isnull() | (age < 10), ibis.null("string")),
        (decade >= 6, "60s+"),
        else_=decade.cast("string") + "0s",
    )


def day_start(day: date, zone: str) -> datetime:
    """The UTC instant a shop-local day starts."""
    from zoneinfo import ZoneInfo

    return datetime.combine(day, datetime.min.time(), ZoneInfo(zone)).astimezone(ZoneInfo("UTC"))
