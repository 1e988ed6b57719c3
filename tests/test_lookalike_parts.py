"""The look-alike job at scale: every non-VIP scored and explained in parts gives what one pass
gives, and a sampled training set still scores everyone (as a shop of millions needs)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest

from shopmind.core import InvalidInputError
from shopmind.pipeline import load_demo_shop, run_customer_intelligence, run_vip_lookalike
from shopmind.store import Store

DAYS = 90
AS_OF = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=DAYS)


@pytest.fixture(scope="module")
def store():
    with Store(":memory:") as s:
        load_demo_shop(s, customers=1200, days=DAYS, seed=11)
        run_customer_intelligence(s, AS_OF)
        yield s


def _run(store: Store, run_id: str) -> tuple[dict[str, float], dict[str, dict], set[str]]:
    scores = dict(store.sql("SELECT profile_id, value FROM scores WHERE run_id = ?", [run_id]))
    facts = {
        p: orjson.loads(f)
        for p, f in store.sql("SELECT profile_id, facts FROM profile_facts WHERE run_id = ?", [run_id])
    }
    members = {p for (p,) in store.sql("SELECT profile_id FROM segment_members WHERE run_id = ?", [run_id])}
    return scores, facts, members


def test_scoring_in_parts_gives_what_one_pass_gives(store: Store) -> None:
    whole = run_vip_lookalike(store, AS_OF)
    parts = run_vip_lookalike(store, AS_OF, score_batch_rows=97)
    assert whole.scored == parts.scored > 500 and whole.candidates == parts.candidates
    scores, facts, members = _run(store, whole.run_id)
    assert (scores, facts, members) == _run(store, parts.run_id)
    assert set(facts) == set(scores)
    vips = {p for (p,) in store.sql("SELECT profile_id FROM segment_members WHERE segment = 'clv_vip'")}
    assert not vips & set(scores)  # only the non-VIPs are scored
    for profile, fact in facts.items():
        assert fact["profile_id"] == profile and fact["probability"] == pytest.approx(scores[profile])
        contributions = [d["contribution"] for d in fact["drivers"]]
        assert len(contributions) <= 3 and all(c > 0 for c in contributions)
        assert contributions == sorted(contributions, reverse=True)
    assert sum(bool(f["drivers"]) for f in facts.values()) > len(facts) / 2
    assert members == {p for p, v in scores.items() if v >= 0.5}


def test_a_sampled_training_set_still_scores_every_non_vip(store: Store) -> None:
    whole = run_vip_lookalike(store, AS_OF)
    sampled = run_vip_lookalike(store, AS_OF, sample_customers=600, random_state=0)
    assert sampled.scored == whole.scored
    notes = " ".join(sampled.card.notes)
    assert "sample of about 600" in notes and "every non-VIP is scored" in notes
    assert "sample" not in " ".join(whole.card.notes)
    # fewer rows learnt from: the held-out rows of the card are about half as many
    assert sampled.card.n < 0.75 * whole.card.n
    again = run_vip_lookalike(store, AS_OF, sample_customers=600, random_state=0)
    assert _run(store, again.run_id)[0] == _run(store, sampled.run_id)[0]  # the same draw


def test_bad_bounds_are_named(store: Store) -> None:
    with pytest.raises(InvalidInputError, match="sample_customers"):
        run_vip_lookalike(store, AS_OF, sample_customers=0)
    with pytest.raises(InvalidInputError, match="score_batch_rows"):
        run_vip_lookalike(store, AS_OF, score_batch_rows=0)
