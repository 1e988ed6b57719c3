"""Where a customer is reached, asked at hand-over: shopmind stores no address (only keyed hashes of
e-mail and phone), so the sender asks a :class:`~shopmind.activation.ContactBook` for each message
as it goes out.

* :class:`FileContacts`: the shop's contact file (its member export with 아이디, 이메일, 휴대폰),
  read with ``audiences.contact_batches`` into this process's memory only (never the store, never
  a log): a member matches by member id (``user:<id>``), a guest by the keyed hash of the e-mail or
  phone the store knows them by.
* :class:`PushSubscriptions`: the store's push subscriptions (a browser's Web Push subscription,
  an app's device token: handed over through the API; no address anyone could write to without
  the shop's keys), the newest in force per customer.
* :class:`ChainedContacts`: the first book that knows an address.
* :class:`MemoryContacts`: addresses given in a mapping (tests, and a shop that looks them up
  itself).

A book backed by the store works on the connection it was given: build it on the thread that
sends (the sender's), and give it that thread's connection."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from shopmind.activation._message import ContactBook
from shopmind.audiences import contact_batches
from shopmind.core import IdentifierHasher
from shopmind.store import Store, push_address

#: which field of a contact file reaches a customer on each consent channel
CONTACT_FIELDS = {"email": "email", "sms": "phone", "kakao": "phone"}
_EMAIL, _PHONE = 0, 1


@dataclass
class MemoryContacts:
    """``addresses``: profile id → {channel → address}."""

    addresses: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def address(self, profile_id: str, channel: str) -> str | None:
        return self.addresses.get(profile_id, {}).get(channel)


class FileContacts:
    """The shop's contact file, held in memory for as long as the book lives. ``hasher`` (the
    workspace's) lets guests known only by a hashed e-mail or phone be matched too."""

    def __init__(
        self,
        store: Store,
        source: Path | str,
        columns: Mapping[str, str] | None = None,
        *,
        encoding: str = "utf-8",
        hasher: IdentifierHasher | None = None,
    ) -> None:
        self._store = store
        self._by_identifier: dict[str, tuple[str | None, str | None]] = {}
        self._identifiers: dict[str, tuple[str, ...]] = {}
        _, batches = contact_batches(source, columns, encoding=encoding)
        for batch in batches:
            members, emails, phones = (batch.column(i).to_pylist() for i in range(3))
            for member, email, phone in zip(members, emails, phones, strict=True):
                email, phone = (email or "").strip() or None, (phone or "").strip() or None
                contact = (email, phone)
                if member and member.strip():
                    self._by_identifier.setdefault(f"user:{member.strip()}", contact)
                if hasher is not None:  # a guest is stored as the keyed hash of what they gave
                    if email and (hashed := hasher.email(email)):
                        self._by_identifier.setdefault(f"email:{hashed}", contact)
                    if phone and (hashed := hasher.phone(phone)):
                        self._by_identifier.setdefault(f"phone:{hashed}", contact)

    def __len__(self) -> int:
        return len(self._by_identifier)

    def prefetch(self, profile_ids: Sequence[str]) -> None:
        """Read the identifiers of these customers in one query (the sender calls it per batch)."""
        wanted = sorted(set(profile_ids) - self._identifiers.keys())
        if not wanted:
            return
        found: dict[str, list[str]] = {p: [p] for p in wanted}
        for profile_id, identifier in self._store.sql(
            "SELECT profile_id, identifier FROM profiles WHERE list_contains(?, profile_id)", [wanted]
        ):
            found[profile_id].append(identifier)
        self._identifiers.update({p: tuple(ids) for p, ids in found.items()})

    def forget(self) -> None:
        """Forget the identifiers read so far (a merge or an erasure may have changed them)."""
        self._identifiers.clear()

    def address(self, profile_id: str, channel: str) -> str | None:
        wanted = CONTACT_FIELDS.get(channel)
        if wanted is None:
            return None
        if profile_id not in self._identifiers:
            self.prefetch([profile_id])
        position = _EMAIL if wanted == "email" else _PHONE
        # a member's own row first (member id), then what a guest gave
        for identifier in sorted(self._identifiers[profile_id], key=lambda i: not i.startswith("user:")):
            contact = self._by_identifier.get(identifier)
            if contact is not None and contact[position]:
                return contact[position]
        return None


class PushSubscriptions:
    """A customer's newest push subscription in force (not revoked): for ``web_push`` the browser's,
    as the subscription JSON the web-push channel takes (``{"endpoint": …, "keys": {"p256dh": …,
    "auth": …}}``); for ``app_push`` the app's device token (registered with
    ``POST /v1/push-subscriptions``, ``kind: "app"``)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def address(self, profile_id: str, channel: str) -> str | None:
        if channel == "app_push":
            found = push_address(self._store, profile_id, "app")
            return found[0] if found else None
        if channel != "web_push":
            return None
        found = push_address(self._store, profile_id, "web")
        if found is None:
            return None
        endpoint, p256dh, auth = found
        return orjson.dumps({"endpoint": endpoint, "keys": {"p256dh": p256dh, "auth": auth}}).decode()


class ChainedContacts:
    """Asks each book in turn; the first address found is the answer."""

    def __init__(self, books: Iterable[ContactBook]) -> None:
        self.books = tuple(books)

    def prefetch(self, profile_ids: Sequence[str]) -> None:
        for book in self.books:
            prefetch = getattr(book, "prefetch", None)
            if prefetch is not None:
                prefetch(profile_ids)

    def address(self, profile_id: str, channel: str) -> str | None:
        for book in self.books:
            found = book.address(profile_id, channel)
            if found:
                return found
        return None
