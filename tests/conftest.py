from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from hypothesis import settings

from shopmind.core import FixedClock, IdentifierHasher
from shopmind.ingest import import_orders
from shopmind.store import Store

if TYPE_CHECKING:
    from tests.gateway_standin import Standin

# property tests draw the same examples on every run and machine (seeded, as every test here):
# a failure in CI is then one anybody can reproduce, never a lucky or unlucky draw
settings.register_profile("seeded", derandomize=True, print_blob=True)
settings.load_profile("seeded")

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def data_file(*parts: str) -> Path:
    """A file of ../shared/data, or skip: the real data sets are not on users' machines."""
    path = DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data set {path} is absent (it lives in ../shared/data beside the checkout)")
    return path


@pytest.fixture(scope="module")
def retail() -> Iterator[Store]:
    """Online Retail's orders imported into a fresh in-memory store (once per test module)."""
    path = data_file("online_retail", "online_retail.parquet")
    with Store(":memory:") as store:
        import_orders(store, path)
        yield store


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def store(clock: FixedClock) -> Iterator[Store]:
    with Store(":memory:", clock=clock) as s:
        yield s


@pytest.fixture
def hasher() -> IdentifierHasher:
    return IdentifierHasher(b"k" * 32)


@pytest.fixture
def standin() -> Iterator[Standin]:
    """The local stand-in for the messaging gateway and the push services (the HTTP channels' tests)."""
    from tests.gateway_standin import Standin

    server = Standin()
    yield server
    server.close()
