"""Id vocabularies: raw ids and attribute values -> 1-based model indices (0 = unknown).

Every model embeds index 0 to zero, so an unseen user, item or attribute value — in training,
evaluation or online scoring — costs nothing and breaks nothing.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from choirrec.schema import USER_ATTRIBUTES

DISCRETE = [a for a, (_, kind) in USER_ATTRIBUTES.items() if kind == "discrete"]



def lookup(vocab: np.ndarray, values: np.ndarray) -> np.ndarray:
    """1-based index of ``values`` in ``vocab``; 0 where unknown."""
    if vocab.size == 0:
        return np.zeros(len(values), dtype=np.int64)
    pos = np.clip(np.searchsorted(vocab, values), 0, vocab.size - 1)
    return np.where(vocab[pos] == values, pos + 1, 0).astype(np.int64)


def attribute_codes(table: pa.Table, vocabs: dict[str, np.ndarray] | None = None
                    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(n, A) int codes for the discrete attributes (0 = missing) and their vocabularies."""
    vocabs = dict(vocabs or {})
    cols = []
    for a in DISCRETE:
        vals = (table.column(a).to_pylist() if a in table.column_names
                else [None] * table.num_rows)
        s = np.array(["" if v is None else str(v) for v in vals], dtype=object)
        if a not in vocabs:
            vocabs[a] = np.unique(s[s != ""]).astype(object)
        code = lookup(vocabs[a].astype(str), s.astype(str)) if vocabs[a].size else \
            np.zeros(len(s), np.int64)
        cols.append(np.where(s == "", 0, code))
    return np.stack(cols, 1).astype(np.int64), vocabs



PRICE_BUCKETS = 10  # price-tier deciles: the item feature every model's item tower reads


def item_price_buckets(items: pa.Table, item_vocab: np.ndarray,
                       n_buckets: int = PRICE_BUCKETS) -> np.ndarray | None:
    """Model item index -> 1 + the item's price-tier bucket (0: unknown item or no price).

    ``price_tier`` is the price percentile within the item's category (items schema); None
    when the dataset has no prices at all (Taobao UserBehavior), so models leave it out.
    """
    if "price_tier" not in items.column_names or items.column("price_tier").null_count \
            == items.num_rows:
        return None
    tier = items.column("price_tier").to_numpy(zero_copy_only=False).astype(np.float64)
    bucket = np.where(np.isnan(tier), 0,
                      1 + np.minimum((np.nan_to_num(tier) * n_buckets).astype(np.int64),
                                     n_buckets - 1))
    out = np.zeros(item_vocab.size + 1, np.int64)
    idx = lookup(item_vocab, items.column("item_id").to_numpy())
    out[idx[idx > 0]] = bucket[idx > 0]
    return out
