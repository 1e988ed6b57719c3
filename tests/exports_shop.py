"""A small shop for the export tests: members who told the shop their e-mail and phone (the store
keeps only keyed hashes), a guest known by a hashed e-mail, ad consents on e-mail and SMS, and a
customer-intelligence run and a purchase-probability run with scores; plus the shop's contact
file (its member export), which shopmind reads at export time and never stores."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import orjson
import pyarrow as pa

from shopmind.ingest import import_events, import_orders
from shopmind.store import ConsentEntry, Workspace, record_consents

from .conftest import NOW


@dataclass(frozen=True)
class Person:
    member: str | None  # member id (None: a guest)
    email: str
    phone: str
    email_consent: bool
    sms_consent: bool
    p7d: float  # purchase probability over 7 days
    segment: str

    @property
    def profile_id(self) -> str:
        return f"user:{self.member}" if self.member else ""


PEOPLE = (
    Person("m001", "Kim.Minji@Gmail.com ", "010-1234-0001", True, True, 0.45, "vip"),
    Person("m002", "lee@example.co.kr", "01012340002", True, False, 0.35, "vip"),
    Person("m003", "park@example.com", "+82 10-1234-0003", False, True, 0.55, "loyal"),
    Person("m004", "choi@example.com", "010 1234 0004", False, False, 0.50, "loyal"),
    Person("m005", '=HYPERLINK("http://x")@example.com', "010-1234-0005", True, True, 0.10, "about_to_churn"),
    Person("=cmd|' /C calc'!A0", "jung@example.com", "010-1234-0006", True, True, 0.40, "vip"),
)
GUEST = Person(None, "guest.buyer@example.com", "010-9999-0000", True, True, 0.0, "")
STRANGER = ("m999", "stranger@example.com", "010-5555-0000")  # in the contact file, not in the store


@dataclass(frozen=True)
class ExportShop:
    ws: Workspace
    contacts: Path
    guest_profile: str


def contact_csv(rows: list[tuple[str, str, str]]) -> str:
    lines = ["아이디,이메일,휴대폰"]
    for member, email, phone in rows:
        cells = [member, email, phone]
        lines.append(",".join('"' + c.replace('"', '""') + '"' for c in cells))
    return "\n".join(lines) + "\n"


def build(folder: Path) -> ExportShop:
    ws = Workspace.init(folder / "shop")
    hasher = ws.hasher()
    events = []
    for i, p in enumerate(PEOPLE):
        assert p.member
        events.append(
            {
                "messageId": f"id-{i}",
                "type": "identify",
                "anonymousId": f"anon-{i}",
                "userId": p.member,
                "traits": {"email": p.email, "mobile": p.phone},
                "timestamp": "2026-10-01T10:00:00Z",
            }
        )
    path = folder / "events.jsonl"
    path.write_text("\n".join(orjson.dumps(e).decode() for e in events) + "\n")
    orders = folder / "orders.csv"
    orders.write_text(
        "order_id,ordered_at,product_id,quantity,unit_price,customer_id,email,phone\n"
        f"G-1,2026-10-03 10:00:00,P2,1,500,,{GUEST.email},\n"
    )
    with ws.open_store() as store:
        import_events(store, path, hasher=hasher)
        import_orders(store, orders, hasher=hasher)
        guest = store.sql(
            "SELECT profile_id FROM profiles WHERE kind = 'email' AND profile_id NOT LIKE 'user:%'"
        )
        guest_profile = guest[0][0]
        signed_up, later = NOW - timedelta(days=30), NOW - timedelta(days=10)

        def entry(ident: str, channel: str, granted: bool, at: datetime, method: str) -> ConsentEntry:
            return ConsentEntry(ident, channel, granted, at, method, source="exports_shop")

        entries = []
        for p in PEOPLE:
            # consent recorded on different identifiers of the person: the profile's latest decision counts
            entries.append(entry(p.profile_id, "email", not p.email_consent, signed_up, "signup_form"))
            entries.append(entry(p.profile_id, "sms", p.sms_consent, signed_up, "signup_form"))
            # a later decision wins: the e-mail consents flip to their final value
            email_id = f"email:{hasher.email(p.email)}"
            entries.append(entry(email_id, "email", p.email_consent, later, "unsubscribe_link"))
        entries.append(entry(guest_profile, "email", True, signed_up, "checkout"))
        entries.append(entry(guest_profile, "sms", True, signed_up, "checkout"))
        record_consents(store, entries)
        everyone = [p.profile_id for p in PEOPLE] + [guest_profile]
        with store.job_run("customer_intelligence", NOW - timedelta(days=1)) as run_id:
            store.write_scores(
                run_id,
                NOW,
                pa.table(
                    {
                        "profile_id": everyone,
                        "name": ["clv_12m"] * len(everyone),
                        "value": [1000.0 * (i + 1) for i in range(len(everyone))],
                    }
                ),
            )
            store.write_segment_members(
                run_id,
                NOW,
                pa.table(
                    {
                        "segment": [p.segment for p in PEOPLE] + ["new"],
                        "profile_id": everyone,
                    }
                ),
            )
        with store.job_run("purchase_probability", NOW) as run_id:
            store.write_scores(
                run_id,
                NOW,
                pa.table(
                    {
                        "profile_id": everyone,
                        "name": ["purchase_probability_7d"] * len(everyone),
                        "value": [p.p7d for p in PEOPLE] + [0.45],
                    }
                ),
            )
    contacts = folder / "members.csv"
    rows = [(p.member or "", p.email, p.phone) for p in PEOPLE]
    rows += [("", GUEST.email, GUEST.phone), STRANGER]
    contacts.write_text(contact_csv(rows), encoding="utf-8")
    return ExportShop(ws, contacts, guest_profile)
