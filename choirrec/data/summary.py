"""The world summary and the ``user_activity`` artifact, from per-user statistics.

Computed on the driver from one small row per user (a few ints), never from the event log.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from choirrec.schema import SPLITS, USER_ACTIVITY, conform
from choirrec.segments import activity_levels, low_activity_mask

QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9, 0.99)


def user_activity(stats: pa.Table, low_share: float, n_levels: int) -> pa.Table:
    """The ``user_activity`` artifact: training-window counts, low-activity flag, level."""
    u = stats.column("user_id").to_numpy()
    nb, nc = stats.column("n_buy").to_numpy(), stats.column("n_click").to_numpy()
    return conform(pa.table({
        "user_id": u, "n_buy": nb, "n_click": nc,
        "attr_fill_rate": stats.column("attr_fill_rate"),
        "low_activity": low_activity_mask(u, nb, nc, low_share),
        "activity_level": activity_levels(u, nb, nc, n_levels),
    }), USER_ACTIVITY)


def _q(x: np.ndarray) -> dict[str, float]:
    if x.size == 0:
        return {}
    return {f"p{int(q * 100)}": float(np.quantile(x, q)) for q in QUANTILES} | {
        "mean": float(x.mean()), "max": float(x.max())}


def summarize(stats: pa.Table, activity: pa.Table, n_queries: int, top_share: float = 0.18
              ) -> dict:
    """Figures that show whether a dataset has the paper's problem (§1, §3)."""
    col = {name: stats.column(name).to_numpy() for name in stats.column_names}
    low = activity.column("low_activity").to_numpy()
    level = activity.column("activity_level").to_numpy()
    fill = col["attr_fill_rate"]
    n_users = int(col["user_id"].size)
    clicks = col["n_pv_all"]
    top = np.sort(clicks)[::-1][: max(1, int(round(top_share * n_users)))]
    mean_buy = col["n_buy"].mean() if n_users else 0.0
    out: dict = {
        "users": n_users,
        "users_with_clicks": int((clicks > 0).sum()),
        "events": {b: int(col[f"n_{b}_all"].sum()) for b in ("pv", "cart", "fav", "buy")},
        "queries": int(n_queries),
        "clicks_per_user": _q(clicks.astype(float)),
        "train_purchases_per_user": _q(col["n_buy"].astype(float)),
        f"click_share_top_{int(top_share * 100)}pct_users":
            float(top.sum() / clicks.sum()) if clicks.sum() else float("nan"),
        "low_activity": {
            "share_of_users": float(low.mean()) if n_users else 0.0,
            "purchase_ratio_to_average":
                float(col["n_buy"][low].mean() / mean_buy) if mean_buy and low.any() else 0.0,
            "attr_fill_rate_low": float(fill[low].mean()) if low.any() else 0.0,
            "attr_fill_rate_rest": float(fill[~low].mean()) if (~low).any() else 0.0,
        },
        "attr_fill_rate_by_level": {
            str(lv): float(fill[level == lv].mean()) for lv in np.unique(level)},
        "samples": {},
    }
    for name in SPLITS:
        n, p = col[f"n_samples_{name}"], col[f"n_pos_{name}"]
        eligible = (p > 0) & (p < n)
        out["samples"][name] = {
            "rows": int(n.sum()), "positives": int(p.sum()),
            "positive_rate": float(p.sum() / n.sum()) if n.sum() else float("nan"),
            "users": int((n > 0).sum()),
            "gauc_users": int(eligible.sum()), "gauc_users_low": int((eligible & low).sum()),
        }
    return out


def format_summary(s: dict, title: str) -> str:
    lines = [f"== {title} =="]
    ev = s["events"]
    lines.append(f"users {s['users']:,} ({s['users_with_clicks']:,} with clicks) | events: "
                 + ", ".join(f"{k} {ev[k]:,}" for k in ("pv", "cart", "fav", "buy"))
                 + f" | queries {s['queries']:,}")
    keys = [f"p{int(q * 100)}" for q in QUANTILES] + ["mean", "max"]
    for title, name in (("clicks/user", "clicks_per_user"),
                        ("purchases/user (training window)", "train_purchases_per_user")):
        if s[name]:
            lines.append(f"{title}  " + "  ".join(f"{k} {s[name][k]:.4g}" for k in keys))
    key = next(k for k in s if k.startswith("click_share_top"))
    low = s["low_activity"]
    lines.append(f"top 18% of users make {s[key]:.1%} of clicks (paper: ~90%)")
    lines.append(f"low-activity users: {low['share_of_users']:.0%} of users, "
                 f"{low['purchase_ratio_to_average']:.2f}x the average purchase count "
                 f"(paper: 0.19x), attribute fill {low['attr_fill_rate_low']:.0%} "
                 f"vs {low['attr_fill_rate_rest']:.0%} for the rest (paper: ~65%)")
    lines.append(f"{'split':<6}{'rows':>10}{'pos rate':>10}{'users':>9}{'GAUC users':>12}"
                 f"{'(low-act.)':>12}")
    for name in SPLITS:
        d = s["samples"][name]
        lines.append(f"{name:<6}{d['rows']:>10,}{d['positive_rate']:>10.4f}{d['users']:>9,}"
                     f"{d['gauc_users']:>12,}{d['gauc_users_low']:>12,}")
    return "\n".join(lines)
