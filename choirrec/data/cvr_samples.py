"""CVR samples from an event log, time splits, and per-user activity statistics.

One sample per clicked (pv) user–item pair, at the time of the first click; label 1 if the user
bought that item at or after that click (within an optional attribution window). Samples are
split by the click's time: the last day is the test split (§5.1), the day before it validation,
everything earlier training. Every function here takes a table holding *complete* users (all of
a user's events), so the same code runs on one machine or per block after a hash shuffle by
user in Ray Data.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from choirrec.schema import SAMPLES, SPLITS, conform

DAY = 86_400


@dataclass(frozen=True)
class TimeSplit:
    """[.., valid_start) train · [valid_start, test_start) valid · [test_start, end) test."""

    valid_start: int
    test_start: int
    end: int

    @classmethod
    def last_days(cls, max_ts: int, tz_offset_hours: float = 0.0, valid_days: int = 1,
                  test_days: int = 1) -> TimeSplit:
        """Day-aligned split ending with the (local) day that holds ``max_ts``."""
        off = int(tz_offset_hours * 3600)
        day_start = ((max_ts + off) // DAY) * DAY - off
        end = day_start + DAY
        test_start = end - test_days * DAY
        return cls(test_start - valid_days * DAY, test_start, end)

    def split_index(self, ts: pa.Array | np.ndarray) -> np.ndarray:
        """0 train, 1 valid, 2 test, -1 at or after ``end``."""
        t = np.asarray(ts)
        idx = np.where(t < self.valid_start, 0, np.where(t < self.test_start, 1, 2))
        return np.where(t >= self.end, -1, idx).astype(np.int8)

    def to_dict(self) -> dict:
        return asdict(self)


def cvr_samples(events: pa.Table, attribution_window_s: int | None = None) -> pa.Table:
    """One row per clicked (user, item): first-click ts, the clicked category, and the label."""
    beh = events.column("behavior")
    pv = events.filter(pc.equal(beh, "pv"))
    first = pv.group_by(["user_id", "item_id"]).aggregate(
        [("ts", "min"), ("category_id", "min")]
    ).rename_columns(["user_id", "item_id", "ts", "category_id"])
    buys = events.filter(pc.equal(beh, "buy")).select(["user_id", "item_id", "ts"])
    buys = buys.rename_columns(["user_id", "item_id", "buy_ts"])
    joined = first.join(buys, keys=["user_id", "item_id"], join_type="left outer")
    bt, ts = joined.column("buy_ts"), joined.column("ts")
    hit = pc.greater_equal(bt, ts)
    if attribution_window_s is not None:
        hit = pc.and_(hit, pc.less_equal(bt, pc.add(ts, attribution_window_s)))
    joined = joined.append_column("hit", pc.fill_null(hit, False).cast(pa.int8()))
    out = joined.group_by(["user_id", "item_id", "ts", "category_id"]).aggregate([("hit", "max")])
    out = out.rename_columns(["user_id", "item_id", "ts", "category_id", "label"])
    out = out.sort_by([("user_id", "ascending"), ("ts", "ascending"), ("item_id", "ascending")])
    return conform(out.select(["user_id", "item_id", "category_id", "ts", "label"]), SAMPLES)


def split_samples(samples: pa.Table, split: TimeSplit) -> dict[str, pa.Table]:
    idx = split.split_index(samples.column("ts").to_numpy())
    return {name: samples.filter(pa.array(idx == i)) for i, name in enumerate(SPLITS)}


def per_user_stats(events: pa.Table, samples: pa.Table, split: TimeSplit,
                   user_ids: np.ndarray | None = None,
                   sample_split: np.ndarray | None = None) -> pa.Table:
    """Per-user counts that the summary, the activity segments and later stages need.

    ``n_buy``/``n_click`` count only events before ``valid_start`` (no peeking at the
    evaluation days); ``n_<behavior>_all`` count the whole log; ``n_samples_<split>`` and
    ``n_pos_<split>`` give sample and positive counts per split (a user enters GAUC in a split
    when 0 < n_pos < n_samples). ``user_ids`` (sorted) lists users to report even without
    events; ``sample_split`` overrides the time-based split of samples (datasets without
    sample timestamps).
    """
    ev_u = events.column("user_id").to_numpy()
    s_u = samples.column("user_id").to_numpy()
    users = (np.asarray(user_ids, dtype=np.int64) if user_ids is not None
             else np.unique(np.concatenate([ev_u, s_u])))
    beh = events.column("behavior").to_numpy(zero_copy_only=False)
    train = events.column("ts").to_numpy() < split.valid_start
    pos = np.searchsorted(users, ev_u)

    def count(mask: np.ndarray, at: np.ndarray = pos, weights=None) -> np.ndarray:
        w = None if weights is None else weights[mask]
        return np.bincount(at[mask], weights=w, minlength=users.size).astype(np.int64)

    cols: dict[str, np.ndarray] = {
        "user_id": users,
        "n_buy": count(train & (beh == "buy")),
        "n_click": count(train & (beh == "pv")),
    }
    for b in ("pv", "cart", "fav", "buy"):
        cols[f"n_{b}_all"] = count(beh == b)
    s_pos = np.searchsorted(users, s_u)
    lab = samples.column("label").to_numpy().astype(np.int64)
    sidx = split.split_index(samples.column("ts").to_numpy()) if sample_split is None \
        else np.asarray(sample_split)
    for i, name in enumerate(SPLITS):
        m = sidx == i
        cols[f"n_samples_{name}"] = count(m, s_pos)
        cols[f"n_pos_{name}"] = count(m, s_pos, lab)
    return pa.table(cols)
