"""Is the learned fusion gate where the two channels say it should be?

The paper reads α_fusion per activity level as evidence that the model "relies more heavily
on the group channel for data-sparse users" (§5.5: level 1 ≈ 2.1× level 5). Whether a gate
*should* do that depends on the data: it pays to lean on the group logit only where the
group logit predicts conversions better than the individual one. This module measures that
directly from a trained model's two logits, per activity level:

* the GAUC of ``z_ind`` alone, ``z_grp`` alone and the fused logit the model produced;
* the mean α_fusion the gate gave the level's users (as ``metrics.json`` reports it);
* ``alpha_best``: the single α that, applied to every sample of the level, minimises the log
  loss of σ((1 − α)·z_ind + α·z_grp) — the training objective's own answer for that level,
  with the benefit of hindsight on the evaluated day (an oracle, not a deployable gate).

If ``alpha_best`` is not larger for level 1 than for level 5, no activity-conditioned gate
can reproduce the paper's ordering on that data without raising the loss; if it is and the
learned α is not, the gate is under-trained. Pure numpy, so it tests without a model.
"""

from __future__ import annotations

import numpy as np

from choirrec.metrics import gauc_with_counts

ALPHA_GRID = np.round(np.linspace(0.0, 1.0, 101), 2)


def fused_logit(z_ind: np.ndarray, z_grp: np.ndarray, alpha: np.ndarray | float) -> np.ndarray:
    """Eq. 10: (1 − α)·z_ind + α·z_grp."""
    return (1.0 - alpha) * z_ind + alpha * z_grp


def log_loss(y: np.ndarray, z: np.ndarray) -> float:
    """Mean binary cross-entropy of logits ``z`` (computed stably: log(1 + e^z) − y·z)."""
    return float(np.mean(np.logaddexp(0.0, z) - y * z))


def best_alpha(z_ind: np.ndarray, z_grp: np.ndarray, y: np.ndarray,
               grid: np.ndarray = ALPHA_GRID) -> tuple[float, float]:
    """(α, log loss): the constant α of ``grid`` with the lowest log loss of the fused logit.

    Ties go to the smaller α. The loss is convex in α (a convex function of an affine map), so
    the grid minimum is within one grid step of the true one.
    """
    if y.size == 0:
        raise ValueError("best_alpha needs at least one sample")
    losses = np.array([log_loss(y, fused_logit(z_ind, z_grp, a)) for a in grid])
    i = int(np.argmin(losses))
    return float(grid[i]), float(losses[i])


def _user_mean(user_ids: np.ndarray, x: np.ndarray) -> float:
    """Mean over users of each user's mean (as α per level is reported in metrics.json)."""
    _, inv = np.unique(user_ids, return_inverse=True)
    return float(np.mean(np.bincount(inv, weights=x) / np.bincount(inv)))


def gate_report(z_ind: np.ndarray, z_grp: np.ndarray, alpha: np.ndarray, y: np.ndarray,
                user_ids: np.ndarray, levels: np.ndarray, n_levels: int = 5,
                grid: np.ndarray = ALPHA_GRID) -> dict[str, dict[str, float]]:
    """Per segment ("all", "level_1".."level_n"): channel GAUCs, learned and best α.

    Arrays are aligned, one entry per sample; ``levels`` holds 1..n_levels. A segment without
    samples is reported with NaNs rather than dropped, so tables keep their shape.
    """
    arrays = [np.asarray(a) for a in (z_ind, z_grp, alpha, y, user_ids, levels)]
    n = arrays[0].shape[0]
    for name, a in zip(("z_ind", "z_grp", "alpha", "y", "user_ids", "levels"), arrays,
                       strict=True):
        if a.shape != (n,):
            raise ValueError(f"{name} has shape {a.shape}; every input must be 1-D of length {n}")
        if name in ("z_ind", "z_grp", "alpha") and not np.isfinite(a).all():
            raise ValueError(f"{name} has non-finite values; the model diverged or was fed NaN")
    z_i, z_g, a, y, u, lv = arrays
    out: dict[str, dict[str, float]] = {}
    segments = {"all": np.ones(n, dtype=bool)}
    segments.update({f"level_{k}": lv == k for k in range(1, n_levels + 1)})
    for name, m in segments.items():
        if not m.any():
            out[name] = {"n_samples": 0, "n_users_gauc": 0, **{k: float("nan") for k in (
                "gauc_ind", "gauc_grp", "gauc_fused", "alpha_learned", "alpha_best",
                "gauc_at_alpha_best", "log_loss_learned", "log_loss_best")}}
            continue
        ab, loss_b = best_alpha(z_i[m], z_g[m], y[m], grid)
        z_f = fused_logit(z_i[m], z_g[m], a[m])
        g = gauc_with_counts(y[m], z_f, u[m])
        out[name] = {
            "n_samples": int(m.sum()), "n_users_gauc": g.n_users,
            "gauc_ind": gauc_with_counts(y[m], z_i[m], u[m]).gauc,
            "gauc_grp": gauc_with_counts(y[m], z_g[m], u[m]).gauc,
            "gauc_fused": g.gauc,
            "alpha_learned": _user_mean(u[m], a[m]),
            "alpha_best": ab,
            "gauc_at_alpha_best": gauc_with_counts(
                y[m], fused_logit(z_i[m], z_g[m], ab), u[m]).gauc,
            "log_loss_learned": log_loss(y[m], z_f),
            "log_loss_best": loss_b,
        }
    return out
