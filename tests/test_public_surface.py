"""Every name a package exports exists, and private modules stay private."""

import importlib

import pytest

PACKAGES = [
    "shopmind",
    "shopmind.core",
    "shopmind.events",
    "shopmind.store",
    "shopmind.ingest",
    "shopmind.demo",
    "shopmind.features",
    "shopmind.segments",
    "shopmind.activation",
    "shopmind.models",
    "shopmind.pipeline",
    "shopmind.audiences",
]


@pytest.mark.parametrize("name", PACKAGES)
def test_all_names_exist(name: str) -> None:
    module = importlib.import_module(name)
    exported = module.__all__
    assert exported, f"{name} exports nothing"
    assert len(set(exported)) == len(exported)
    for attr in exported:
        assert hasattr(module, attr), f"{name}.__all__ names {attr!r}, which does not exist"


def test_error_root() -> None:
    from shopmind import ShopmindError
    from shopmind.core import InvalidEventError, StoreError, WorkspaceLockedError

    assert issubclass(InvalidEventError, ShopmindError)
    assert issubclass(InvalidEventError, ValueError)
    assert issubclass(WorkspaceLockedError, ShopmindError)
    assert issubclass(StoreError, ShopmindError)
    from shopmind.models import NotFittedError

    assert issubclass(NotFittedError, ShopmindError)
