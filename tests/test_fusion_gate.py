"""The fusion-gate diagnostic: best constant α per level, channel GAUCs, learned α."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import log_loss as sk_log_loss

from choirrec.diagnostics.fusion_gate import best_alpha, fused_logit, gate_report, log_loss
from choirrec.metrics import gauc


def test_log_loss_matches_sklearn():
    rng = np.random.default_rng(0)
    z = rng.normal(0, 3, 500)
    y = (rng.random(500) < 1 / (1 + np.exp(-z))).astype(np.int64)
    assert log_loss(y, z) == pytest.approx(sk_log_loss(y, 1 / (1 + np.exp(-z))), rel=1e-9)


def test_best_alpha_by_hand():
    # z_ind = 0, z_grp = c: the fused logit is the constant α·c, whose best value is the
    # logit of the positive rate (0.25), so α* = logit(0.25) / c = 0.5 for c = 2·logit(0.25)
    y = np.array([1, 0, 0, 0] * 25)
    c = 2 * math.log(0.25 / 0.75)
    a, loss = best_alpha(np.zeros(100), np.full(100, c), y)
    assert a == pytest.approx(0.5)
    assert loss == pytest.approx(-(0.25 * math.log(0.25) + 0.75 * math.log(0.75)), rel=1e-9)


def test_best_alpha_follows_the_informative_channel():
    rng = np.random.default_rng(1)
    truth = rng.normal(-2, 1.5, 20_000)
    y = (rng.random(truth.size) < 1 / (1 + np.exp(-truth))).astype(np.int64)
    noise = rng.normal(-2, 1.5, truth.size)
    assert best_alpha(noise, truth, y)[0] >= 0.9   # the group logit knows: lean on it
    assert best_alpha(truth, noise, y)[0] <= 0.1   # the individual logit knows
    a, _ = best_alpha(truth + rng.normal(0, 1, truth.size), truth + rng.normal(0, 1, truth.size), y)
    assert 0.3 <= a <= 0.7  # equally good, independent errors: average them


def test_gate_report_levels_and_learned_alpha():
    rng = np.random.default_rng(2)
    n_users, per_user = 60, 20
    u = np.repeat(np.arange(n_users), per_user)
    lv = np.repeat(np.arange(n_users) % 3 + 1, per_user)  # levels 1..3 used, 4..5 empty
    truth = rng.normal(-1, 1.5, u.size)
    y = (rng.random(u.size) < 1 / (1 + np.exp(-truth))).astype(np.int64)
    noise = rng.normal(-1, 1.5, u.size)
    # the group logit is the informative one for level 1 only
    z_grp = np.where(lv == 1, truth, noise)
    z_ind = np.where(lv == 1, noise, truth)
    alpha = np.where(lv == 1, 0.8, 0.2) + 0.1 * (u % 2)  # users differ within a level
    r = gate_report(z_ind, z_grp, alpha, y, u, lv)
    assert set(r) == {"all", *(f"level_{k}" for k in range(1, 6))}
    assert r["level_1"]["alpha_best"] > 0.8 and r["level_2"]["alpha_best"] < 0.2
    assert r["level_1"]["alpha_learned"] == pytest.approx(0.85)
    assert r["level_2"]["alpha_learned"] == pytest.approx(0.25)
    m = lv == 2
    assert r["level_2"]["gauc_ind"] == pytest.approx(gauc(y[m], z_ind[m], u[m]))
    assert r["level_2"]["gauc_fused"] == pytest.approx(
        gauc(y[m], fused_logit(z_ind[m], z_grp[m], alpha[m]), u[m]))
    assert r["level_1"]["log_loss_best"] <= r["level_1"]["log_loss_learned"] + 1e-12
    assert r["level_2"]["n_samples"] == m.sum()
    assert r["level_4"]["n_samples"] == 0 and math.isnan(r["level_4"]["alpha_best"])


def test_gate_report_rejects_bad_input():
    one = np.zeros(4)
    with pytest.raises(ValueError, match="z_grp has shape"):
        gate_report(one, np.zeros(3), one, one, one, one)
    with pytest.raises(ValueError, match="alpha has non-finite"):
        gate_report(one, one, np.array([0, np.nan, 0, 0]), one, one, one)
