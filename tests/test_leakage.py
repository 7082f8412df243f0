"""hit_rates: the share of positives / negatives whose item is in their group sequence."""

import math

import numpy as np
import pyarrow as pa

from choirrec.diagnostics.leakage import activity_label_rates, hit_rates
from tests.test_features import store


def samples(users, items, labels, ts=1000):
    n = len(users)
    return pa.table({"user_id": pa.array(users, pa.int64()), "item_id": pa.array(items, pa.int64()),
                     "category_id": pa.array([7] * n, pa.int64()),
                     "ts": pa.array(np.full(n, ts), pa.int64()),
                     "label": pa.array(labels, pa.int8())})


def test_hit_rates_by_label_with_lift():
    s = store()  # group "0-1" (users 10, 20) has the sequence [3, 4]; user 30's group has none
    r = hit_rates(s, samples([10, 20, 10, 30, 20, 10], [3, 1, 4, 3, 2, 1], [1, 1, 0, 1, 0, 0]),
                  batch=2)  # several batches
    assert r["positives"] == 1 / 3 and r["negatives"] == 1 / 3 and r["lift"] == 1.0
    assert (r["n_positives"], r["n_negatives"]) == (3, 3)
    only_pos = hit_rates(s, samples([10, 20], [3, 4], [1, 1]))
    assert only_pos["positives"] == 1.0 and math.isnan(only_pos["negatives"])
    assert math.isnan(only_pos["lift"])


def test_an_unknown_item_never_counts_as_a_hit():
    s = store()  # item 99 of the group sequence is unknown to the vocabulary -> padding 0
    r = hit_rates(s, samples([10, 10], [99, 12345], [1, 0]))
    assert r["positives"] == 0.0 and r["negatives"] == 0.0


def test_activity_label_rates_static_vs_as_of_sample():
    s = store()  # static n_buy: user 10 -> 4, 20 -> 0, 30 -> 1; user 10 bought at 100..400
    t = pa.table({"user_id": pa.array([10, 10, 20, 30, 10], pa.int64()),
                  "item_id": pa.array([1, 2, 2, 3, 4], pa.int64()),
                  "category_id": pa.array([7, 7, 7, 8, 9], pa.int64()),
                  "ts": pa.array([100, 200, 150, 50, 400], pa.int64()),
                  "label": pa.array([1, 1, 1, 0, 1], pa.int8())})
    r = activity_label_rates(s, t, batch=2)
    st, now = r["static"], r["as_of_sample"]
    assert st["0"] == {"positive_rate": 1.0, "n_samples": 1}  # user 20
    assert st["1"] == {"positive_rate": 0.0, "n_samples": 1}  # user 30
    assert st["2-4"] == {"positive_rate": 1.0, "n_samples": 3}  # user 10 (static 4)
    assert math.isnan(st["5+"]["positive_rate"]) and st["5+"]["n_samples"] == 0
    # as of each sample: user 10 had 0, 1, 3 purchases; users 20 and 30 had 0
    assert now["0"] == {"positive_rate": 2 / 3, "n_samples": 3}
    assert now["1"] == {"positive_rate": 1.0, "n_samples": 1}
    assert now["2-4"] == {"positive_rate": 1.0, "n_samples": 1}
