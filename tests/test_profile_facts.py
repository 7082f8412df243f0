import numpy as np
import pyarrow as pa

from choirrec.profiles.facts import CategoryInfo, user_facts, window_names

DAY = 86_400
SPLIT = 1_000 * DAY


def test_windows_are_disjoint_and_never_see_the_evaluation_days():
    items = pa.table({"item_id": pa.array([1, 2, 3], pa.int64()),
                      "category_id": pa.array([10, 20, 30], pa.int64()),
                      "category_name": ["tea", "diapers", None],
                      "l1_category": ["Food", "Baby", None],
                      "price_tier": pa.array([0.1, 0.9, None], pa.float64())})
    info = CategoryInfo.from_items(items)
    buys = pa.table({
        "user_id": pa.array([1] * 6, pa.int64()),
        "ts": pa.array([SPLIT - DAY, SPLIT - 3 * DAY, SPLIT - 10 * DAY, SPLIT - 100 * DAY,
                        SPLIT - 400 * DAY, SPLIT + 10], pa.int64()),
        "item_id": pa.array([1, 1, 2, 3, 1, 2], pa.int64()),
        "category_id": pa.array([10, 10, 20, 30, 10, 20], pa.int64())})
    queries = pa.table({"user_id": pa.array([1, 1, 1, 1], pa.int64()),
                        "ts": pa.array([SPLIT - 5, SPLIT - 9, SPLIT - 7, SPLIT + 5], pa.int64()),
                        "query": ["Tea", "old", "tea ", "future"]})
    users = pa.table({"user_id": pa.array([1, 2], pa.int64()), "gender": ["female", None]})
    f1, f2 = user_facts(np.array([1, 2]), users, buys, queries, info, SPLIT, (7, 30, 365), 8, 2)
    w = f1["purchases"]
    assert [x["window"] for x in w] == window_names((7, 30, 365)) == [
        "last 7 days", "8-30 days ago", "31-365 days ago"]
    assert w[0]["categories"] == [{"category": "tea", "l1": "Food", "count": 2,
                                   "price_tier": "low"}]
    assert w[1]["categories"][0]["category"] == "diapers" and w[1]["categories"][0][
        "price_tier"] == "high"
    assert w[2]["categories"][0]["category"] == "category 30"  # anonymised category
    assert f1["n_purchases"] == 4  # 400 days ago and after the split are excluded
    assert f1["searches"] == ["Tea", "old"]  # most recent first, deduplicated, capped at 2
    assert f1["attributes"] == {"gender": "female"} and f2["attributes"] == {}
    assert f2["n_purchases"] == 0 and f2["searches"] == []
