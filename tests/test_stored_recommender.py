"""The recommender a run stores (issue 17, point 5): ``recommend for`` refitted the hybrid on every
call (5-16 s). Now a run stores the fitted model in the workspace (JSON and a numpy ``.npz``, no
pickle), which answers exactly as the fitted one did, with what it was fitted on; ``recommend for``
reads it and fits nothing; old, damaged or foreign files are refused with the reason; a backtest
does not replace a newer model; an erasure removes it. (The loaded hybrid on the demo shop:
tests/test_recommend_shop.py; through a running server: tests/test_operations.py.)"""

from __future__ import annotations

import json
import re
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import shopmind.pipeline._stored_recommender as stored_module
from shopmind.cli import app
from shopmind.core import InvalidInputError, shop_day
from shopmind.pipeline import recommender_data, run_recommender, stored_recommender
from shopmind.recommend import (
    FORMAT_VERSION,
    Context,
    HybridRecommender,
    StoredModelError,
    load_recommender,
    request_context,
    save_recommender,
)
from shopmind.store import Workspace, erase_profile
from tests.shops import START, Shop, demo_workspace
from tests.test_recommender_contract import _data

DAYS = 60
AS_OF = START + timedelta(days=DAYS)


@pytest.fixture(scope="module")
def small() -> tuple[HybridRecommender, pd.DataFrame]:
    interactions, catalogue = _data()
    return HybridRecommender(n_estimators=30).fit(interactions, catalogue), interactions


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Shop:
    return demo_workspace(tmp_path_factory.mktemp("stored") / "shop", customers=300, days=DAYS)


def test_the_files_hold_numbers_and_text_only_readable_by_their_owner(
    small: tuple[HybridRecommender, pd.DataFrame], tmp_path: Path
) -> None:
    model, _ = small
    path = save_recommender(model, tmp_path, about={"run_id": "r1", "as_of": "2026-03-02T00:00:00+00:00"})
    header = json.loads(path.read_text())
    assert header["format"] == "shopmind.recommender" and header["version"] == FORMAT_VERSION == 2
    assert header["about"]["run_id"] == "r1" and header["model"]["class"] == "HybridRecommender"
    arrays = tmp_path / header["arrays"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([path.name, arrays.name])
    with np.load(arrays, allow_pickle=False) as npz:  # an object array would raise here
        kinds = {npz[key].dtype.kind for key in npz.files}
    assert kinds <= {"f", "i", "u", "b", "U", "M"}, kinds
    for file in (path, arrays):
        assert file.stat().st_mode & 0o777 == 0o600  # customers' ids and what they chose
    again = save_recommender(model, tmp_path)  # replaced: one header, one set of arrays
    assert again == path and len(list(tmp_path.glob("recommender-*.npz"))) == 1


def test_the_arrays_are_written_as_they_come_and_equal_the_models_state(
    small: tuple[HybridRecommender, pd.DataFrame], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The arrays go to the file one at a time (a model of millions of customers is not held
    twice while it is stored): the file holds exactly the state kept in memory, and a save that
    fails half-way leaves the stored model as it was, with no partial file beside it."""
    from shopmind.recommend._persist import save_model_state
    from shopmind.recommend._state import ModelState

    model, _ = small
    state = ModelState()
    save_model_state(model, state)
    path = save_recommender(model, tmp_path)
    header = json.loads(path.read_text())
    with np.load(tmp_path / header["arrays"], allow_pickle=False) as npz:
        assert sorted(npz.files) == sorted(state.arrays)
        for key, array in state.arrays.items():
            assert npz[key].dtype == array.dtype, key
            np.testing.assert_array_equal(npz[key], array, err_msg=key)  # NaN where NaN was
    assert header["model"] == json.loads(json.dumps(state.facts))
    before = sorted(p.name for p in tmp_path.iterdir())

    def broken(self: Any, state: ModelState) -> None:
        state.put("first", np.arange(3))
        raise RuntimeError("disk full")

    monkeypatch.setattr(type(model), "_save_fitted", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        save_recommender(model, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    monkeypatch.undo()
    assert isinstance(load_recommender(tmp_path).model, HybridRecommender)


def test_each_text_is_stored_once_and_the_first_format_still_reads(
    small: tuple[HybridRecommender, pd.DataFrame],
) -> None:
    """The customers' ids are stored once for the hybrid and all its parts (as UTF-8), read back
    as one list and index shared by all; a model stored in the first format (each text a
    fixed-width array of its own) reads and answers the same."""
    from shopmind.recommend._persist import load_model_state, save_model_state
    from shopmind.recommend._state import ModelState

    model, interactions = small
    state = ModelState()
    save_model_state(model, state)
    written = [key for key in state.arrays if key.endswith(".utf8")]
    referred = [key for key in state.arrays if key.endswith(".same_as")]
    assert "users.utf8" in written and "state/component0/users.same_as" in referred
    assert not [key for key in state.arrays if state.arrays[key].dtype.kind == "U"]
    texts = {(state.arrays[key[:-5] + ".offsets"].tobytes(), state.arrays[key].tobytes()) for key in written}
    assert len(texts) == len(written)  # no text written twice
    loaded = load_model_state(ModelState(dict(state.arrays), json.loads(json.dumps(state.facts))))
    assert isinstance(loaded, HybridRecommender)
    parts = [part for _, part, _ in loaded._state.components]
    assert all(part.users_ is loaded.users_ and part._user_index is loaded._user_index for part in parts)
    assert loaded._state.customers.names is loaded.users_
    # the first format: every text a fixed-width array under its own name
    reader = ModelState(state.arrays)
    first: dict[str, Any] = {}
    for key, array in state.arrays.items():
        base, _, suffix = key.rpartition(".")
        if suffix in ("utf8", "same_as"):
            first[base] = np.asarray(reader.strings(base), dtype=np.str_)
        elif not (suffix == "offsets" and f"{base}.utf8" in state.arrays):
            first[key] = array
    old = load_model_state(ModelState(first, json.loads(json.dumps(state.facts))))
    users = sorted(interactions["user"].astype(str).unique())[:25]
    for user in [*users, "someone new"]:
        assert old.recommend(user, n=10) == loaded.recommend(user, n=10) == model.recommend(user, n=10)


def test_a_loaded_model_answers_as_the_fitted_one(
    small: tuple[HybridRecommender, pd.DataFrame], tmp_path: Path
) -> None:
    model, interactions = small
    save_recommender(model, tmp_path)
    loaded = load_recommender(tmp_path).model
    assert isinstance(loaded, HybridRecommender) and loaded.get_params() == model.get_params()
    assert loaded.ranker_ is not None and loaded.ranker_note_ == model.ranker_note_
    contexts = [
        Context(),
        Context(region="부산"),
        Context(session=("P01",), exclude=frozenset({"P01"})),
        Context(region="서울", now=datetime(2026, 3, 1, 9, tzinfo=UTC)),
    ]
    users = [*sorted(interactions["user"].unique())[:60], "someone new"]
    for user in users:
        for context in contexts:
            assert loaded.recommend(user, context, n=10) == model.recommend(user, context, n=10), user
    for item in ("P01", "P03", "P12", "P27"):
        assert loaded.similar_items(item, n=8) == model.similar_items(item, n=8)
        assert loaded.complements(item, n=8) == model.complements(item, n=8)


def test_old_damaged_or_foreign_files_are_refused_with_the_reason(
    small: tuple[HybridRecommender, pd.DataFrame], tmp_path: Path
) -> None:
    model, _ = small
    with pytest.raises(StoredModelError, match="no stored recommender in"):
        load_recommender(tmp_path / "nothing here")
    path = save_recommender(model, tmp_path)
    header = json.loads(path.read_text())

    def refused(changed: dict[str, Any], match: str) -> None:
        path.write_text(json.dumps(changed))
        with pytest.raises(StoredModelError, match=match):
            load_recommender(tmp_path)

    refused({**header, "version": 0}, "format version 0; this shopmind reads versions 1 and 2")
    refused({**header, "format": "something else"}, "not a stored shopmind recommender")
    foreign = {**header, "model": {**header["model"], "class": "subprocess.Popen"}}
    refused(foreign, "unknown recommender 'subprocess.Popen'")
    path.write_text("{not json")
    with pytest.raises(StoredModelError, match="not JSON"):
        load_recommender(tmp_path)
    path.write_text(json.dumps(header))
    assert isinstance(load_recommender(tmp_path).model, HybridRecommender)  # the original reads again
    arrays = tmp_path / header["arrays"]
    arrays.write_bytes(arrays.read_bytes()[:-100] + b"\0" * 100)
    with pytest.raises(StoredModelError, match="do not match"):
        load_recommender(tmp_path)


def test_a_run_stores_the_model_with_what_it_was_fitted_on(shop: Shop, tmp_path: Path) -> None:
    folder = tmp_path / "shop"
    shutil.copytree(shop.folder, folder)
    with Workspace(folder).open_store() as store:
        report = run_recommender(store, AS_OF)
        assert report.stored == folder / "models" / "recommender.json"
        assert store.latest_run("recommender") == (report.run_id, AS_OF)
        about = stored_recommender(store).about
        data = recommender_data(store, before=AS_OF)
    assert about["run_id"] == report.run_id and about["as_of"] == AS_OF.isoformat()
    assert about["interactions"] == len(data.interactions) == report.interactions
    assert about["buyers"] == data.interactions["user"].nunique() == report.buyers > 50
    assert about["catalogue"] == len(data.catalogue) and about["products"] == report.products
    # the stored model is the hybrid the server would fit on the same signals
    fitted = HybridRecommender().fit(data.interactions, data.catalogue, weather=data.weather)
    with Workspace(folder).open_store() as store:
        loaded = stored_recommender(store).model
    for user in [f"user:{shop.vip}", f"user:{shop.repeat_buyer}", "new visitor"]:
        context = request_context(AS_OF, region="서울", session=("P00001",))
        assert loaded.recommend(user, context, n=10) == fitted.recommend(user, context, n=10)
    # a run as of an earlier date (a backtest) keeps the newer model, saying so
    arrays = sorted(p.name for p in (folder / "models").iterdir())
    with (
        Workspace(folder).open_store() as store,
        pytest.raises(InvalidInputError, match="later than this run"),
    ):
        run_recommender(store, AS_OF - timedelta(days=20))
    assert sorted(p.name for p in (folder / "models").iterdir()) == arrays


def test_an_erasure_removes_the_stored_model(shop: Shop, tmp_path: Path) -> None:
    folder = tmp_path / "shop"
    shutil.copytree(shop.folder, folder)
    ws = Workspace(folder)
    with ws.open_store() as store:
        run_recommender(store, AS_OF)
        assert f"user:{shop.vip}" in set(stored_recommender(store).model.users_.tolist())
        erased = erase_profile(store, f"user:{shop.vip}", ws.hasher())
        assert erased.models_removed and "models_removed" in erased.to_dict()
        assert list((folder / "models").iterdir()) == []
        with pytest.raises(StoredModelError, match="no stored recommender"):
            stored_recommender(store)


def _items(output: str) -> list[str]:
    return re.findall(r"\((P\d{5})\)", output)


def test_recommend_for_reads_the_stored_model_and_fits_nothing(
    shop: Shop, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Counted, not timed: every fit of the hybrid and every read of a stored model in this
    process. Without a stored model the command fits one (and says how to avoid it); after a
    run, two calls read the stored model and fit nothing, and answer as it does."""
    folder = tmp_path / "shop"
    shutil.copytree(shop.folder, folder)
    fits: list[int] = []
    reads: list[Path] = []
    fit, load = HybridRecommender.fit, stored_module.load_recommender

    def counted_fit(self: HybridRecommender, *args: Any, **kwargs: Any) -> HybridRecommender:
        fits.append(1)
        return fit(self, *args, **kwargs)

    def counted_load(where: Path, name: str = "recommender") -> Any:
        reads.append(Path(where))
        return load(where, name)

    monkeypatch.setattr(HybridRecommender, "fit", counted_fit)
    monkeypatch.setattr(stored_module, "load_recommender", counted_load)
    runner = CliRunner()
    user = f"user:{shop.vip}"
    command = ["recommend", "for", user, "-w", str(folder), "-n", "8"]

    first = runner.invoke(app, command)
    assert first.exit_code == 0, first.output
    assert len(fits) == 1 and "'shopmind run' stores one" in first.output
    assert reads == [folder / "models"]  # it looked for one first
    with Workspace(folder).open_store() as store:
        run_recommender(store, AS_OF)
    assert len(fits) == 2
    reads.clear()

    answers = []
    for _ in range(2):
        done = runner.invoke(app, command)
        assert done.exit_code == 0, done.output
        assert "answered by the recommender stored by the run as of" in done.output
        answers.append(_items(done.output))
    assert len(fits) == 2, "recommend for fitted a model although one was stored"
    assert reads == [folder / "models", folder / "models"]
    with Workspace(folder).open_store() as store:
        model = stored_recommender(store).model
    expected = [r.item for r in model.recommend(user, request_context(datetime.now(UTC)), n=8)]
    assert answers[0] == answers[1] == expected and len(expected) == 8


def test_the_rankers_note_names_the_shops_day_not_utcs() -> None:
    interactions, catalogue = _data()
    # the last choice at 16:00 UTC: already the next day in Seoul, where the shop counts its days
    interactions = interactions.assign(
        time=pd.to_datetime(interactions["time"], utc=True) + pd.Timedelta(hours=16)
    )
    model = HybridRecommender(n_estimators=10, label_days=14).fit(interactions, catalogue)
    cut = interactions["time"].max() - pd.Timedelta(days=14)
    assert cut.strftime("%Y-%m-%d") != shop_day(cut.to_pydatetime())
    assert f"from {shop_day(cut.to_pydatetime())} " in model.ranker_note_, model.ranker_note_


def test_a_big_shop_fits_its_two_model_sets_one_after_the_other(monkeypatch: pytest.MonkeyPatch) -> None:
    from shopmind.pipeline import fit_shop_hybrid

    interactions, catalogue = _data()
    side_by_side = fit_shop_hybrid(interactions, catalogue, None)
    monkeypatch.setattr(stored_module, "PARALLEL_FIT_ROWS", len(interactions) - 1)
    in_turn = fit_shop_hybrid(interactions, catalogue, None)
    assert (side_by_side.n_jobs, in_turn.n_jobs) == (2, 1)  # half the memory at its peak
    assert in_turn.ranker_note_ == side_by_side.ranker_note_
    for user in ("u1", "u2", "u3", "someone new"):
        assert in_turn.recommend(user, n=10) == side_by_side.recommend(user, n=10)
