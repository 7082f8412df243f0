"""Point-in-time event lookups: per sample, its user's events strictly before its timestamp.

Events (purchases, clicks) are laid out once as sorted ``(user index << 32 | ts - ts_base)``
int64 keys with per-user offsets; a batch of samples then finds its windows and counts with
one ``searchsorted``, so a sample never sees its own or any later event.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from choirrec.features.vocab import lookup


def ends_before(keys: np.ndarray, u: np.ndarray, ts: np.ndarray, ts_base: int) -> np.ndarray:
    """Per sample, the position in ``keys`` (sorted (user index << 32 | ts - ts_base)) just
    past its user's last event strictly before ``ts``."""
    key = (u.astype(np.int64) << 32) | np.clip(ts - ts_base, 0, 2**32 - 1)
    return np.searchsorted(keys, key, side="left")


def window_before(keys: np.ndarray, user_start: np.ndarray, u: np.ndarray, ts: np.ndarray,
                  ts_base: int, length: int) -> tuple[np.ndarray, np.ndarray]:
    """(positions, valid) of each sample's last ``length`` events strictly before ``ts``, in
    arrays sorted by (user index << 32 | ts - ts_base); right-aligned, invalid = padding."""
    end = ends_before(keys, u, ts, ts_base)
    start = user_start[u]
    pos = end[:, None] - length + np.arange(length)[None, :]
    valid = (pos >= start[:, None]) & (pos < end[:, None])
    return np.clip(pos, 0, max(keys.size - 1, 0)), valid


def count_before(keys: np.ndarray, user_start: np.ndarray, u: np.ndarray, ts: np.ndarray,
                 ts_base: int) -> np.ndarray:
    """Per sample, the number of its user's events strictly before ``ts``."""
    return ends_before(keys, u, ts, ts_base) - user_start[u]


def event_index(user_index: np.ndarray, ts: np.ndarray, n_users: int
                ) -> tuple[np.ndarray, np.ndarray, int, np.ndarray]:
    """(sorted keys, per-user offsets (U + 2,), ts_base, source rows in key order) of events:
    the layout :func:`window_before` and :func:`count_before` search. User index 0 (unknown) is
    dropped; equal keys keep their input order."""
    ts = ts.astype(np.int64)
    base = int(ts.min()) if ts.size else 0
    rows = np.flatnonzero(user_index > 0)
    raw = (user_index[rows].astype(np.int64) << 32) | (ts[rows] - base)
    order = np.argsort(raw, kind="stable")
    keys = raw[order]
    starts = np.searchsorted(keys, np.arange(n_users + 2, dtype=np.int64) << 32)
    return keys, starts, base, rows[order]


@dataclass
class ClickHistory:
    """First click per (user, item) and when that pair was first bought (negative feedback)."""

    keys: np.ndarray  # sorted (user index << 32 | first-click ts - ts_base)
    items: np.ndarray  # aligned with keys
    cats: np.ndarray
    first_buy_ts: np.ndarray  # absolute ts of the pair's first purchase; int64 max if never
    user_start: np.ndarray  # (U + 2,) offsets per user index
    ts_base: int

    def negatives(self, u: np.ndarray, ts: np.ndarray, length: int
                  ) -> tuple[np.ndarray, np.ndarray]:
        """(items, cats) of the last ``length`` clicks before ``ts`` not bought before ``ts``
        (0 = padding; a click converted before ``ts`` is a purchase, so it is masked here)."""
        pos, valid = window_before(self.keys, self.user_start, u, ts, self.ts_base, length)
        if not self.keys.size:
            return np.zeros(pos.shape, np.int64), np.zeros(pos.shape, np.int64)
        valid &= self.first_buy_ts[pos] >= ts[:, None]
        return np.where(valid, self.items[pos], 0), np.where(valid, self.cats[pos], 0)



def click_history(clicks: pa.Table, buys: pa.Table, uvocab: np.ndarray, ivocab: np.ndarray,
                  cvocab: np.ndarray) -> ClickHistory:
    """First click per (user, item) with the pair's first purchase time (if any)."""
    first = clicks.group_by(["user_id", "item_id"]).aggregate(
        [("ts", "min"), ("category_id", "min")]).rename_columns(
        ["user_id", "item_id", "ts", "category_id"])
    bought = buys.group_by(["user_id", "item_id"]).aggregate([("ts", "min")]).rename_columns(
        ["user_id", "item_id", "buy_ts"])
    first = first.join(bought, keys=["user_id", "item_id"], join_type="left outer")
    cu = lookup(uvocab, first.column("user_id").to_numpy())
    cts = first.column("ts").to_numpy().astype(np.int64)
    never = np.iinfo(np.int64).max
    buy_ts = first.column("buy_ts").fill_null(never).to_numpy().astype(np.int64)
    keep = cu > 0
    base = int(cts.min()) if cts.size else 0
    keys = (cu[keep].astype(np.int64) << 32) | (cts[keep] - base)
    raw_items = first.column("item_id").to_numpy()[keep]
    order = np.lexsort((raw_items, keys))  # (user, ts, item): deterministic whatever the join
    keys = keys[order]
    items = lookup(ivocab, raw_items[order])
    cats = lookup(cvocab, first.column("category_id").to_numpy()[keep][order])
    starts = np.searchsorted(keys, np.arange(uvocab.size + 2, dtype=np.int64) << 32)
    return ClickHistory(keys, items, cats, buy_ts[keep][order], starts, base)
