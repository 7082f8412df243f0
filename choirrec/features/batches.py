"""Sample columns (raw ids) -> model input tensors: the join of samples with the store.

Used as Ray Data's ``iter_torch_batches(collate_fn=...)`` in training and scoring, so the join
happens batch by batch in the worker and no feature-joined copy of the samples is ever
materialised.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from choirrec.features.store import FeatureStore

SAMPLE_COLUMNS = ["user_id", "item_id", "category_id", "ts", "label"]
Batch = dict[str, torch.Tensor]


def collate(store: FeatureStore) -> Callable[[dict[str, np.ndarray]], Batch]:
    """A collate function that joins a batch of sample columns with ``store``."""
    def fn(cols: dict[str, np.ndarray]) -> Batch:
        b = store.batch(cols["user_id"], cols["item_id"], cols["category_id"], cols["ts"],
                        cols.get("label"))
        return {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in b.items()}
    return fn
