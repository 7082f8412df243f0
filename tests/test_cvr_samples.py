import numpy as np
import pyarrow as pa

from choirrec.data.cvr_samples import DAY, TimeSplit, cvr_samples, per_user_stats, split_samples


def ev(rows):
    u, i, c, b, t = zip(*rows, strict=True)
    return pa.table({"user_id": pa.array(u, pa.int64()), "item_id": pa.array(i, pa.int64()),
                     "category_id": pa.array(c, pa.int64()), "behavior": list(b),
                     "ts": pa.array(t, pa.int64()), "price": pa.nulls(len(u), pa.float64())})


def test_one_sample_per_clicked_pair_labelled_by_later_purchase():
    events = ev([
        (1, 10, 3, "pv", 100), (1, 10, 3, "pv", 150), (1, 10, 3, "buy", 160),  # bought later
        (1, 11, 3, "buy", 50), (1, 11, 3, "pv", 100),  # bought only *before* the click
        (1, 12, 4, "pv", 100), (1, 12, 4, "cart", 101),  # carted, never bought
        (2, 10, 3, "buy", 10),  # purchase without click: no sample
        (2, 13, 5, "pv", 500), (2, 13, 5, "buy", 500 + 3 * DAY),  # late purchase
    ])
    s = cvr_samples(events).to_pylist()
    got = {(r["user_id"], r["item_id"]): (r["ts"], r["label"], r["category_id"]) for r in s}
    assert got == {(1, 10): (100, 1, 3), (1, 11): (100, 0, 3), (1, 12): (100, 0, 4),
                   (2, 13): (500, 1, 5)}
    windowed = {(r["user_id"], r["item_id"]): r["label"]
                for r in cvr_samples(events, attribution_window_s=DAY).to_pylist()}
    assert windowed[(2, 13)] == 0 and windowed[(1, 10)] == 1


def test_last_day_split_respects_timezone():
    # 2017-12-03 23:30 China time = 15:30 UTC
    max_ts = 1512315000
    s = TimeSplit.last_days(max_ts, tz_offset_hours=8)
    assert s.test_start == 1512230400  # 2017-12-03 00:00 +08:00
    assert s.end - s.test_start == DAY and s.test_start - s.valid_start == DAY
    assert list(s.split_index(np.array([s.valid_start - 1, s.valid_start, s.test_start,
                                        s.end - 1, s.end]))) == [0, 1, 2, 2, -1]


def test_per_user_stats_use_training_window_only():
    split = TimeSplit(1000, 2000, 3000)
    events = ev([(1, 1, 1, "buy", 10), (1, 2, 1, "pv", 20), (1, 3, 1, "pv", 2500),
                 (1, 3, 1, "buy", 2600), (1, 4, 1, "pv", 2700), (2, 5, 1, "pv", 1500)])
    samples = cvr_samples(events)
    st = per_user_stats(events, samples, split, user_ids=np.array([1, 2, 3])).to_pylist()
    u1, u2, u3 = st
    assert (u1["n_buy"], u1["n_click"], u1["n_buy_all"], u1["n_pv_all"]) == (1, 1, 2, 3)
    assert (u1["n_samples_test"], u1["n_pos_test"], u1["n_samples_train"]) == (2, 1, 1)
    assert (u2["n_click"], u2["n_samples_valid"]) == (0, 1)
    assert u3["n_pv_all"] == 0 and u3["n_samples_train"] == 0
    parts = split_samples(samples, split)
    assert [parts[k].num_rows for k in ("train", "valid", "test")] == [1, 1, 2]
