"""DuckDB's memory limit and spill folder as settings (``SHOPMIND_DUCKDB_MEMORY_LIMIT``,
``SHOPMIND_DUCKDB_TEMP_DIRECTORY``): applied to every store opened, bad values named, and work
bigger than the limit spilled to the folder instead of failing."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from shopmind.core import InvalidInputError, Settings
from shopmind.store import Store, Workspace

# a sort of ~100 MB of rows under a 64 MB limit, on one thread (as on a busy machine)
BIG_SORT = (
    "CREATE TABLE sorted AS SELECT i::VARCHAR || repeat('x', 40) AS s "
    "FROM range(2000000) t(i) ORDER BY hash(i)"
)


def _settings(store: Store) -> tuple[str, str]:
    rows = store.sql("SELECT current_setting('memory_limit'), current_setting('temp_directory')")
    return rows[0]


def test_the_settings_are_declared_and_validated() -> None:
    settings = Settings(duckdb_memory_limit="6GB", duckdb_temp_directory=Path("/data/spill"))
    assert settings.duckdb_memory_limit == "6GB"
    assert Settings().duckdb_memory_limit is None and Settings().duckdb_temp_directory is None
    for fine in ("500MiB", "40%", "1.5 gb"):
        assert Settings(duckdb_memory_limit=fine).duckdb_memory_limit == fine


def test_a_workspace_store_takes_them_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spill = tmp_path / "spill" / "duckdb"
    monkeypatch.setenv("SHOPMIND_DUCKDB_MEMORY_LIMIT", "1GB")
    monkeypatch.setenv("SHOPMIND_DUCKDB_TEMP_DIRECTORY", str(spill))
    ws = Workspace.init(tmp_path / "ws")
    with ws.open_store() as store:
        limit, folder = _settings(store)
    assert limit == "953.6 MiB"  # DuckDB shows 10^9 bytes in GiB
    assert folder == str(spill)
    assert spill.parent.is_dir() and spill.parent.stat().st_mode & 0o077 == 0  # the shop's data


def test_without_them_duckdb_keeps_its_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SHOPMIND_DUCKDB_MEMORY_LIMIT", raising=False)
    monkeypatch.delenv("SHOPMIND_DUCKDB_TEMP_DIRECTORY", raising=False)
    with Store(tmp_path / "shop.duckdb") as store:
        _, folder = _settings(store)
    assert folder == f"{tmp_path / 'shop.duckdb'}.tmp"


def test_a_bad_value_names_the_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOPMIND_DUCKDB_MEMORY_LIMIT", "lots")
    with pytest.raises(InvalidInputError) as caught:
        Store(tmp_path / "a.duckdb")
    assert caught.value.field == "duckdb_memory_limit"
    assert "6GB" in str(caught.value)  # says what a good value looks like
    monkeypatch.delenv("SHOPMIND_DUCKDB_MEMORY_LIMIT")
    with pytest.raises(InvalidInputError) as caught:
        Store(tmp_path / "b.duckdb", memory_limit="12 parsecs")
    assert caught.value.field == "duckdb_memory_limit"
    assert "parsecs" in str(caught.value)
    Store(tmp_path / "b.duckdb").close()  # the refused open let go of the file


def test_work_bigger_than_the_limit_spills_to_the_folder(tmp_path: Path) -> None:
    spill = tmp_path / "nested" / "spill"
    with Store(":memory:", memory_limit="64MB", temp_directory=spill) as store:
        store.sql("SET threads = 1")
        store.sql(BIG_SORT)
        assert store.scalar("SELECT count(*) FROM sorted") == 2_000_000
        assert spill.is_dir()  # DuckDB made it when it spilled (and removes it on closing)

    # the same work with spilling off fails: the limit is real
    with Store(":memory:", memory_limit="64MB", temp_directory="") as store:
        store.sql("SET threads = 1")
        with pytest.raises(duckdb.OutOfMemoryException):
            store.sql(BIG_SORT)


def test_a_slow_query_draws_no_progress_bar(tmp_path: Path) -> None:
    """Library code prints nothing: DuckDB's own progress bar (drawn on a query slower than two
    seconds, on the terminal of whoever called the library) is off on every store connection."""
    with Store(tmp_path / "shop.duckdb") as store:
        assert store.sql("SELECT current_setting('enable_progress_bar')") == [(False,)]
        reader = store.reader()
        try:
            assert reader.sql("SELECT current_setting('enable_progress_bar')") == [(False,)]
        finally:
            reader.close()


def test_released_memory_leaves_the_limit_and_the_data(tmp_path: Path) -> None:
    with Store(tmp_path / "shop.duckdb") as store:
        store.sql("CREATE TABLE numbers AS SELECT range AS n, md5(range::VARCHAR) AS h FROM range(3000000)")
    cached = "SELECT sum(memory_usage_bytes) FROM duckdb_memory() WHERE tag = 'BASE_TABLE'"
    with Store(tmp_path / "shop.duckdb", memory_limit="512MB") as store:
        store.sql("SELECT count(DISTINCT h) FROM numbers")  # its pages now cached
        before = store.scalar(cached)
        store.release_memory()
        assert store.scalar(cached) < before * 0.8
        assert store.scalar("SELECT current_setting('memory_limit')") == "488.2 MiB"  # 512 MB, as set
        assert store.scalar("SELECT count(DISTINCT h) FROM numbers") == 3_000_000
