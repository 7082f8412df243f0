import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from choirrec.metrics import auc, gauc
from choirrec.segments import (
    activity_levels,
    activity_rank,
    format_segment_table,
    low_activity_mask,
    segment_report,
)


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 2000), st.integers(0, 10_000))
def test_low_share_and_levels_are_exact_despite_ties(n, seed):
    rng = np.random.default_rng(seed)
    users = rng.permutation(n * 3)[:n]
    n_buy = rng.poisson(0.3, n)  # massive ties at 0
    n_click = rng.poisson(1.0, n)
    low = low_activity_mask(users, n_buy, n_click, 0.55)
    assert low.sum() == round(0.55 * n)
    levels = activity_levels(users, n_buy, n_click, 5)
    counts = np.bincount(levels, minlength=6)[1:]
    assert counts.max() - counts.min() <= 1
    # monotone: every low user is at most as active as every other user
    if 0 < low.sum() < n:
        key = n_buy * 10_000 + n_click
        assert key[low].max() <= key[~low].min()


def test_rank_orders_by_buys_then_clicks_then_hash_not_id():
    users = np.arange(10)
    rank = activity_rank(users, np.zeros(10), np.zeros(10))
    assert sorted(rank) == list(range(10))
    assert list(rank) != list(range(10))  # ties not broken by id order
    r2 = activity_rank(users, np.r_[np.zeros(9), 1], np.r_[np.arange(9), 0])
    assert r2[9] == 9 and list(r2[:9]) == list(range(9))
    assert np.array_equal(rank, activity_rank(users, np.zeros(10), np.zeros(10)))


def test_segment_report_matches_direct_computation():
    rng = np.random.default_rng(1)
    n_users = 200
    users = np.arange(1000, 1000 + n_users)
    n_buy = rng.poisson(2, n_users)
    n_click = rng.poisson(10, n_users)
    low_flag = low_activity_mask(users, n_buy, n_click, 0.55)
    u = rng.choice(users, 5000)
    y = rng.integers(0, 2, 5000)
    s = rng.random(5000)
    rep = segment_report(y, s, u, users, n_buy, n_click, low_activity=low_flag)
    assert rep["gauc"] == pytest.approx(gauc(y, s, u))
    assert rep["auc"] == pytest.approx(auc(y, s))
    low_s = np.isin(u, users[low_flag])
    assert rep["gauc_low"] == pytest.approx(gauc(y[low_s], s[low_s], u[low_s]))
    eval_users = np.unique(u)
    idx = np.searchsorted(users, eval_users)
    lv = activity_levels(eval_users, n_buy[idx], n_click[idx])
    for level in range(1, 6):
        m = np.isin(u, eval_users[lv == level])
        assert rep[f"gauc_level_{level}"] == pytest.approx(gauc(y[m], s[m], u[m]))
    for key in ["auc", "gauc", "auc_low", "gauc_low", "n_users_gauc"] + [
            f"gauc_level_{i}" for i in range(1, 6)]:
        assert key in rep
    table = format_segment_table(rep)
    assert "low-activity" in table and "level 5" in table


def test_segment_report_names_missing_users():
    with pytest.raises(KeyError, match="no activity record"):
        segment_report([0, 1], [0.1, 0.2], [1, 99], [1, 2], [0, 0], [0, 0])
