"""The command line starts without the heavy libraries: ``shopmind --help`` imports no store,
model or server library, and a read command no model library (issue 17: 4 s to start any
command, scikit-learn and scipy imported eagerly). Asserted on what is imported, not on time."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("sklearn", "scipy", "lightgbm", "implicit", "ibis", "duckdb", "pandas", "fastapi", "uvicorn")


def _imported(*args: str) -> set[str]:
    """Top-level packages a ``shopmind`` command imports, from ``python -X importtime``."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "shopmind", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    names = set()
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    assert "shopmind" in names  # the parse found the imports
    return names


def test_help_imports_no_heavy_library() -> None:
    loaded = _imported("--help")
    assert not loaded & set(HEAVY), f"shopmind --help imports {sorted(loaded & set(HEAVY))}"
    assert "pydantic_settings" not in loaded


@pytest.mark.parametrize("command", [["customers", "--help"], ["import", "orders", "--help"]])
def test_sub_command_help_imports_no_heavy_library(command: list[str]) -> None:
    loaded = _imported(*command)
    assert not loaded & set(HEAVY), f"shopmind {' '.join(command)} imports {sorted(loaded & set(HEAVY))}"


def test_read_command_imports_no_model_library(tmp_path: Path) -> None:
    assert (
        subprocess.run(
            [sys.executable, "-m", "shopmind", "init", "-w", str(tmp_path / "ws")],
            capture_output=True,
            timeout=120,
        ).returncode
        == 0
    )
    loaded = _imported("status", "-w", str(tmp_path / "ws"))
    assert "duckdb" in loaded  # it did read the store
    # buyers are counted by the SQL generated from the features' Ibis expression: no Ibis, no pandas
    model = {"sklearn", "scipy", "lightgbm", "implicit", "ibis", "pandas"}
    assert not loaded & model, f"shopmind status imports {sorted(loaded & model)}"


def test_help_names_stay_in_step_with_the_code() -> None:
    """The help lists the order formats, algorithms and roles without importing their packages."""
    from shopmind.cli._data import ORDER_FORMATS
    from shopmind.cli._recommend import ALGORITHM_NAMES
    from shopmind.cli._users import ROLE_NAMES
    from shopmind.ingest import FORMATS
    from shopmind.pipeline import ALGORITHMS
    from shopmind.store import ROLES

    assert tuple(FORMATS) == ORDER_FORMATS
    assert tuple(ALGORITHMS) == ALGORITHM_NAMES
    assert ROLE_NAMES == ROLES


def test_importing_the_cli_module_imports_no_heavy_library() -> None:
    """``import shopmind.cli`` (what every command pays before parsing its arguments) loads none
    of the data or model libraries: each command imports what it needs when it runs."""
    code = "import sys, shopmind.cli; print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    loaded = set(proc.stdout.split())
    assert "shopmind" in loaded and "typer" in loaded  # the names were read
    heavy = {*HEAVY, "numpy", "pyarrow", "pyspark", "jinja2"}
    assert not loaded & heavy, f"import shopmind.cli imports {sorted(loaded & heavy)}"


#: what ``shopmind.core`` loads on first use only (issue 22): msgspec (schema errors), threadpoolctl
#: (BLAS thread limits), password and identifier hashing, the personal-field rules, the YAML reader
LAZY_CORE = (
    "msgspec",
    "threadpoolctl",
    "shopmind.core._schema_errors",
    "shopmind.core._threads",
    "shopmind.core._passwords",
    "shopmind.core._hashing",
    "shopmind.core._personal",
    "shopmind.core._yaml",
    "shopmind.core._settings",
)


def _modules_after(code: str) -> set[str]:
    proc = subprocess.run(
        [sys.executable, "-c", f"{code}; import sys; print(' '.join(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    loaded = set(proc.stdout.split())
    assert "shopmind.core._errors" in loaded  # the names were read
    return loaded


def test_importing_the_cli_module_leaves_the_heavy_core_parts_unloaded() -> None:
    loaded = _modules_after("import shopmind.cli")
    assert not loaded & set(LAZY_CORE), f"import shopmind.cli imports {sorted(loaded & set(LAZY_CORE))}"
    # what only a command's body needs: the user name, hostname, tokens, a saved mapping, progress bars
    body_only = {"getpass", "termios", "socket", "secrets", "tomllib", "rich.progress"}
    assert not loaded & body_only, f"import shopmind.cli imports {sorted(loaded & body_only)}"


def test_lazy_core_names_load_on_first_use() -> None:
    """The lazy names are the same objects as their modules' and import only what they need."""
    loaded = _modules_after(
        "from shopmind.core import hash_password, single_threaded_blas, decode_declared, IdentifierHasher; "
        "import shopmind.core as c, shopmind.core._passwords as p, shopmind.core._threads as t; "
        "assert c.hash_password is p.hash_password and c.single_threaded_blas is t.single_threaded_blas; "
        "assert set(c.__all__) <= set(dir(c))"
    )
    assert {"msgspec", "threadpoolctl", "shopmind.core._hashing"} <= loaded
    assert "shopmind.core._settings" not in loaded  # nor the names nobody asked for
