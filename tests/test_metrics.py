import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from choirrec.metrics import auc, gauc, gauc_with_counts, per_user_auc


def _sklearn_gauc(y, s, u, weighting="impressions"):
    num = den = 0.0
    for user in np.unique(u):
        m = u == user
        if len(set(y[m])) < 2:
            continue
        w = m.sum() if weighting == "impressions" else 1.0
        num += w * roc_auc_score(y[m], s[m])
        den += w
    return num / den if den else float("nan")


@st.composite
def labelled(draw):
    n = draw(st.integers(2, 300))
    seed = draw(st.integers(0, 2**31 - 1))
    n_users = draw(st.integers(1, 40))
    n_levels = draw(st.sampled_from([2, 3, 10, 1000]))  # few levels -> many ties
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    s = rng.integers(0, n_levels, n).astype(float) / n_levels
    u = rng.integers(0, n_users, n) * 7919  # sparse, unordered ids
    return y, s, u


@settings(max_examples=150, deadline=None)
@given(labelled(), st.sampled_from(["impressions", "uniform"]))
def test_gauc_equals_per_user_sklearn_loop(data, weighting):
    y, s, u = data
    expected = _sklearn_gauc(y, s, u, weighting)
    got = gauc(y, s, u, weighting=weighting)
    if np.isnan(expected):
        assert np.isnan(got)
    else:
        assert got == pytest.approx(expected, abs=1e-12)


@settings(max_examples=100, deadline=None)
@given(labelled())
def test_auc_equals_sklearn_with_ties(data):
    y, s, _ = data
    if len(set(y)) < 2:
        assert np.isnan(auc(y, s))
    else:
        assert auc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-12)


def test_gauc_counts_skipped_single_class_users():
    y = np.array([1, 0, 1, 1, 0, 0, 1, 0])
    s = np.array([0.9, 0.1, 0.5, 0.6, 0.3, 0.2, 0.2, 0.8])
    u = np.array([1, 1, 2, 2, 3, 3, 4, 4])
    r = gauc_with_counts(y, s, u)
    # user 1: AUC 1 (2 samples); users 2, 3 single-class; user 4: AUC 0 (2 samples)
    assert (r.n_users, r.n_skipped) == (2, 2)
    assert r.gauc == pytest.approx(0.5)
    uniq, per, n = per_user_auc(y, s, u)
    assert list(uniq) == [1, 2, 3, 4] and list(n) == [2, 2, 2, 2]
    assert per[0] == 1.0 and np.isnan(per[1]) and np.isnan(per[2]) and per[3] == 0.0


def test_impression_weighting_differs_from_uniform():
    # user 1: 4 samples, perfect; user 2: 2 samples, inverted
    y = np.array([1, 1, 0, 0, 1, 0])
    s = np.array([0.9, 0.8, 0.1, 0.2, 0.1, 0.9])
    u = np.array([1, 1, 1, 1, 2, 2])
    assert gauc(y, s, u, "impressions") == pytest.approx(4 / 6)
    assert gauc(y, s, u, "uniform") == pytest.approx(0.5)


def test_constant_scores_give_half():
    y = np.array([0, 1, 0, 1, 1])
    assert auc(y, np.zeros(5)) == 0.5
    assert gauc(y, np.ones(5), np.zeros(5)) == 0.5


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="NaN"):
        auc([0, 1], [0.1, np.nan])
    with pytest.raises(ValueError, match="0/1"):
        gauc([0, 2], [0.1, 0.2], [1, 1])
    with pytest.raises(ValueError, match="equal length"):
        auc([0, 1, 1], [0.1, 0.2])
    with pytest.raises(ValueError, match="weighting"):
        gauc([0, 1], [0.1, 0.2], [1, 1], weighting="users")
    assert np.isnan(auc([], []))
    assert np.isnan(gauc([], [], []))


def test_gauc_is_vectorised_fast_enough_for_a_million_rows():
    # Not a timing assertion (benchmarks do timing): just that 1M rows / 100k users runs.
    rng = np.random.default_rng(0)
    n = 1_000_000
    u = rng.integers(0, 100_000, n)
    r = gauc_with_counts(rng.integers(0, 2, n), rng.random(n), u)
    assert 0.45 < r.gauc < 0.55 and r.n_users + r.n_skipped == np.unique(u).size
