"""AUC and GAUC (the paper's primary metric, §5.1), vectorised over users.

GAUC is the weighted mean of per-user AUCs over users that have both a positive and a negative
sample; users with a single class carry no ranking information and are skipped (and counted).
Ties get the average rank, so a model that scores everything equal gets exactly 0.5.
Weighting: ``"impressions"`` (each user's AUC weighted by their number of samples — the usual
industrial definition, our default) or ``"uniform"`` (each user counts once).
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import numpy as np

Weighting = Literal["impressions", "uniform"]


class GAUCResult(NamedTuple):
    gauc: float  # NaN when no user has both classes
    n_users: int  # users that entered the average
    n_skipped: int  # users with a single class
    weighting: str


def _check(labels, scores, user_ids=None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    y = np.asarray(labels)
    s = np.asarray(scores, dtype=np.float64)
    if y.ndim != 1 or s.shape != y.shape:
        raise ValueError(f"labels and scores must be 1-D of equal length, got {y.shape} and {s.shape}")
    if y.size and not np.isin(y, (0, 1)).all():
        raise ValueError("labels must be 0/1 (found other values or NaN); fix the label column")
    if np.isnan(s).any():
        raise ValueError(f"scores contain {int(np.isnan(s).sum())} NaN values; the model diverged "
                         "or was fed NaN features")
    u = None
    if user_ids is not None:
        u = np.asarray(user_ids)
        if u.shape != y.shape:
            raise ValueError(f"user_ids must match labels in length, got {u.shape} vs {y.shape}")
    return y.astype(np.int8), s, u


def _average_ranks(groups: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sort by (group, score); return the sort order and 1-based within-group average ranks."""
    order = np.lexsort((scores, groups))
    g, s = groups[order], scores[order]
    n = g.size
    pos = np.arange(n)
    new_group = np.r_[True, g[1:] != g[:-1]]
    group_start = np.maximum.accumulate(np.where(new_group, pos, 0))
    new_tie = new_group | np.r_[True, s[1:] != s[:-1]]
    tie_id = np.cumsum(new_tie) - 1
    tie_first = pos[new_tie]
    tie_last = np.r_[tie_first[1:], n] - 1
    avg_pos = (tie_first + tie_last) / 2.0  # average position of each tie block
    ranks = avg_pos[tie_id] - group_start + 1.0
    return order, ranks


def _per_group_auc(y: np.ndarray, s: np.ndarray, groups: np.ndarray):
    """Per-group AUC via the Mann–Whitney U statistic. Returns (auc, n_pos, n_neg, n)."""
    order, ranks = _average_ranks(groups, s)
    g, yy = groups[order], y[order].astype(np.float64)
    n_groups = int(g.max()) + 1 if g.size else 0
    n = np.bincount(g, minlength=n_groups).astype(np.float64)
    n_pos = np.bincount(g, weights=yy, minlength=n_groups)
    n_neg = n - n_pos
    rank_pos = np.bincount(g, weights=ranks * yy, minlength=n_groups)
    with np.errstate(invalid="ignore", divide="ignore"):
        auc_g = (rank_pos - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)
    return auc_g, n_pos, n_neg, n


def auc(labels, scores) -> float:
    """ROC AUC with average ranks for ties. NaN if only one class is present."""
    y, s, _ = _check(labels, scores)
    if y.size == 0:
        return float("nan")
    a, n_pos, n_neg, _ = _per_group_auc(y, s, np.zeros(y.size, dtype=np.int64))
    return float(a[0]) if n_pos[0] > 0 and n_neg[0] > 0 else float("nan")


def per_user_auc(labels, scores, user_ids):
    """(unique user ids, per-user AUC (NaN for single-class users), samples per user)."""
    y, s, u = _check(labels, scores, user_ids)
    uniq, inv = np.unique(u, return_inverse=True)
    if uniq.size == 0:
        return uniq, np.zeros(0), np.zeros(0, dtype=np.int64)
    a, n_pos, n_neg, n = _per_group_auc(y, s, inv.astype(np.int64))
    a = np.where((n_pos > 0) & (n_neg > 0), a, np.nan)
    return uniq, a, n.astype(np.int64)


def gauc_with_counts(labels, scores, user_ids,
                     weighting: Weighting = "impressions") -> GAUCResult:
    """GAUC plus how many users entered the average and how many were skipped."""
    if weighting not in ("impressions", "uniform"):
        raise ValueError(f"weighting must be 'impressions' or 'uniform', got {weighting!r}")
    _, a, n = per_user_auc(labels, scores, user_ids)
    if a.size == 0:
        return GAUCResult(float("nan"), 0, 0, weighting)
    ok = ~np.isnan(a)
    n_ok = int(ok.sum())
    if n_ok == 0:
        return GAUCResult(float("nan"), 0, int(a.size), weighting)
    w = n[ok].astype(np.float64) if weighting == "impressions" else np.ones(n_ok)
    return GAUCResult(float(np.sum(w * a[ok]) / w.sum()), n_ok, int(a.size - n_ok), weighting)


def gauc(labels, scores, user_ids, weighting: Weighting = "impressions") -> float:
    """Group AUC over users (see module docstring). NaN when no user has both classes."""
    return gauc_with_counts(labels, scores, user_ids, weighting).gauc
