"""Train/test skew of a group feature: how often the candidate is in the group sequence.

A feature that separates positives from negatives far better on the training days than on
the test day is a leak: the model learns the training-day relation and the test day lacks
it. For group sequences this happened when one static sequence per group held the training
samples' own purchases (docs/groups.md). ``hit_rates`` measures it per split and label, from
the same :class:`FeatureStore` the models read, so it sees exactly what training sees.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from choirrec.training.features import FeatureStore


def hit_rates(store: FeatureStore, samples: pa.Table, batch: int = 65_536) -> dict:
    """Share of positives / negatives whose item is in their group sequence, and the lift
    (positive share / negative share); NaN where a class is absent."""
    hits = np.zeros(samples.num_rows, bool)
    for s in range(0, samples.num_rows, batch):
        t = samples.slice(s, batch)
        b = store.batch(t.column("user_id").to_numpy(), t.column("item_id").to_numpy(),
                        t.column("category_id").to_numpy(), t.column("ts").to_numpy())
        hits[s:s + t.num_rows] = ((b["group_seq_items"] == b["item_id"][:, None])
                                  & (b["item_id"][:, None] > 0)).any(1)
    y = samples.column("label").to_numpy().astype(bool)
    pos = float(hits[y].mean()) if y.any() else float("nan")
    neg = float(hits[~y].mean()) if (~y).any() else float("nan")
    return {"positives": pos, "negatives": neg,
            "lift": pos / neg if neg > 0 else float("nan"),
            "n_positives": int(y.sum()), "n_negatives": int((~y).sum())}
