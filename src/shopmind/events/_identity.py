"""The identity graph: which identifiers (devices, anonymous ids, member ids, hashed contact
data) belong to one customer.

Identifiers are strings with a kind prefix: ``user:123``, ``anon:7f3a``, ``email:<hmac>``,
``phone:<hmac>``. Every identify/alias call (or event carrying two identifiers) adds a *link*;
a customer (profile) is a connected component of the active links. Because the grouping is a
function of the set of links alone, any order of calls gives the same customers, and undoing a
link (a recorded merge) restores exactly the grouping without it.

The profile id of a group is its most authoritative identifier (member id before hashed e-mail
before hashed phone before anonymous id), smallest first within a kind, so it is deterministic.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from shopmind.core import UnknownIdentityLinkError

KIND_PRIORITY = ("user", "email", "phone", "anon")


def identifier(kind: str, value: str) -> str:
    """The graph's name for an identifier, e.g. ``identifier("user", "42") == "user:42"``."""
    if kind not in KIND_PRIORITY:
        raise ValueError(f"unknown identifier kind {kind!r}; expected one of {KIND_PRIORITY}")
    return f"{kind}:{value}"


#: The event columns ``implied_links`` reads, in its order.
LINK_COLUMNS = ("type", "anonymous_id", "user_id", "previous_id", "email_hash", "phone_hash")


def implied_links(
    rows: Iterable[tuple[str | None, str | None, str | None, str | None, str | None, str | None]],
) -> list[tuple[str, str, str]]:
    """The links events imply, each once, in order: the anonymous id with the user id, an alias's
    previous id with its user id, and hashed e-mail or phone with whoever sent it. ``rows``: each
    event's ``LINK_COLUMNS``."""
    pairs: dict[tuple[str, str, str], None] = {}
    for kind, anon, user, previous, email, phone in rows:
        if anon is not None and user is not None:
            pairs[(f"anon:{anon}", f"user:{user}", "identify" if kind == "identify" else "event")] = None
        if kind == "alias" and previous is not None and user is not None:
            pairs[(f"anon:{previous}", f"user:{user}", "alias")] = None
        who = f"user:{user}" if user is not None else f"anon:{anon}" if anon is not None else None
        if who is not None:
            if email is not None:
                pairs[(who, f"email:{email}", "contact")] = None
            if phone is not None:
                pairs[(who, f"phone:{phone}", "contact")] = None
    return list(pairs)


def _rank(ident: str) -> tuple[int, str]:
    kind, _, value = ident.partition(":")
    try:
        return KIND_PRIORITY.index(kind), value
    except ValueError:
        return len(KIND_PRIORITY), ident


@dataclass(frozen=True)
class IdentityLink:
    """One piece of evidence that ``a`` and ``b`` are the same customer.

    ``merged`` says whether it joined two customers when it was made (a merge); a link between
    identifiers already grouped is still kept, so undoing another link cannot drop its evidence.
    """

    link_id: int
    a: str
    b: str
    reason: str
    merged: bool = True


class IdentityGraph:
    """Links between identifiers, with the customer groups they imply."""

    def __init__(self, links: Iterable[IdentityLink] = (), *, next_id: int = 1) -> None:
        self._links: dict[int, IdentityLink] = {}
        self._pairs: dict[tuple[str, str], int] = {}
        self._nodes: set[str] = set()
        self._parent: dict[str, str] | None = None
        self._next_id = next_id
        #: counts the changes of the links (each added or undone one): equal versions of one
        #: graph mean the same customers
        self.version = 0
        for link in links:
            self._add(link)

    def _add(self, link: IdentityLink) -> None:
        self.version += 1
        self._links[link.link_id] = link
        self._pairs[(min(link.a, link.b), max(link.a, link.b))] = link.link_id
        self._nodes.update((link.a, link.b))
        self._next_id = max(self._next_id, link.link_id + 1)
        if self._parent is not None:
            self._union(link.a, link.b)

    # union-find, rebuilt lazily after an undo
    def _find(self, x: str) -> str:
        parent = self._forest()
        root = x
        while parent.setdefault(root, root) != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    def _union(self, a: str, b: str) -> bool:
        ra, rb = self._find(a), self._find(b)
        if ra == rb:
            return False
        parent = self._forest()
        # keep the most authoritative identifier as the root: it is the profile id
        if _rank(rb) < _rank(ra):
            ra, rb = rb, ra
        parent[rb] = ra
        return True

    def _forest(self) -> dict[str, str]:
        if self._parent is None:
            self._parent = {}
            for link in self._links.values():
                self._union(link.a, link.b)
        return self._parent

    def add_identifier(self, ident: str) -> None:
        """Make a lone identifier known (an anonymous visitor is a profile too)."""
        self._nodes.add(ident)

    def link(self, a: str, b: str, reason: str = "identify") -> IdentityLink | None:
        """Record that ``a`` and ``b`` are the same customer.

        Returns the new link (``merged`` tells whether it joined two customers), or None when the
        same pair was linked before or ``a == b``.
        """
        if a == b:
            self.add_identifier(a)
            return None
        if (min(a, b), max(a, b)) in self._pairs:
            return None
        self._forest()
        merged = not (a in self._nodes and b in self._nodes and self._find(a) == self._find(b))
        link = IdentityLink(self._next_id, a, b, reason, merged)
        self._add(link)
        return link

    def undo(self, link_id: int) -> IdentityLink:
        """Remove a merge; the grouping becomes what it would be had the link never been made."""
        link = self._links.pop(link_id, None)
        if link is None:
            raise UnknownIdentityLinkError(f"no active identity link with id {link_id}")
        del self._pairs[(min(link.a, link.b), max(link.a, link.b))]
        self._parent = None
        self.version += 1
        return link

    def profile_of(self, ident: str) -> str:
        """The customer's profile id: the group's most authoritative identifier."""
        return self._find(ident) if ident in self._forest() else ident

    def group_of(self, ident: str) -> frozenset[str]:
        """Every identifier of ``ident``'s customer (``ident`` alone when nothing links it)."""
        if ident not in self._nodes:
            return frozenset({ident})
        root = self.profile_of(ident)
        return frozenset(node for node in self._nodes if self.profile_of(node) == root)

    def links(self) -> Iterator[IdentityLink]:
        return iter(sorted(self._links.values(), key=lambda lk: lk.link_id))

    def groups(self) -> frozenset[frozenset[str]]:
        """The partition of every known identifier into customers."""
        by_root: dict[str, set[str]] = {}
        for node in self._nodes:
            by_root.setdefault(self.profile_of(node), set()).add(node)
        return frozenset(frozenset(g) for g in by_root.values())

    def assignments(self) -> dict[str, str]:
        """identifier -> profile id, for every known identifier."""
        return {node: self.profile_of(node) for node in self._nodes}
