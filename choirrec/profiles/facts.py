"""The three inputs of §4.2.1 for each user, as plain JSON-able facts.

Static attributes; purchases aggregated by category in a recent / medium / long window (by
default the 7, 8–30 and 31–365 days before the split time — disjoint, so the LLM sees when an
interest happened); recent searches, deduplicated, most recent first. Only events strictly
before the split time are used: a profile must never see the evaluation days.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from choirrec.schema import USER_ATTRIBUTES

DAY = 86_400


@dataclass(frozen=True)
class CategoryInfo:
    """Lookups from the ``items`` artifact, broadcast to every worker (small: per category)."""

    item_ids: np.ndarray  # sorted
    item_category: np.ndarray  # aligned with item_ids
    item_tier: np.ndarray  # price tier in [0, 1], NaN if unknown
    names: dict[int, str]  # category_id -> leaf name (may be empty: anonymised data)
    l1: dict[int, str]

    @classmethod
    def from_items(cls, items: pa.Table) -> CategoryInfo:
        items = items.sort_by("item_id")
        cat = items.column("category_id").to_numpy()
        names, l1 = {}, {}
        for c, n, top in zip(cat, items.column("category_name").to_pylist(),
                             items.column("l1_category").to_pylist(), strict=True):
            if n is not None:
                names[int(c)] = n
            if top is not None:
                l1[int(c)] = top
        tier = items.column("price_tier").to_numpy(zero_copy_only=False)
        return cls(items.column("item_id").to_numpy(), cat, np.asarray(tier, dtype=float),
                   names, l1)

    @property
    def has_names(self) -> bool:
        return bool(self.names)

    def label(self, category_id: int) -> tuple[str, str | None]:
        return self.names.get(category_id, f"category {category_id}"), self.l1.get(category_id)


def tier_word(t: float) -> str:
    if np.isnan(t):
        return "unknown"
    return "low" if t < 1 / 3 else "mid" if t < 2 / 3 else "high"


def _window_of(age_days: np.ndarray, windows: tuple[int, ...]) -> np.ndarray:
    """Index of the first window containing each age (days before split), -1 if older."""
    idx = np.searchsorted(np.asarray(windows), age_days, side="left")
    return np.where(idx < len(windows), idx, -1)


def in_windows(ts: np.ndarray, split_ts: int, windows: tuple[int, ...]) -> np.ndarray:
    """True for events the profile's purchase windows cover (before the split, not too old)."""
    return (ts < split_ts) & (_window_of((split_ts - 1 - ts) // DAY, windows) >= 0)


def window_names(windows: tuple[int, ...]) -> list[str]:
    out, lo = [], 0
    for w in windows:
        out.append(f"last {w} days" if lo == 0 else f"{lo + 1}-{w} days ago")
        lo = w
    return out


def user_facts(user_ids: np.ndarray, users: pa.Table, buys: pa.Table, queries: pa.Table,
               info: CategoryInfo, split_ts: int, windows: tuple[int, ...],
               max_categories: int, max_queries: int) -> list[dict]:
    """One facts dict per user in ``user_ids`` (order kept). Tables hold only these users."""
    attrs = {int(r["user_id"]): r for r in users.to_pylist()}
    b_u = buys.column("user_id").to_numpy()
    b_ts = buys.column("ts").to_numpy()
    keep = b_ts < split_ts
    b_u, b_ts = b_u[keep], b_ts[keep]
    b_item = buys.column("item_id").to_numpy()[keep]
    b_cat = buys.column("category_id").to_numpy()[keep]
    pos = np.clip(np.searchsorted(info.item_ids, b_item), 0, max(len(info.item_ids) - 1, 0))
    found = info.item_ids[pos] == b_item if len(info.item_ids) else np.zeros(len(b_item), bool)
    b_tier = np.where(found, info.item_tier[pos] if len(info.item_ids) else np.nan, np.nan)
    b_win = _window_of((split_ts - 1 - b_ts) // DAY, windows)

    q_u = queries.column("user_id").to_numpy()
    q_ts = queries.column("ts").to_numpy()
    q_text = queries.column("query").to_pylist()
    wnames = window_names(windows)

    out = []
    for u in user_ids:
        u = int(u)
        a = attrs.get(u, {})
        m = (b_u == u) & (b_win >= 0)
        windows_out = []
        for w, wname in enumerate(wnames):
            mw = m & (b_win == w)
            cats, counts = np.unique(b_cat[mw], return_counts=True)
            order = np.lexsort((cats, -counts))[:max_categories]
            rows = []
            for c, n in zip(cats[order], counts[order], strict=True):
                tiers = b_tier[mw & (b_cat == c)]
                tiers = tiers[~np.isnan(tiers)]
                name, top = info.label(int(c))
                rows.append({"category": name, "l1": top, "count": int(n),
                             "price_tier": tier_word(float(tiers.mean()) if tiers.size else np.nan)})
            windows_out.append({"window": wname, "categories": rows,
                                "total": int(mw.sum())})
        mq = (q_u == u) & (q_ts < split_ts)
        qi = np.flatnonzero(mq)
        qi = qi[np.argsort(-q_ts[qi], kind="stable")]
        seen, recent = set(), []
        for i in qi:
            key = (q_text[i] or "").strip().lower()
            if key and key not in seen:
                seen.add(key)
                recent.append(q_text[i])
            if len(recent) >= max_queries:
                break
        out.append({
            "user_id": u,
            "attributes": {k: a.get(k) for k in USER_ATTRIBUTES if a.get(k) is not None},
            "purchases": windows_out,
            "n_purchases": int(m.sum()),
            "searches": recent,
        })
    return out
