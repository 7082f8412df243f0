"""A tiny world whose label follows one planted rule: shared by the model-learning tests."""

import numpy as np
import pyarrow as pa


def planted_tables(rng: np.random.Generator, n_users: int, n_items: int
                   ) -> tuple[pa.Table, pa.Table, pa.Table]:
    """(users, activity, items): half the users low-activity, item category = id % 5."""
    users = pa.table({"user_id": pa.array(np.arange(n_users), pa.int64())})
    act = pa.table({"user_id": pa.array(np.arange(n_users), pa.int64()),
                    "n_buy": pa.array(rng.integers(0, 10, n_users)),
                    "n_click": pa.array(rng.integers(0, 50, n_users)),
                    "attr_fill_rate": pa.array(np.full(n_users, 0.5)),
                    "low_activity": pa.array(np.arange(n_users) < n_users // 2)})
    items = pa.table({"item_id": pa.array(np.arange(n_items), pa.int64()),
                      "category_id": pa.array(np.arange(n_items) % 5, pa.int64())})
    return users, act, items


def planted_samples(rng: np.random.Generator, n_users: int, n_items: int, n: int) -> pa.Table:
    """Label = the item is one of the 'good' items (id % 3 == 0), plus 10% label noise."""
    it = rng.integers(0, n_items, n)
    y = (it % 3 == 0).astype(np.int8)
    y = np.where(rng.random(n) < 0.1, 1 - y, y)
    return pa.table({"user_id": pa.array(rng.integers(0, n_users, n), pa.int64()),
                     "item_id": pa.array(it, pa.int64()),
                     "category_id": pa.array(it % 5, pa.int64()),
                     "ts": pa.array(rng.integers(0, 1200, n), pa.int64()),
                     "label": pa.array(y)})
