"""Per-user AUCs of two models on the same test samples: the units a paired comparison pools.

One unit is one (test day, user) with both a positive and a negative sample. Its AUC for a
model is the mean over that model's seeds (GAUC is linear in the per-user AUCs, so the GAUC
of the seed-averaged AUCs equals the mean of the seeds' GAUCs). Its activity level and
low-activity flag are exactly those of ``eval/<model>/metrics.json`` for that test day.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pyarrow as pa

from choirrec.evaluation.bootstrap import PairedLift, paired_bootstrap
from choirrec.metrics import per_user_auc
from choirrec.segments import sample_levels

UNIT_COLUMNS = ("fold", "user_id", "n", "auc_a", "auc_b", "low", "level")


def seed_mean_auc(preds: Mapping[int, pa.Table]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(user ids, samples per user, per-user AUC averaged over seeds; NaN: single class)."""
    if not preds:
        raise ValueError("no predictions (no seeds) to compare")
    ref = None
    aucs = []
    for seed in sorted(preds):
        t = preds[seed]
        u, a, n = per_user_auc(t.column("label").to_numpy(), t.column("score").to_numpy(),
                               t.column("user_id").to_numpy())
        if ref is not None and not (np.array_equal(u, ref[0]) and np.array_equal(n, ref[1])):
            raise ValueError(f"seed {seed} was scored on other samples than seed "
                             f"{min(preds)}; re-run `python -m pipelines.evaluate --force`")
        ref = (u, n)
        aucs.append(a)
    return ref[0], ref[1], np.mean(np.stack(aucs), axis=0)


def fold_units(preds_a: Mapping[int, pa.Table], preds_b: Mapping[int, pa.Table],
               activity: pa.Table, fold: int, n_levels: int = 5) -> dict[str, np.ndarray]:
    """Units of one test day: both models' seed-mean AUCs per GAUC-eligible user."""
    ua, na, aa = seed_mean_auc(preds_a)
    ub, nb, ab = seed_mean_auc(preds_b)
    if not (np.array_equal(ua, ub) and np.array_equal(na, nb)):
        raise ValueError(f"test day {fold}: the two models were scored on different samples "
                         "(different data stages?); evaluate both on the same run directory")
    t = next(iter(preds_a.values()))
    u = t.column("user_id").to_numpy()
    act_u = activity.column("user_id").to_numpy()
    levels = sample_levels(u, act_u, activity.column("n_buy").to_numpy(),
                           activity.column("n_click").to_numpy(), n_levels)
    user_level = np.zeros(ua.size, dtype=np.int64)
    user_level[np.searchsorted(ua, u)] = levels
    order = np.argsort(act_u)
    low_all = activity.column("low_activity").to_numpy(zero_copy_only=False).astype(bool)
    low = low_all[order][np.searchsorted(act_u[order], ua)]
    ok = ~np.isnan(aa) & ~np.isnan(ab)
    return {"fold": np.full(int(ok.sum()), fold, dtype=np.int64), "user_id": ua[ok],
            "n": na[ok].astype(np.float64), "auc_a": aa[ok], "auc_b": ab[ok],
            "low": low[ok], "level": user_level[ok]}


def concat_units(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    if not parts:
        raise ValueError("no test days to pool")
    return {c: np.concatenate([p[c] for p in parts]) for c in UNIT_COLUMNS}


def segment_masks(units: Mapping[str, np.ndarray], n_levels: int = 5) -> dict[str, np.ndarray]:
    """overall, low (the paper's low-activity users) and level_1..n_levels."""
    out = {"overall": np.ones(units["user_id"].size, dtype=bool), "low": units["low"]}
    for lv in range(1, n_levels + 1):
        out[f"level_{lv}"] = units["level"] == lv
    return out


def compare_units(units: Mapping[str, np.ndarray], n_boot: int = 2000, ci: float = 0.95,
                  seed: int = 0, n_levels: int = 5) -> dict[str, PairedLift]:
    """The paired lift of model b over model a in every segment."""
    return {name: paired_bootstrap(units["user_id"][m], units["n"][m], units["auc_a"][m],
                                   units["auc_b"][m], n_boot=n_boot, n_perm=n_boot, ci=ci,
                                   seed=seed)
            for name, m in segment_masks(units, n_levels).items()}
