"""Identity: any order of identify/alias/track calls gives the same customers; undoing a merge
restores the grouping without it."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from shopmind.core import IdentifierHasher
from shopmind.events import IdentityGraph, validate_event
from shopmind.events._model import events_to_arrow
from shopmind.store import Store

from .conftest import NOW

IDS = [f"anon:a{i}" for i in range(6)] + [f"user:u{i}" for i in range(4)] + ["email:e1", "phone:p1"]
pair = st.tuples(st.sampled_from(IDS), st.sampled_from(IDS))


def _naive_groups(edges: list[tuple[str, str]], nodes: set[str]) -> frozenset[frozenset[str]]:
    """Connected components by repeated search, the slow obvious way."""
    adj: dict[str, set[str]] = {n: set() for n in nodes}
    for a, b in edges:
        adj[a].add(b)
        adj[b].add(a)
    seen: set[str] = set()
    groups = []
    for n in nodes:
        if n in seen:
            continue
        stack, comp = [n], set()
        while stack:
            x = stack.pop()
            if x in comp:
                continue
            comp.add(x)
            stack.extend(adj[x] - comp)
        seen |= comp
        groups.append(frozenset(comp))
    return frozenset(groups)


def _graph(calls: list[tuple[str, str]]) -> IdentityGraph:
    g = IdentityGraph()
    for a, b in calls:
        g.link(a, b)
    return g


@settings(max_examples=200, deadline=None)
@given(st.lists(pair, max_size=25), st.randoms(use_true_random=False))
def test_any_order_converges_to_the_same_customers(calls: list[tuple[str, str]], rnd: random.Random) -> None:
    shuffled = calls[:]
    rnd.shuffle(shuffled)
    flipped = [(b, a) for a, b in shuffled]
    g1, g2, g3 = _graph(calls), _graph(shuffled), _graph(flipped)
    nodes = {x for c in calls for x in c}
    assert g1.groups() == g2.groups() == g3.groups() == _naive_groups(calls, nodes)
    # the profile id is the same whatever the order, and the most authoritative identifier
    assert g1.assignments() == g2.assignments() == g3.assignments()
    for group in g1.groups():
        users = sorted(x for x in group if x.startswith("user:"))
        if users:
            assert g1.profile_of(next(iter(group))) == users[0]


@settings(max_examples=200, deadline=None)
@given(st.lists(pair, min_size=1, max_size=25), st.data())
def test_undo_restores_the_grouping_without_that_link(
    calls: list[tuple[str, str]], data: st.DataObject
) -> None:
    g = IdentityGraph()
    history = []
    for a, b in calls:
        before = g.groups()
        link = g.link(a, b)
        history.append((link, before))
    made = [(lk, before) for lk, before in history if lk is not None]
    if not made:
        return
    # undoing the latest link gives back exactly the grouping before it (identifiers first seen
    # in that call stay known, each a customer of its own)
    last, before = made[-1]
    g.undo(last.link_id)
    known_before = {x for group in before for x in group}
    restricted = frozenset(frozenset(grp & known_before) for grp in g.groups() if grp & known_before)
    assert restricted == before
    # undoing any other link gives the grouping of the remaining links
    remaining = [lk for lk, _ in made[:-1]]
    if remaining:
        victim = data.draw(st.sampled_from(remaining))
        g.undo(victim.link_id)
        rest = [(lk.a, lk.b) for lk in remaining if lk.link_id != victim.link_id]
        nodes = {x for c in calls for x in c}
        assert g.groups() == _naive_groups(rest, nodes)


def test_store_stitches_devices_and_guests_and_undoes(store: Store, hasher: IdentifierHasher) -> None:
    raw = [
        {"messageId": "1", "type": "page_view", "anonymousId": "phone-device"},
        {"messageId": "2", "type": "page_view", "anonymousId": "laptop"},
        {"messageId": "3", "type": "identify", "anonymousId": "phone-device", "userId": "kim"},
        {
            "messageId": "4",
            "type": "identify",
            "anonymousId": "laptop",
            "userId": "kim",
            "traits": {"email": " Kim@Example.com "},
        },
        {"messageId": "5", "type": "alias", "previousId": "old-cookie", "userId": "kim"},
        {"messageId": "6", "type": "page_view", "anonymousId": "stranger"},
    ]
    events = [validate_event(r, received_at=NOW, hasher=hasher) for r in raw]
    store.write_events(events_to_arrow(events))
    store.rebuild_profiles()
    profile = dict(store.sql("SELECT identifier, profile_id FROM profiles"))
    email_id = "email:" + hasher.email("kim@example.com")  # type: ignore[operator]
    for ident in ("anon:phone-device", "anon:laptop", "anon:old-cookie", "user:kim", email_id):
        assert profile[ident] == "user:kim", ident
    assert profile["anon:stranger"] == "anon:stranger"  # an anonymous visitor is a profile too
    assert "kim@example.com" not in str(store.sql("SELECT * FROM events"))

    laptop = next(
        lid for lid, a, b in store.sql("SELECT link_id, a, b FROM identity_links") if "anon:laptop" in (a, b)
    )
    store.undo_link(laptop)
    store.rebuild_profiles()
    profile = dict(store.sql("SELECT identifier, profile_id FROM profiles"))
    assert profile["anon:laptop"] == "anon:laptop"
    assert profile["anon:phone-device"] == "user:kim"
    assert store.scalar("SELECT count(*) FROM identity_links WHERE undone_at IS NOT NULL") == 1


ANON = [f"dev{i}" for i in range(5)]
USERS = [f"member{i}" for i in range(3)]
call = st.one_of(
    st.builds(
        lambda a, u: {"type": "identify", "anonymousId": a, "userId": u},
        st.sampled_from(ANON),
        st.sampled_from(USERS),
    ),
    st.builds(
        lambda a, u: {"type": "alias", "previousId": a, "userId": u},
        st.sampled_from(ANON),
        st.sampled_from(USERS),
    ),
    st.builds(
        lambda a, u: {"type": "page_view", "anonymousId": a, **({"userId": u} if u else {})},
        st.sampled_from(ANON),
        st.one_of(st.none(), st.sampled_from(USERS)),
    ),
)


def _store_grouping(calls: list[dict[str, object]]) -> frozenset[frozenset[str]]:
    with Store(":memory:") as store:
        events = [validate_event({**c, "messageId": f"m{i}"}, received_at=NOW) for i, c in enumerate(calls)]
        for e in events:  # one call at a time, as a live server would receive them
            store.write_events(events_to_arrow([e]))
        store.rebuild_profiles()
        groups: dict[str, set[str]] = {}
        for ident, profile in store.sql("SELECT identifier, profile_id FROM profiles"):
            groups.setdefault(profile, set()).add(ident)
        return frozenset(frozenset(g) for g in groups.values())


@settings(max_examples=25, deadline=None)
@given(st.lists(call, min_size=1, max_size=12), st.randoms(use_true_random=False))
def test_identify_alias_track_in_any_order_give_the_same_customers(
    calls: list[dict[str, object]], rnd: random.Random
) -> None:
    shuffled = calls[:]
    rnd.shuffle(shuffled)
    assert _store_grouping(calls) == _store_grouping(shuffled)
