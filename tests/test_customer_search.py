"""Customer 360 search by contact data: a guest of the demo shop is found by the phone number and
e-mail the simulator gave them (plain values from its seed, never read from the store), typed in
any of the usual forms, through the workspace's keyed hash; other text finds no one by contact."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shopmind.core import IdentifierHasher
from shopmind.demo import guest_contact
from shopmind.pipeline import customer_profile, load_demo_shop, resolve_profile
from shopmind.store import Store, Workspace

SEED = 7


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, IdentifierHasher]]:
    ws = Workspace.init(tmp_path_factory.mktemp("search") / "shop")
    with ws.open_store() as store:
        load_demo_shop(store, customers=200, days=20, seed=SEED, hasher=ws.hasher())
        yield store, ws.hasher()


def _buying_guest(store: Store, hasher: IdentifierHasher) -> tuple[str, str, int]:
    """A guest's plain e-mail and phone and their order count, found by hashing the simulator's
    contacts and counting in the orders table (the oracle)."""
    for guest in range(500):
        email, phone = guest_contact(SEED, guest)
        orders = store.scalar("SELECT count(*) FROM orders WHERE phone_hash = ?", [hasher.phone(phone)])
        if orders:
            return email, phone, int(orders)
    raise AssertionError("no guest of the demo shop bought")


def test_a_guest_is_found_by_phone_in_any_form_and_by_email(shop: tuple[Store, IdentifierHasher]) -> None:
    store, hasher = shop
    email, phone, orders = _buying_guest(store, hasher)
    digits = phone.replace("-", "")
    forms = [phone, digits, "+82 " + digits[1:3] + " " + digits[3:7] + " " + digits[7:], f" {phone} "]
    found = {resolve_profile(store, form, hasher) for form in forms}
    assert len(found) == 1 and None not in found
    profile_id = found.pop()
    assert resolve_profile(store, email.upper(), hasher) == profile_id  # e-mail: case and spaces ignored
    profile = customer_profile(store, profile_id)
    assert profile is not None and profile["orders"]["count"] == orders


def test_contact_search_needs_the_workspace_key_and_a_real_contact(
    shop: tuple[Store, IdentifierHasher],
) -> None:
    store, hasher = shop
    _, phone, _ = _buying_guest(store, hasher)
    assert resolve_profile(store, phone) is None  # without the hasher a phone is just text
    other = IdentifierHasher(b"another workspace's key!!")
    assert resolve_profile(store, phone, other) is None  # another key: another hash
    assert resolve_profile(store, "010-0000", hasher) is None  # too short to be a phone number
    assert resolve_profile(store, "m000001", hasher) == resolve_profile(store, "user:m000001")
