"""User activity segments (§3, §5.3) and the per-segment metric report.

*Low-activity* users are the bottom ``low_share`` (default 55%) of users by training-window
purchases; *activity levels* 1..5 are equal-size quintiles of the evaluated users by the same
measure (level 1 = least active), as in Fig. 5. Purchase counts tie massively (most light users
have 0 or 1), so ties are broken by training-window clicks and then by a hash of the user id —
never by the id itself, which often correlates with sign-up date.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from choirrec.hashing import mix64
from choirrec.metrics import auc, gauc_with_counts


def activity_rank(user_ids, n_buy, n_click) -> np.ndarray:
    """0-based rank of each user, ascending by (purchases, clicks, hash(user_id))."""
    u = np.asarray(user_ids, dtype=np.int64)
    order = np.lexsort((mix64(u), np.asarray(n_click), np.asarray(n_buy)))
    rank = np.empty(u.size, dtype=np.int64)
    rank[order] = np.arange(u.size)
    return rank


def low_activity_mask(user_ids, n_buy, n_click, share: float = 0.55) -> np.ndarray:
    """True for the bottom ``share`` of users by activity."""
    if not 0.0 < share < 1.0:
        raise ValueError(f"low-activity share must be in (0, 1), got {share}")
    rank = activity_rank(user_ids, n_buy, n_click)
    return rank < int(round(share * rank.size))


def activity_levels(user_ids, n_buy, n_click, n_levels: int = 5) -> np.ndarray:
    """Equal-size activity levels 1..n_levels (1 = least active)."""
    rank = activity_rank(user_ids, n_buy, n_click)
    n = max(rank.size, 1)
    return (rank * n_levels // n + 1).astype(np.int8)


def _sample_segments(u: np.ndarray, activity_user_ids, n_buy, n_click, low_share: float,
                     n_levels: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per sample: activity level (quintile of the evaluated users), low-activity flag among
    the evaluated users, and the row of the user in the activity arrays."""
    au = np.asarray(activity_user_ids, dtype=np.int64)
    order = np.argsort(au, kind="stable")
    au_sorted = au[order]
    pos = np.searchsorted(au_sorted, u)
    pos_c = np.minimum(pos, max(au.size - 1, 0))
    if au.size == 0 or (au_sorted[pos_c] != u).any():
        missing = u[(au_sorted[pos_c] != u)] if au.size else u
        raise KeyError(f"{np.unique(missing).size} evaluated users have no activity record "
                       f"(e.g. user_id {int(missing[0])}); pass the user_activity artifact of "
                       "the same run")
    row = order[pos_c]
    nb, nc = np.asarray(n_buy)[order], np.asarray(n_click)[order]
    eval_users = np.unique(u)
    eu_idx = np.searchsorted(au_sorted, eval_users)
    at = np.searchsorted(eval_users, u)
    levels_u = activity_levels(eval_users, nb[eu_idx], nc[eu_idx], n_levels)
    low_u = low_activity_mask(eval_users, nb[eu_idx], nc[eu_idx], low_share)
    return levels_u[at], low_u[at], row


def sample_levels(user_ids, activity_user_ids, n_buy, n_click, n_levels: int = 5) -> np.ndarray:
    """The activity level (1..n_levels) of each sample's user, exactly as
    :func:`segment_report` assigns it (quintiles of the evaluated users)."""
    u = np.asarray(user_ids, dtype=np.int64)
    return _sample_segments(u, activity_user_ids, n_buy, n_click, 0.55, n_levels)[0]


def segment_report(labels, scores, user_ids, activity_user_ids, n_buy, n_click,
                   low_activity=None, low_share: float = 0.55, n_levels: int = 5,
                   weighting: str = "impressions") -> dict[str, float | int | str]:
    """AUC/GAUC overall, for low-activity users and per activity level.

    ``activity_user_ids, n_buy, n_click`` describe users (one row each; every evaluated user
    must be present). ``low_activity`` (aligned with them) is the flag computed over the whole
    user base at data preparation; if None it is computed over the evaluated users. Levels are
    always quintiles of the evaluated users, as in the paper. Keys follow
    ``eval/<model>/metrics.json``: auc, gauc, auc_low, gauc_low, gauc_level_1..n, n_users_gauc.
    """
    y = np.asarray(labels)
    s = np.asarray(scores, dtype=np.float64)
    u = np.asarray(user_ids, dtype=np.int64)
    level, low_u, row = _sample_segments(u, activity_user_ids, n_buy, n_click, low_share,
                                         n_levels)
    low = low_u if low_activity is None else np.asarray(low_activity, dtype=bool)[row]

    out: dict[str, float | int | str] = {"weighting": weighting, "n_samples": int(y.size)}

    def add(suffix: str, mask: np.ndarray) -> None:
        g = gauc_with_counts(y[mask], s[mask], u[mask], weighting)
        out[f"auc{suffix}"] = auc(y[mask], s[mask])
        out[f"gauc{suffix}"] = g.gauc
        out[f"n_users_gauc{suffix}"] = g.n_users
        out[f"n_samples{suffix}" if suffix else "n_samples"] = int(mask.sum())

    add("", np.ones(y.size, dtype=bool))
    add("_low", low)
    for lv in range(1, n_levels + 1):
        add(f"_level_{lv}", level == lv)
    return out


def format_segment_table(report: Mapping[str, float | int | str], n_levels: int = 5) -> str:
    """A fixed-width table of a :func:`segment_report` dict, one segment per line."""
    rows = [("overall", ""), ("low-activity", "_low")] + [
        (f"level {lv}", f"_level_{lv}") for lv in range(1, n_levels + 1)]
    lines = [f"{'segment':<14}{'AUC':>8}{'GAUC':>8}{'GAUC users':>12}{'samples':>10}"]
    for name, sfx in rows:
        n_s = report.get(f"n_samples{sfx}", 0)
        lines.append(f"{name:<14}{report[f'auc{sfx}']:>8.4f}{report[f'gauc{sfx}']:>8.4f}"
                     f"{report[f'n_users_gauc{sfx}']:>12d}{n_s:>10d}")
    lines.append(f"(GAUC weighting: {report.get('weighting', 'impressions')})")
    return "\n".join(lines)
