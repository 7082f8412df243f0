"""A model's ``metrics.json``: segment AUC/GAUC and α_fusion per activity level, over seeds.

Keys (users' scripts rely on them): ``auc, gauc, auc_low, gauc_low, gauc_level_1..5,
n_users_gauc`` and, for ChoirRec, ``alpha_fusion_level_1..5``. With several seeds each key is
the mean over seeds, ``<key>_std`` the sample standard deviation, and ``per_seed`` keeps
every seed's own report.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from choirrec.segments import sample_levels, segment_report


def alpha_by_level(user_ids: np.ndarray, alpha: np.ndarray, levels: np.ndarray,
                   n_levels: int = 5) -> dict[str, float]:
    """Mean α_fusion of the users of each level (each user's samples averaged first, so a
    heavy user does not count more than a light one — "average α for Level 1 users")."""
    users, inv = np.unique(user_ids, return_inverse=True)
    per_user = np.bincount(inv, weights=alpha) / np.bincount(inv)
    user_level = np.zeros(users.size, dtype=levels.dtype)
    user_level[inv] = levels
    out = {}
    for lv in range(1, n_levels + 1):
        sel = user_level == lv
        out[f"alpha_fusion_level_{lv}"] = float(per_user[sel].mean()) if sel.any() else float("nan")
    return out


def seed_metrics(pred: pa.Table, activity: pa.Table, n_levels: int = 5) -> dict:
    """One seed's report from its predictions and the data stage's ``user_activity``."""
    u = pred.column("user_id").to_numpy()
    y, s = pred.column("label").to_numpy(), pred.column("score").to_numpy()
    au, nb, nc = (activity.column(c).to_numpy() for c in ("user_id", "n_buy", "n_click"))
    low = activity.column("low_activity").to_numpy(zero_copy_only=False)
    r = dict(segment_report(y, s, u, au, nb, nc, low_activity=low, n_levels=n_levels))
    if "alpha_fusion" in pred.column_names:
        levels = sample_levels(u, au, nb, nc, n_levels)
        r.update(alpha_by_level(u, pred.column("alpha_fusion").to_numpy(), levels, n_levels))
        lo, hi = r["alpha_fusion_level_1"], r[f"alpha_fusion_level_{n_levels}"]
        r["alpha_fusion_ratio_level_1_to_5"] = lo / hi if hi > 0 else float("nan")
    return r


def aggregate(per_seed: dict[int, dict]) -> dict:
    """Mean and std over seeds of every numeric key; ``per_seed`` keeps the originals."""
    if not per_seed:
        raise ValueError("no seed reports to aggregate")
    seeds = sorted(per_seed)
    first = per_seed[seeds[0]]
    out: dict = {"seeds": seeds, "n_seeds": len(seeds)}
    for k, v in first.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            out[k] = v
            continue
        vals = np.array([per_seed[s][k] for s in seeds], dtype=np.float64)
        if k.startswith("n_"):
            out[k] = int(vals[0])  # counts are the same for every seed
            continue
        out[k] = float(vals.mean())
        out[f"{k}_std"] = float(vals.std(ddof=1)) if len(seeds) > 1 else 0.0
    out["per_seed"] = {str(s): per_seed[s] for s in seeds}
    return out
