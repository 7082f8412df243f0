"""Train/test skew of a feature: the group sequence, and the activity counts.

A feature that separates positives from negatives far better on the training days than on
the test day is a leak: the model learns the training-day relation and the test day lacks
it. For group sequences this happened when one static sequence per group held the training
samples' own purchases (docs/groups.md). ``hit_rates`` measures it per split and label, from
the same :class:`FeatureStore` the models read, so it sees exactly what training sees.

``activity_label_rates`` does the same for the activity features: the positive rate per
purchase-count bin, with the data stage's counts (to the validation day: a user with 0 there
has no training positive at all) and with counts as of each sample (docs/models.md).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa

from choirrec.features.store import FeatureStore


def _per_batch(store: FeatureStore, samples: pa.Table, fn: Callable[[dict], np.ndarray],
               batch: int) -> np.ndarray:
    """``fn`` of each batch the store builds for ``samples``, concatenated along rows."""
    parts = []
    for s in range(0, samples.num_rows, batch):
        t = samples.slice(s, batch)
        parts.append(fn(store.batch(t.column("user_id").to_numpy(),
                                    t.column("item_id").to_numpy(),
                                    t.column("category_id").to_numpy(),
                                    t.column("ts").to_numpy())))
    return np.concatenate(parts) if parts else np.zeros(0)


def hit_rates(store: FeatureStore, samples: pa.Table, batch: int = 65_536) -> dict:
    """Share of positives / negatives whose item is in their group sequence, and the lift
    (positive share / negative share); NaN where a class is absent."""
    hits = _per_batch(store, samples, lambda b: ((b["group_seq_items"] == b["item_id"][:, None])
                                                 & (b["item_id"][:, None] > 0)).any(1),
                      batch).astype(bool)
    y = samples.column("label").to_numpy().astype(bool)
    pos = float(hits[y].mean()) if y.any() else float("nan")
    neg = float(hits[~y].mean()) if (~y).any() else float("nan")
    return {"positives": pos, "negatives": neg,
            "lift": pos / neg if neg > 0 else float("nan"),
            "n_positives": int(y.sum()), "n_negatives": int((~y).sum())}


PURCHASE_BINS = ((0, 0), (1, 1), (2, 4), (5, None))  # purchase-count bins (inclusive)


def activity_label_rates(store: FeatureStore, samples: pa.Table, batch: int = 65_536) -> dict:
    """Positive rate and sample count per purchase-count bin, for the static counts
    (``n_buy_static``) and the counts as of the sample (``n_buy``). A bin whose training
    rate is far from its test rate is a leak; NaN where a bin is empty."""
    counts = _per_batch(store, samples, lambda b: np.stack([b["n_buy_static"], b["n_buy"]], 1),
                        batch).reshape(-1, 2)
    y = samples.column("label").to_numpy().astype(np.float64)
    out: dict = {}
    for col, name in enumerate(("static", "as_of_sample")):
        n = counts[:, col]
        rows = {}
        for lo, hi in PURCHASE_BINS:
            m = (n >= lo) & (n <= (np.inf if hi is None else hi))
            label = f"{lo}" if hi == lo else f"{lo}+" if hi is None else f"{lo}-{hi}"
            rows[label] = {"positive_rate": float(y[m].mean()) if m.any() else float("nan"),
                           "n_samples": int(m.sum())}
        out[name] = rows
    return out
