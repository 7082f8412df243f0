"""The interest prior behind the template's inferred interests: counts, lifts, ranking, storage."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from choirrec.profiles.interest_prior import InterestPrior, PriorCounts, count_shard
from choirrec.profiles.template import render

CATS = np.array([10, 20, 30, 40])


def _tables(rows: list[tuple[int, str | None, list[int]]]) -> tuple[pa.Table, pa.Table]:
    """rows: (user_id, gender, categories bought) -> (users, buys)."""
    users = pa.table({"user_id": pa.array([r[0] for r in rows], pa.int64()),
                      "gender": pa.array([r[1] for r in rows], pa.string())})
    bu = [r[0] for r in rows for _ in r[2]]
    bc = [c for r in rows for c in r[2]]
    return users, pa.table({"user_id": pa.array(bu, pa.int64()),
                            "category_id": pa.array(bc, pa.int64())})


ROWS = [(1, "f", [10, 10, 20]), (2, "f", [10, 20]), (3, "m", [30, 40]), (4, "m", [30]),
        (5, None, [40, 99])]  # 99: not in the catalogue, ignored


def test_counts_by_hand():
    c = count_shard(*_tables(ROWS), CATS)
    np.testing.assert_array_equal(c.buys, [3, 2, 2, 2])
    np.testing.assert_array_equal(c.buyers, [2, 2, 2, 2])  # presence per user, not purchases
    assert c.n_buyers == 5
    co = c.co.toarray()
    assert co[0, 1] == co[1, 0] == 2 and co[2, 3] == 1 and co[0, 2] == 0
    np.testing.assert_array_equal(c.attr["gender"]["f"], [3, 2, 0, 0])
    np.testing.assert_array_equal(c.attr["gender"]["m"], [0, 0, 2, 1])
    assert "None" not in c.attr["gender"]


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["f", "m", None]),
                          st.lists(st.sampled_from(CATS.tolist()), max_size=5)),
                min_size=1, max_size=12),
       st.integers(1, 11))
def test_shard_counts_add_up_to_the_whole(users, cut):
    """Shards are summed on the driver: the sum must equal counting everything at once."""
    rows = [(i + 1, g, cats) for i, (g, cats) in enumerate(users)]
    cut = min(cut, len(rows))
    whole = count_shard(*_tables(rows), CATS)
    parts = count_shard(*_tables(rows[:cut]), CATS).add(count_shard(*_tables(rows[cut:]), CATS))
    np.testing.assert_array_equal(parts.buys, whole.buys)
    np.testing.assert_array_equal(parts.buyers, whole.buyers)
    np.testing.assert_array_equal(parts.co.toarray(), whole.co.toarray())
    assert parts.n_buyers == whole.n_buyers
    for a, vals in whole.attr.items():
        for v, arr in vals.items():
            np.testing.assert_array_equal(parts.attr[a][v], arr)


def test_counts_over_different_catalogues_refuse_to_merge():
    with pytest.raises(ValueError, match="different category sets"):
        PriorCounts.empty(CATS).add(PriorCounts.empty(CATS[:2]))


def test_lifts_match_the_formula():
    counts = count_shard(*_tables(ROWS), CATS)
    prior = InterestPrior.from_counts(counts, smoothing=2.0)
    p = (counts.buys + 1) / (counts.buys.sum() + 4)
    n = counts.attr["gender"]["f"]
    np.testing.assert_allclose(prior.attr_log_lift["gender"]["f"],
                               np.log((n + 2 * p) / (n.sum() + 2) / p))
    # co-purchase: the excess over the row constant is log(1 + co / (s q))
    q = (counts.buyers + 1) / (counts.n_buyers + 2)
    assert prior.co_excess[0, 1] == pytest.approx(np.log1p(2 / (2 * q[1])))
    assert prior.co_excess[0, 2] == 0  # never bought together: only the row constant
    with pytest.raises(ValueError, match="smoothing"):
        InterestPrior.from_counts(counts, smoothing=0)


def test_rank_uses_attributes_and_co_purchase_and_skips_what_was_bought():
    prior = InterestPrior.from_counts(count_shard(*_tables(ROWS), CATS), smoothing=1.0)
    assert prior.rank({"gender": "f"}, [], 2) == [10, 20]
    assert prior.rank({"gender": "m"}, [], 2) == [30, 40]
    assert prior.rank({}, [30], 1) == [40]  # bought together with 30
    assert 30 not in prior.rank({"gender": "m"}, [30], 3)
    assert prior.rank({}, [], 3) == []  # no evidence: no guess
    assert prior.rank({"gender": "unseen value"}, [], 3) == []
    # fill: only the free slots of an n-long list, labelled for the template
    assert [c["category"] for c in prior.fill({"gender": "m"}, [], 2)] == ["category 30",
                                                                          "category 40"]
    assert len(prior.fill({}, [30], 2)) == 1
    assert prior.fill({"gender": "m"}, [10, 20], 2) == []  # the list is already full


def test_storage_round_trip_keeps_ranking_and_digest():
    counts = count_shard(*_tables(ROWS), CATS)
    labels = {10: ("tea", "Food"), 20: ("coffee", "Food"), 30: ("tyres", None)}
    prior = InterestPrior.from_counts(counts, labels=labels, max_neighbours=1)
    assert prior.co_excess.getnnz(axis=1).max() == 1  # bounded neighbours per row
    back = InterestPrior.from_bytes(prior.to_bytes())
    assert back.digest() == prior.digest()
    assert back.rank({"gender": "m"}, [40], 3) == prior.rank({"gender": "m"}, [40], 3)
    assert back.label(10) == {"category": "tea", "l1": "Food"}
    assert back.label(30) == {"category": "tyres", "l1": None}
    assert back.label(40)["category"] == "category 40"  # anonymised: the id, not a guess
    other = InterestPrior.from_counts(counts, smoothing=5.0)
    assert other.digest() != InterestPrior.from_counts(counts).digest()


FACTS = {"attributes": {"gender": "female"}, "purchases": [], "searches": [], "n_purchases": 0}


def test_template_words_inferred_interests_like_a_buyers_list():
    plain = render(FACTS)
    assert "No purchases on record." in plain
    guessed = render({**FACTS, "inferred": [{"category": "tea", "l1": "Food"},
                                            {"category": "yoga mats", "l1": "Sports"}]})
    assert "Buys mostly in Food, Sports; top categories: tea, yoga mats (inferred" in guessed
    assert guessed.count("\n") == 2
    one = {"window": "last 7 days", "total": 1,
           "categories": [{"category": "coffee", "l1": "Food", "count": 1, "price_tier": "low"}]}
    mixed = render({**FACTS, "purchases": [one], "n_purchases": 1,
                    "inferred": [{"category": "tea", "l1": "Food"}]})
    assert "top categories: coffee, tea (the last 1 inferred from similar shoppers)" in mixed
    # without inferred interests the text is what it always was
    assert render({**FACTS, "purchases": [one], "n_purchases": 1}) == render(
        {**FACTS, "purchases": [one], "n_purchases": 1, "inferred": []})
