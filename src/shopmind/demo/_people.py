"""Phase 2 of the simulator: members, anonymous visitors, job seekers and their devices."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace

import numpy as np
import pyarrow as pa

from shopmind.core import IdentifierHasher
from shopmind.demo._catalogue import CATEGORY_WEIGHTS
from shopmind.demo._geography import CITY_COUNTS, CITY_OFFSETS, REGION_SHARES
from shopmind.demo._sampling import COAT, KIMCHI, RAIN, choice, hex_strings, pick, take, uuid4_strings

# Kinds of person (``People.tier``).
NONBUYER, REGULAR, VIP, CHURNED, VISITOR, GUEST, SCANNER = range(7)

VIP_SHARE = 0.07  # of members; about a fifth of the members who buy
CHURNED_SHARE = 0.2  # of VIPs
REGULAR_SHARE = 0.55  # of the other members
HABIT_SHARE = 0.12  # of regular buyers
LATE_JOINER_SHARE = 0.25  # of regular members without a habit: they sign up during the period
VISITORS_PER_MEMBER = 0.6
GUEST_SHARE = 0.12  # of visitors
SCANNER_SHARE = 0.004  # of members

#: Mean sessions and orders a day and the gamma shape of their spread, per kind of person.
RATES: dict[int, tuple[float, float, float]] = {
    NONBUYER: (0.024, 0.0, 1.0),
    REGULAR: (0.036, 0.013, 1.2),
    VIP: (0.16, 0.1, 6.0),
    CHURNED: (0.18, 0.15, 6.0),
    VISITOR: (0.016, 0.0, 1.0),
    GUEST: (0.016, 0.008, 1.2),
}

#: Shop-wide share of sessions starting in each KST hour (commute, lunch and the evening peak).
HOUR_WEIGHTS = np.array(
    [
        *(1.0, 0.6, 0.3, 0.2, 0.2, 0.3, 0.8, 1.8, 2.2, 2.0, 2.2, 2.6),  # 0-11h
        *(3.4, 3.2, 2.6, 2.5, 2.6, 2.8, 3.0, 3.4, 4.2, 4.8, 4.6, 3.0),  # 12-23h
    ]
)

DEVICE_TYPES = ("mobile", "desktop", "tablet")
MOBILE, DESKTOP, TABLET = range(3)
OS_NAMES = ("iOS", "Android", "iPadOS", "Windows", "macOS")
CHANNEL_NAMES = ("web", "app")


@dataclass(frozen=True)
class People:
    """Everyone who visits the shop; index = person. Members come first (index < ``members``)."""

    members: int
    tier: np.ndarray
    region: np.ndarray
    city: np.ndarray
    favourite: np.ndarray  # category index
    preferred_hour: np.ndarray  # KST
    active_from: np.ndarray  # first active day
    active_to: np.ndarray  # first day after the active window
    browse_rate: np.ndarray  # browsing sessions a day
    order_rate: np.ndarray  # orders a day
    habit: np.ndarray  # bool: the device-by-hour habit group
    first_device: np.ndarray
    device_count: np.ndarray
    device_type: np.ndarray  # per device
    device_os: np.ndarray
    device_channel: np.ndarray
    anonymous_ids: pa.Array  # per device
    user_ids: pa.Array  # per member
    email_hashes: pa.Array  # per person, null but for guests
    phone_hashes: pa.Array

    @property
    def size(self) -> int:
        return int(self.tier.size)

    @property
    def premium(self) -> np.ndarray:
        return (self.tier == VIP) | (self.tier == CHURNED)


def make_people(rng: np.random.Generator, customers: int, days: int) -> People:
    members = customers
    visitors = round(VISITORS_PER_MEMBER * customers)
    scanners = max(3, round(SCANNER_SHARE * customers))
    n = members + visitors + scanners

    tier = np.full(n, NONBUYER, dtype=np.int64)
    order = rng.permutation(members)
    n_vip = max(2, round(VIP_SHARE * members)) if members >= 10 else min(members, 1)
    n_churned = max(1, round(CHURNED_SHARE * n_vip)) if n_vip >= 2 else 0
    n_regular = round(REGULAR_SHARE * (members - n_vip))
    tier[order[:n_vip]] = VIP
    tier[order[:n_churned]] = CHURNED
    regular = order[n_vip : n_vip + n_regular]
    tier[regular] = REGULAR
    habit = np.zeros(n, dtype=bool)
    habit[regular[: round(HABIT_SHARE * n_regular)]] = True
    tier[members : members + visitors] = np.where(rng.random(visitors) < GUEST_SHARE, GUEST, VISITOR)
    tier[members + visitors :] = SCANNER

    region = choice(rng, REGION_SHARES, n)
    city = pick(rng, CITY_OFFSETS[region], CITY_COUNTS[region])
    taste = CATEGORY_WEIGHTS.copy()
    taste[[COAT, RAIN, KIMCHI]] = 0.0  # favourites must not blur the weather and pair truths
    favourite = choice(rng, taste, n)
    preferred_hour = choice(rng, HOUR_WEIGHTS, n)

    active_from = np.zeros(n, dtype=np.int64)
    active_to = np.full(n, days, dtype=np.int64)
    late = np.zeros(n, dtype=bool)
    late[:members] = (tier[:members] == REGULAR) & ~habit[:members]
    late &= rng.random(n) < LATE_JOINER_SHARE
    active_from[late] = (rng.random(int(late.sum())) * 0.9 * days).astype(np.int64)
    churned = tier == CHURNED
    active_to[churned] = np.maximum(1, (rng.uniform(0.45, 0.6, int(churned.sum())) * days).astype(np.int64))

    browse_rate = np.zeros(n)
    order_rate = np.zeros(n)
    for kind, (browse, orders, shape) in RATES.items():
        chosen = np.flatnonzero(tier == kind)
        browse_rate[chosen] = rng.gamma(2.0, browse / 2.0, chosen.size)
        if orders:
            order_rate[chosen] = rng.gamma(shape, orders / shape, chosen.size)
    order_rate[habit] += 0.01  # enough orders to see the habit even in a short demo
    browse_rate[habit] = np.maximum(browse_rate[habit], 0.04)

    device_count = np.ones(n, dtype=np.int64)
    device_count[:members] = choice(rng, [0.45, 0.4, 0.15], members) + 1
    device_count[habit] = 2
    first_device = np.concatenate([[0], np.cumsum(device_count)[:-1]]).astype(np.int64)
    n_devices = int(device_count.sum())
    device_type = choice(rng, [0.6, 0.3, 0.1], n_devices)
    scanner_devices = first_device[tier == SCANNER]
    device_type[scanner_devices] = np.where(rng.random(scanner_devices.size) < 0.7, DESKTOP, MOBILE)
    device_type[first_device[habit]] = MOBILE
    device_type[first_device[habit] + 1] = DESKTOP
    u = rng.random(n_devices)
    device_os = np.select(
        [device_type == MOBILE, device_type == TABLET],
        [np.where(u < 0.35, 0, 1), np.where(u < 0.55, 2, 1)],
        np.where(u < 0.8, 3, 4),
    )
    app_share = np.array([0.55, 0.0, 0.35])[device_type]
    device_channel = (rng.random(n_devices) < app_share).astype(np.int64)

    anonymous_ids = uuid4_strings(rng, n_devices)
    user_ids = pa.array([f"m{i:06d}" for i in range(1, members + 1)], pa.string())

    guests = np.flatnonzero(tier == GUEST)
    contact = np.full(n, -1, dtype=np.int64)
    contact[guests] = np.arange(guests.size)
    return People(
        members=members,
        tier=tier,
        region=region,
        city=city,
        favourite=favourite,
        preferred_hour=preferred_hour,
        active_from=active_from,
        active_to=active_to,
        browse_rate=browse_rate,
        order_rate=order_rate,
        habit=habit,
        first_device=first_device,
        device_count=device_count,
        device_type=device_type,
        device_os=device_os,
        device_channel=device_channel,
        anonymous_ids=anonymous_ids,
        user_ids=user_ids,
        email_hashes=take(hex_strings(rng, guests.size, 32), contact),
        phone_hashes=take(hex_strings(rng, guests.size, 32), contact),
    )


#: odd and not a multiple of 5, so ``guest * _PHONE_STEP`` never repeats modulo 10**8: each guest
#: of a shop has a phone number of their own
_PHONE_STEP = 7_654_321


def guest_contact(seed: int, guest: int) -> tuple[str, str]:
    """The plain e-mail address and mobile number of the ``guest``-th guest (counting guests in
    person order) of the shop made from ``seed``: a function of the seed alone, so a test or a demo
    user can type them; the store keeps only their keyed hashes."""
    shift = int.from_bytes(hashlib.sha256(f"shopmind-demo:{seed}".encode()).digest()[:4], "big")
    number = (guest * _PHONE_STEP + shift) % 100_000_000
    return f"guest{guest}.s{seed}@example.com", f"010-{number // 10_000:04d}-{number % 10_000:04d}"


#: the demo members' e-mail domain: ``.invalid`` is reserved (RFC 2606), so no demo message can reach anyone
MEMBER_EMAIL_DOMAIN = "demo.shopmind.invalid"


def member_contact(member_id: str) -> tuple[str, str] | None:
    """The synthetic e-mail address and mobile number of the demo member ``member_id`` (``m003412``
    → ``m003412@demo.shopmind.invalid``, ``010-0000-3412``): derived from the id, so the demo's
    contact book needs no file and the store never holds an address. None for an id the demo
    shop does not make."""
    if len(member_id) < 2 or member_id[0] != "m" or not member_id[1:].isdigit():
        return None
    number = int(member_id[1:]) % 100_000_000
    return f"{member_id}@{MEMBER_EMAIL_DOMAIN}", f"010-{number // 10_000:04d}-{number % 10_000:04d}"


def with_contact_hashes(people: People, seed: int, hasher: IdentifierHasher) -> People:
    """``people`` whose guests carry the keyed hashes of their :func:`guest_contact` (in place of
    random strings), so the dashboard finds a guest by the phone number or e-mail typed in."""
    guests = np.flatnonzero(people.tier == GUEST)
    contact = np.full(people.tier.size, -1, dtype=np.int64)
    contact[guests] = np.arange(guests.size)
    plain = [guest_contact(seed, g) for g in range(guests.size)]
    emails = pa.array([hasher.email(e) for e, _ in plain], pa.string())
    phones = pa.array([hasher.phone(p) for _, p in plain], pa.string())
    return replace(people, email_hashes=take(emails, contact), phone_hashes=take(phones, contact))
