import numpy as np
import pyarrow as pa

from choirrec.features import build_feature_store, item_price_buckets


def store(hist_len=3):
    users = pa.table({"user_id": pa.array([10, 20, 30], pa.int64()),
                      "gender": ["f", None, "m"], "age_band": [None, None, "18-24"],
                      "city_tier": pa.array([1, None, 2], pa.int8()),
                      "occupation": pa.nulls(3, pa.string()),
                      "consumption_level": pa.nulls(3, pa.int8()), "age": pa.nulls(3, pa.float64())})
    act = pa.table({"user_id": pa.array([30, 10, 20], pa.int64()), "n_buy": pa.array([1, 4, 0]),
                    "n_click": pa.array([5, 9, 0]), "attr_fill_rate": [0.5, 0.3, 0.0],
                    "low_activity": [False, False, True]})
    items = pa.table({"item_id": pa.array([1, 2, 3, 4], pa.int64()),
                      "category_id": pa.array([7, 7, 8, 9], pa.int64())})
    buys = pa.table({"user_id": pa.array([10, 10, 10, 10, 20], pa.int64()),
                     "item_id": pa.array([1, 2, 3, 4, 2], pa.int64()),
                     "category_id": pa.array([7, 7, 8, 9, 7], pa.int64()),
                     "ts": pa.array([100, 200, 300, 400, 150], pa.int64())})
    ug = pa.table({"user_id": pa.array([10, 20, 30], pa.int64()), "g1": pa.array([0, 0, 1]),
                   "g2": pa.array([1, 1, 2]), "g3": pa.array([2, 3, 4]),
                   "group_key": ["0-1", "0-1", "1"], "group_level": pa.array([2, 2, 1], pa.int8())})
    ga = pa.table({"group_key": ["0-1", "1"], "gender": ["f", "m"], "age_band": ["25-29", None],
                   "city_tier": pa.array([3, 2], pa.int8()), "occupation": pa.nulls(2, pa.string()),
                   "consumption_level": pa.nulls(2, pa.int8())})
    gs = pa.table({"group_key": ["0-1"], "item_ids": [[3, 4, 99]], "category_ids": [[8, 9, 9]]})
    return build_feature_store(users, act, items, buys, ug, ga, gs, hist_len=hist_len,
                               group_seq_len=4)


def test_history_is_strictly_before_the_sample_and_padded():
    s = store()
    b = s.batch(np.array([10, 10, 10, 20, 30, 999]), np.array([1, 2, 3, 4, 1, 5]),
                np.array([7, 7, 8, 9, 7, 7]), np.array([300, 401, 50, 150, 500, 500]))
    # user 10 at ts 300: purchases at 100, 200 -> items 1, 2 (left-padded to 3)
    assert b["hist_items"][0].tolist() == [0, 1, 2]
    assert b["hist_items"][1].tolist() == [2, 3, 4]  # last three before 401
    assert b["hist_items"][2].tolist() == [0, 0, 0]  # nothing before 50
    assert b["hist_items"][3].tolist() == [0, 0, 0]  # user 20's buy at 150 is not *before* 150
    assert b["hist_items"][4].tolist() == [0, 0, 0]  # user 30 bought nothing
    assert b["user_id"].tolist() == [1, 1, 1, 2, 3, 0]  # unknown user -> 0
    assert b["item_id"][5] == 0  # unknown item -> 0
    assert b["hist_cats"][1].tolist() == [1, 2, 3]  # categories 7, 8, 9 -> 1, 2, 3


def test_group_features_and_attribute_completion():
    s = store()
    b = s.batch(np.array([10, 20, 30]), np.array([1, 1, 1]), np.array([7, 7, 7]),
                np.array([1000, 1000, 1000]))
    g = s.attr_vocabs["gender"].tolist()
    assert b["user_attrs"][1, 0] == g.index("f") + 1  # user 20's missing gender <- group "0-1"
    assert b["user_attrs"][0, 0] == g.index("f") + 1 and b["user_attrs"][2, 0] == g.index("m") + 1
    assert b["group_codes"].tolist() == [[0, 1, 2], [0, 1, 3], [1, 2, 4]]
    assert b["group_seq_items"][0].tolist() == [3, 4, 0, 0]  # item 99 unknown -> 0
    assert b["group_seq_items"][2].tolist() == [0, 0, 0, 0]  # group "1" has no sequence
    # the data stage's counts, kept for bundles trained on them
    assert np.allclose(b["activity_static"][0], [np.log1p(4), np.log1p(9), 0.3])
    assert b["n_buy_static"].tolist() == [4.0, 0.0, 1.0]


def test_activity_features_count_only_events_before_the_sample():
    base = store()
    clicks = pa.table({"user_id": pa.array([10, 10, 10, 20, 777], pa.int64()),
                       "ts": pa.array([90, 150, 300, 149, 10], pa.int64())})
    s = build_feature_store(
        pa.table({"user_id": pa.array([10, 20, 30], pa.int64())}),
        pa.table({"user_id": pa.array([10, 20, 30], pa.int64()), "n_buy": pa.array([4, 0, 1]),
                  "n_click": pa.array([9, 0, 5]), "attr_fill_rate": [0.3, 0.0, 0.5],
                  "low_activity": [False, True, False]}),
        pa.table({"item_id": pa.array([1, 2, 3, 4], pa.int64()),
                  "category_id": pa.array([7, 7, 8, 9], pa.int64())}),
        pa.table({"user_id": pa.array([10, 10, 10, 10, 20], pa.int64()),
                  "item_id": pa.array([1, 2, 3, 4, 2], pa.int64()),
                  "category_id": pa.array([7, 7, 8, 9, 7], pa.int64()),
                  "ts": pa.array([100, 200, 300, 400, 150], pa.int64())}),
        None, None, None, hist_len=3, click_times=clicks)
    b = s.batch(np.array([10, 10, 10, 20, 20, 30, 999]), np.ones(7, np.int64),
                np.full(7, 7), np.array([100, 300, 5000, 150, 151, 500, 500]))
    # user 10 at 100: nothing bought before (the purchase at 100 is this moment), 1 click
    # at 300: buys at 100, 200 and clicks at 90, 150 (the 300 ones are not before 300)
    assert b["n_buy"].tolist() == [0, 2, 4, 0, 1, 0, 0]
    assert np.allclose(np.expm1(b["activity"][:, 1]), [1, 2, 3, 1, 1, 0, 0])
    assert np.allclose(b["activity"][:, 2], [0.3, 0.3, 0.3, 0.0, 0.0, 0.5, 0.0])
    # the static counts are the same whatever the sample's time
    assert b["n_buy_static"].tolist() == [4, 4, 4, 0, 0, 1, 0]
    assert base.click_keys is None  # built without clicks: counts read 0
    nb = base.batch(np.array([10]), np.array([1]), np.array([7]), np.array([5000]))
    assert nb["n_buy"].tolist() == [4] and nb["activity"][0, 1] == 0


def test_item_price_buckets_deciles_unknowns_and_no_prices():
    items = pa.table({"item_id": pa.array([5, 1, 3, 9], pa.int64()),
                      "price_tier": pa.array([0.0, 0.55, None, 1.0])})
    vocab = np.array([1, 3, 5, 7, 9])  # item 7 is in the vocabulary but not in the table
    b = item_price_buckets(items, vocab)
    # index 0 padding; vocab order 1, 3, 5, 7, 9 -> deciles 6, none, 1, none, 10
    assert b.tolist() == [0, 6, 0, 1, 0, 10]
    no_prices = items.set_column(1, "price_tier", pa.nulls(4, pa.float64()))
    assert item_price_buckets(no_prices, vocab) is None
    assert item_price_buckets(items.drop_columns(["price_tier"]), vocab) is None
    assert store().n_price_buckets == 0  # the toy store's items have no price column


def test_group_sequence_is_the_latest_snapshot_at_or_before_the_sample():
    gs = pa.table({"group_key": ["0-1", "0-1", "1"], "as_of": pa.array([200, 300, 300], pa.int64()),
                   "item_ids": [[1], [1, 2], [4]], "category_ids": [[7], [7, 7], [9]]})
    base = store()
    users = pa.table({"user_id": pa.array([10, 20, 30], pa.int64())})
    s = build_feature_store(
        users, pa.table({"user_id": pa.array([10, 20, 30], pa.int64()),
                         "n_buy": pa.array([4, 0, 1]), "n_click": pa.array([9, 0, 5]),
                         "attr_fill_rate": [0.3, 0.0, 0.5],
                         "low_activity": [False, True, False]}),
        pa.table({"item_id": pa.array([1, 2, 3, 4], pa.int64()),
                  "category_id": pa.array([7, 7, 8, 9], pa.int64())}),
        pa.table({"user_id": pa.array([10], pa.int64()), "item_id": pa.array([1], pa.int64()),
                  "category_id": pa.array([7], pa.int64()), "ts": pa.array([100], pa.int64())}),
        pa.table({"user_id": pa.array([10, 20, 30], pa.int64()), "g1": pa.array([0, 0, 1]),
                  "g2": pa.array([1, 1, 2]), "g3": pa.array([2, 3, 4]),
                  "group_key": ["0-1", "0-1", "1"]}),
        None, gs, group_seq_len=3)
    assert s.group_seq_as_of.tolist() == [200, 300] and base.group_seq_len == 4
    b = s.batch(np.array([10, 10, 20, 10, 30, 30, 999]), np.ones(7, np.int64),
                np.full(7, 7), np.array([199, 200, 299, 300, 250, 10_000, 10_000]))
    assert b["group_seq_items"].tolist() == [
        [0, 0, 0],  # before the first snapshot: nothing (never a later one)
        [1, 0, 0], [1, 0, 0],  # snapshot 200 (purchases before 200) for 200 <= ts < 300
        [1, 2, 0],  # snapshot 300 from ts 300 on
        [0, 0, 0],  # group "1" has no purchases before 300
        [4, 0, 0],  # ... and its snapshot 300 afterwards
        [0, 0, 0]]  # unknown user: no group
    assert b["group_seq_cats"][3].tolist() == [1, 1, 0]
