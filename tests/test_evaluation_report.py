"""metrics.json assembly, lifts and Table 2 rows, checked against hand computations."""

import math

import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs
import pytest

from choirrec.evaluation.lifts import (
    SEGMENT_KEYS,
    ablation_rows,
    comparison_rows,
    format_comparison,
    paired_lift,
)
from choirrec.evaluation.report import aggregate, alpha_by_level, seed_metrics
from choirrec.metrics import gauc
from choirrec.run_dir import write_csv


def test_alpha_by_level_averages_users_not_samples():
    # user 1 (level 1) has 3 samples at 0.9 and user 2 (level 1) one at 0.1: per-user mean 0.5
    u = np.array([1, 1, 1, 2, 3])
    a = np.array([0.9, 0.9, 0.9, 0.1, 0.4])
    lv = np.array([1, 1, 1, 1, 5])
    r = alpha_by_level(u, a, lv)
    assert r["alpha_fusion_level_1"] == pytest.approx(0.5)
    assert r["alpha_fusion_level_5"] == pytest.approx(0.4)
    assert math.isnan(r["alpha_fusion_level_3"])


def _activity(n):
    return pa.table({"user_id": pa.array(np.arange(n), pa.int64()),
                     "n_buy": pa.array(np.arange(n)), "n_click": pa.array(np.arange(n)),
                     "low_activity": pa.array(np.arange(n) < n // 2)})


def test_seed_metrics_keys_and_values():
    rng = np.random.default_rng(0)
    n_users, per = 50, 6
    u = np.repeat(np.arange(n_users), per)
    y = rng.integers(0, 2, u.size)
    s = rng.random(u.size)
    pred = pa.table({"user_id": u, "item_id": np.arange(u.size), "label": y, "score": s,
                     "alpha_fusion": np.where(u < 10, 0.6, 0.3)})
    r = seed_metrics(pred, _activity(n_users))
    want = {"auc", "gauc", "auc_low", "gauc_low", "n_users_gauc"} | {
        f"gauc_level_{i}" for i in range(1, 6)} | {f"alpha_fusion_level_{i}" for i in range(1, 6)}
    assert want <= set(r)
    assert r["gauc"] == pytest.approx(gauc(y, s, u))
    low = u < 25
    assert r["gauc_low"] == pytest.approx(gauc(y[low], s[low], u[low]))
    # users 0..9 are the least active fifth -> level 1
    assert r["alpha_fusion_level_1"] == pytest.approx(0.6)
    assert r["alpha_fusion_level_5"] == pytest.approx(0.3)
    assert r["alpha_fusion_ratio_level_1_to_5"] == pytest.approx(2.0)


def test_aggregate_mean_std_and_counts():
    per = {0: {"gauc": 0.60, "n_users_gauc": 10, "weighting": "impressions"},
           1: {"gauc": 0.62, "n_users_gauc": 10, "weighting": "impressions"},
           2: {"gauc": 0.64, "n_users_gauc": 10, "weighting": "impressions"}}
    a = aggregate(per)
    assert a["gauc"] == pytest.approx(0.62)
    assert a["gauc_std"] == pytest.approx(0.02)
    assert a["n_users_gauc"] == 10 and a["n_seeds"] == 3 and a["weighting"] == "impressions"
    assert set(a["per_seed"]) == {"0", "1", "2"}
    with pytest.raises(ValueError):
        aggregate({})


def _model(vals_by_seed):
    per = {s: {k: v for k in SEGMENT_KEYS} for s, v in vals_by_seed.items()}
    return aggregate(per)


def test_paired_lift_uses_per_seed_pairs():
    base = _model({0: 0.50, 1: 0.60})
    model = _model({0: 0.505, 1: 0.606})  # +1% on both seeds
    lift, sd = paired_lift(model, base, "gauc")
    assert lift == pytest.approx((0.5555 / 0.55 - 1) * 100)
    assert sd == pytest.approx(0.0, abs=1e-9)  # the paired lifts agree exactly
    rows = comparison_rows({"base": base, "choirrec": model})
    assert rows[0]["gauc_lift_pct"] == pytest.approx(0.0)
    assert rows[1]["gauc_level_1_lift_pct"] == pytest.approx(lift)
    assert "choirrec" in format_comparison(rows)
    with pytest.raises(KeyError, match="baseline"):
        comparison_rows({"choirrec": model})


def test_ablation_rows_are_relative_to_the_full_model(tmp_path):
    full = _model({0: 0.60, 1: 0.60})
    worse = _model({0: 0.594, 1: 0.594})
    rows = ablation_rows({"choirrec": full, "choirrec-no_group_id": worse},
                         {"choirrec-no_group_id": "w/o ID Emb.", "choirrec-kl_loss": "x"})
    assert [r["variant"] for r in rows] == ["choirrec", "choirrec-no_group_id"]
    assert rows[1]["gauc_low_change_pct"] == pytest.approx(-1.0)
    path = str(tmp_path / "a.csv")
    write_csv(pafs.LocalFileSystem(), path, rows)
    text = (tmp_path / "a.csv").read_text().splitlines()
    assert text[0].startswith("variant,label") and len(text) == 3
    assert not (tmp_path / "a.csv.tmp").exists()


def test_lifts_use_only_the_seeds_both_sides_have():
    ref = _model({0: 0.50, 1: 0.70, 2: 0.90})  # 3 seeds, mean 0.70
    variant = _model({0: 0.55})  # seed 0 only
    lift, sd = paired_lift(variant, ref, "gauc_low")
    assert lift == pytest.approx(10.0)  # against the reference's seed 0, not its mean
    assert math.isnan(sd)
