"""Group priors: backoff, attribute modes/means and completion, group sequences."""

import numpy as np
import pyarrow as pa
import pytest

from choirrec.config import PriorsConfig
from choirrec.priors import (
    complete_attributes,
    effective_level,
    group_attribute_row,
    group_sequence_row,
    group_sequence_snapshots,
    latest_snapshot,
    snapshot_times,
    usable_groups,
    user_groups,
)


def test_backoff_uses_the_finest_group_that_is_big_enough():
    codes = np.array([[0, 0, 0]] * 5 + [[0, 0, 1]] * 2 + [[0, 1, 0]] * 1 + [[1, 0, 0]] * 1)
    lv = effective_level(codes, min_group_size=3)
    # (0,0,0) has 5 -> level 3; (0,0,1) has 2 but (0,0) has 7 -> level 2;
    # (0,1,0): (0,1) has 1, (0) has 8 -> level 1; (1,0,0): everything small -> level 1
    assert list(lv) == [3] * 5 + [2, 2, 1, 1]
    t = pa.table({"user_id": pa.array(range(9), pa.int64()),
                  **{f"g{i + 1}": pa.array(codes[:, i], pa.int32()) for i in range(3)}})
    ug = user_groups(t, 3)
    assert ug.column("group_key").to_pylist() == ["0-0-0"] * 5 + ["0-0", "0-0", "0", "1"]


def test_group_attributes_mode_and_mean_ignore_missing():
    t = pa.table({"group_key": ["7-1"] * 5, "level": pa.array([2] * 5, pa.int8()),
                  "gender": ["f", "f", "m", None, None],
                  "city_tier": pa.array([1, 2, 2, None, 1], pa.int8()),
                  "age": pa.array([20.0, None, 30.0, 40.0, None])})
    r = group_attribute_row(t).to_pylist()[0]
    assert r["gender"] == "f" and r["age"] == 30.0 and r["n_members"] == 5
    assert r["city_tier"] == 1  # tie between 1 and 2: the smallest value, deterministically
    assert r["occupation"] is None and r["group_key"] == "7-1" and r["level"] == 2


def test_complete_attributes_fills_only_missing_fields():
    users = pa.table({"user_id": pa.array([1, 2], pa.int64()), "gender": [None, "m"],
                      "age_band": pa.nulls(2, pa.string()), "city_tier": pa.array([3, None], pa.int8()),
                      "occupation": pa.nulls(2, pa.string()),
                      "consumption_level": pa.nulls(2, pa.int8()), "age": pa.nulls(2, pa.float64())})
    groups = pa.table({"user_id": pa.array([1, 2], pa.int64()), "group_key": ["a", "a"]})
    ga = group_attribute_row(pa.table({"group_key": ["a"] * 3, "level": pa.array([1] * 3, pa.int8()),
                                       "gender": ["f", "f", "m"],
                                       "city_tier": pa.array([2, 2, 3], pa.int8())}))
    out = complete_attributes(users, groups, ga).to_pylist()
    assert out[0]["gender"] == "f" and out[0]["gender_from_group"]
    assert out[1]["gender"] == "m" and not out[1]["gender_from_group"]
    assert out[0]["city_tier"] == 3 and not out[0]["city_tier_from_group"]
    assert out[1]["city_tier"] == 2 and out[1]["city_tier_from_group"]
    assert out[0]["occupation"] is None and not out[0]["occupation_from_group"]


def test_group_sequence_top_categories_popular_items_by_mean_time():
    rows = [  # (category, item, ts)
        (1, 10, 100), (1, 10, 300), (1, 11, 50), (1, 12, 60),  # cat 1: 4 buys
        (2, 20, 500), (2, 20, 520), (2, 21, 10),  # cat 2: 3 buys
        (3, 30, 1),  # cat 3: 1 buy, not in the top 2
    ]
    t = pa.table({"group_key": ["g"] * len(rows), "level": pa.array([1] * len(rows), pa.int8()),
                  "category_id": pa.array([r[0] for r in rows], pa.int64()),
                  "item_id": pa.array([r[1] for r in rows], pa.int64()),
                  "ts": pa.array([r[2] for r in rows], pa.int64())})
    cfg = PriorsConfig(top_categories=2, items_per_category=2, sequence_length=10)
    r = group_sequence_row(t, cfg).to_pylist()[0]
    # cat 1 -> items 10 (2 buys, mean 200), 11 (tie at 1 buy, smaller id, ts 50)
    # cat 2 -> items 20 (mean 510), 21 (ts 10); ordered by mean purchase time
    assert r["item_ids"] == [21, 11, 10, 20]
    assert r["category_ids"] == [2, 1, 1, 2]
    short = group_sequence_row(t, PriorsConfig(top_categories=2, items_per_category=2,
                                               sequence_length=2)).to_pylist()[0]
    assert short["item_ids"] == [10, 20]  # the most recent two


DAY = 86_400


def test_snapshot_times_cover_every_sample_day_on_the_split_grid():
    split = {"valid_start": 10 * DAY, "test_start": 11 * DAY, "end": 12 * DAY}
    # first training sample mid-day 7 -> snapshots at the starts of days 7..11
    assert snapshot_times(7 * DAY + 5, split, 1) == [d * DAY for d in (7, 8, 9, 10, 11)]
    assert snapshot_times(7 * DAY, split, 1)[0] == 7 * DAY  # a sample exactly at a day start
    assert snapshot_times(6 * DAY + 1, split, 2) == [d * DAY for d in (6, 8, 10)]
    assert snapshot_times(7 * DAY, split, 0) == [10 * DAY]  # static: as of the valid start
    assert snapshot_times(0, split, 1, max_snapshots=3) == [9 * DAY, 10 * DAY, 11 * DAY]
    with pytest.raises(ValueError, match="sequence_snapshot_days=-1"):
        snapshot_times(0, split, -1)


def test_group_sequence_snapshots_never_hold_a_purchase_at_or_after_as_of():
    t = pa.table({"group_key": ["5"] * 4, "level": pa.array([1] * 4, pa.int8()),
                  "category_id": pa.array([1, 1, 2, 2], pa.int64()),
                  "item_id": pa.array([10, 11, 20, 21], pa.int64()),
                  "ts": pa.array([400, 100, 300, 200], pa.int64())})
    cfg = PriorsConfig(top_categories=5, items_per_category=5, sequence_length=10)
    snaps = group_sequence_snapshots(t, cfg, [100, 201, 300, 500]).to_pylist()
    # as_of 100: nothing strictly before it -> omitted
    assert [r["as_of"] for r in snaps] == [201, 300, 500]
    assert [sorted(r["item_ids"]) for r in snaps] == [[11, 21], [11, 21], [10, 11, 20, 21]]
    assert [r["n_purchases"] for r in snaps] == [2, 2, 4]
    empty = group_sequence_snapshots(t, cfg, [50])
    assert empty.num_rows == 0 and "as_of" in empty.column_names
    both = pa.concat_tables([group_sequence_snapshots(t, cfg, [201, 500]),
                             group_sequence_snapshots(t.set_column(0, "group_key",
                                                                   pa.array(["6"] * 4)),
                                                      cfg, [300])])
    latest = latest_snapshot(both).sort_by("group_key").to_pylist()
    assert [(r["group_key"], r["as_of"]) for r in latest] == [("5", 500), ("6", 300)]


def test_only_groups_that_backoff_can_pick_get_sequences_below_level_1():
    codes = np.array([[0, 0, 0]] * 3 + [[0, 0, 1]] * 1 + [[0, 1, 0]] * 2 + [[1, 0, 0]])
    assert usable_groups(codes, 3) == {"0-0", "0-0-0"}  # "0-1" (2) and "1-0" (1) are too small
    assert usable_groups(codes, 1) == {"0-0", "0-1", "1-0", "0-0-0", "0-0-1", "0-1-0", "1-0-0"}
