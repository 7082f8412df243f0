"""The paired bootstrap / sign-flip test of a GAUC lift, and the per-user units it pools."""

import time

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from choirrec.evaluation.bootstrap import paired_bootstrap, per_user_sums
from choirrec.evaluation.user_aucs import compare_units, concat_units, fold_units
from choirrec.metrics import gauc


def _units(n_users: int, gap: float, noise: float, seed: int = 0):
    rng = np.random.default_rng(seed)
    users = np.arange(n_users)
    w = rng.integers(2, 30, n_users).astype(float)
    a = np.clip(rng.normal(0.6, 0.15, n_users), 0, 1)
    b = np.clip(a + gap + rng.normal(0, noise, n_users), 0, 1)
    return users, w, a, b


def test_strictly_better_model_excludes_zero():
    users, w, a, _ = _units(300, 0, 0)
    b = np.minimum(a + 0.05, 1.0)
    b[a >= 1.0] = 1.0
    r = paired_bootstrap(users, w, a, b, n_boot=1000, seed=1)
    assert r.lift > 0 and r.ci_low > 0 and r.ci_low <= r.lift <= r.ci_high
    assert r.p_value < 0.01
    assert r.n_users == 300 and r.n_units == 300


def test_identical_models_cover_zero():
    users, w, a, _ = _units(300, 0, 0)
    r = paired_bootstrap(users, w, a, a.copy(), n_boot=1000, seed=1)
    assert r.lift == 0 and r.ci_low <= 0 <= r.ci_high
    assert r.p_value == 1.0  # every sign flip of an all-zero difference ties


def test_noise_only_difference_covers_zero_and_is_not_significant():
    users, w, a, b = _units(400, 0.0, 0.05, seed=3)
    b = a + (b - a) - np.average(b - a, weights=w)  # exactly zero weighted mean difference
    r = paired_bootstrap(users, w, a, b, n_boot=1000, seed=2)
    assert r.ci_low < 0 < r.ci_high and r.p_value > 0.5


def test_reproducible_for_a_seed_and_different_for_another():
    users, w, a, b = _units(200, 0.01, 0.05)
    r1 = paired_bootstrap(users, w, a, b, n_boot=500, seed=7)
    r2 = paired_bootstrap(users, w, a, b, n_boot=500, seed=7)
    r3 = paired_bootstrap(users, w, a, b, n_boot=500, seed=8)
    assert r1 == r2
    assert (r1.ci_low, r1.ci_high) != (r3.ci_low, r3.ci_high)
    assert r1.lift == r3.lift  # the point estimate does not depend on the resampling


def test_lift_equals_ratio_of_gaucs_from_raw_predictions():
    rng = np.random.default_rng(0)
    u = rng.integers(0, 50, 3000)
    y = rng.integers(0, 2, 3000)
    s1, s2 = rng.random(3000), rng.random(3000) + 0.3 * y
    ga, gb = gauc(y, s1, u), gauc(y, s2, u)
    preds = {m: {0: pa.table({"user_id": u, "label": y, "score": s})}
             for m, s in (("a", s1), ("b", s2))}
    act = pa.table({"user_id": np.arange(50), "n_buy": np.arange(50), "n_click": np.arange(50),
                    "low_activity": np.arange(50) < 25})
    units = fold_units(preds["a"], preds["b"], act, fold=0)
    r = compare_units(units, n_boot=200)["overall"]
    assert r.gauc_baseline == pytest.approx(ga, abs=1e-12)
    assert r.gauc_model == pytest.approx(gb, abs=1e-12)
    assert r.lift == pytest.approx((gb / ga - 1) * 100, abs=1e-9)
    low = compare_units(units, n_boot=200)["low"]
    m = np.isin(u, np.arange(25))
    assert low.gauc_model == pytest.approx(gauc(y[m], s2[m], u[m]), abs=1e-12)


def test_seed_mean_matches_mean_of_seed_gaucs_and_days_pool_by_user():
    rng = np.random.default_rng(1)
    u = rng.integers(0, 40, 2000)
    y = rng.integers(0, 2, 2000)
    act = pa.table({"user_id": np.arange(40), "n_buy": np.arange(40), "n_click": np.zeros(40),
                    "low_activity": np.zeros(40, bool)})
    a = {s: pa.table({"user_id": u, "label": y, "score": rng.random(2000)}) for s in (0, 1)}
    b = {s: pa.table({"user_id": u, "label": y, "score": rng.random(2000) + 0.2 * y})
         for s in (0, 1)}
    units = fold_units(a, b, act, fold=0)
    r = compare_units(units, n_boot=100)["overall"]
    mean_b = np.mean([gauc(y, b[s].column("score").to_numpy(), u) for s in (0, 1)])
    assert r.gauc_model == pytest.approx(mean_b, abs=1e-12)
    two_days = concat_units([units, fold_units(a, b, act, fold=1)])
    r2 = compare_units(two_days, n_boot=100)["overall"]
    assert r2.n_units == 2 * r.n_units and r2.n_users == r.n_users  # users are the clusters
    assert r2.lift == pytest.approx(r.lift)


def test_models_scored_on_different_samples_are_refused():
    t = pa.table({"user_id": [1, 1, 2, 2], "label": [0, 1, 0, 1], "score": [.1, .2, .3, .4]})
    act = pa.table({"user_id": [1, 2], "n_buy": [0, 1], "n_click": [0, 1],
                    "low_activity": [True, False]})
    with pytest.raises(ValueError, match="different samples"):
        fold_units({0: t}, {0: t.slice(0, 2)}, act, fold=0)


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="NaN"):
        paired_bootstrap(np.arange(2), np.ones(2), np.array([0.5, np.nan]), np.ones(2))
    with pytest.raises(ValueError, match="same length"):
        paired_bootstrap(np.arange(2), np.ones(3), np.ones(2), np.ones(2))
    r = paired_bootstrap(np.arange(0), np.ones(0), np.ones(0), np.ones(0))
    assert r.n_users == 0 and np.isnan(r.lift)


def test_vectorised_bootstrap_is_fast_enough_for_many_users():
    users, w, a, b = _units(20_000, 0.01, 0.05)
    t = time.perf_counter()
    paired_bootstrap(users, w, a, b, n_boot=2000)
    assert time.perf_counter() - t < 30  # a loop over resamples in Python would be minutes


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.floats(1, 10), st.floats(0, 1),
                          st.floats(0, 1)), min_size=1, max_size=30))
def test_per_user_sums_are_order_free_and_preserve_totals(rows):
    users, w, a, b = (np.array(c) for c in zip(*rows, strict=True))
    W, A, B = per_user_sums(users, w, a, b)
    assert W.sum() == pytest.approx(w.sum()) and A.sum() == pytest.approx((w * a).sum())
    perm = np.random.default_rng(0).permutation(users.size)
    W2, A2, B2 = per_user_sums(users[perm], w[perm], a[perm], b[perm])
    assert np.allclose(W, W2) and np.allclose(A, A2) and np.allclose(B, B2)
