"""How much conversion signal a test day holds, and how much of it a model captures.

A GAUC of 0.56 means little on its own. On the embedded world the generator is known, so we
can score the test clicks with parts of the *true* conversion logit (docs/synthetic_world.md):
the persona terms a perfect group prior could know, the same terms averaged over each semantic
group's or each attribute tuple's persona mix (what a group / the attributes can reveal at
best), and the whole persona-level logit. Independently of the generator (so also on Taobao),
a logistic regression over explicit crosses — category x attribute, price bucket x attribute,
item id, and optionally category / price bucket x group and x group attribute — is a simple,
fully converged reference: if a neural model scores well below it, the model under-learns.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import scipy.sparse as sp

from choirrec.features.store import FeatureStore
from choirrec.features.vocab import item_price_buckets, lookup


@dataclass
class PersonaWorld:
    """The generator's ground truth needed to score clicks (never a model feature)."""

    affinity: np.ndarray  # (P, C) persona x leaf affinity A
    price_pref: np.ndarray  # (P,) persona price preference (before the per-user jitter)
    item_tier: np.ndarray  # (n_items,) item_id - 1 -> price percentile within its leaf
    item_quality: np.ndarray  # (n_items,)
    items_per_leaf: int
    w_persona: float
    w_price: float


def expected_affinity(groups: np.ndarray, persona: np.ndarray, n_personas: int
                      ) -> np.ndarray:
    """(n_groups, P) persona mix of each group id (rows of users: group id, persona index).

    ``groups`` are dense ids 0..G-1. The mix is what a group prior can know about a member's
    persona at best; E[A | group] = mix @ A.
    """
    mix = np.zeros((int(groups.max()) + 1 if groups.size else 0, n_personas))
    np.add.at(mix, (groups, persona), 1.0)
    return mix / np.maximum(mix.sum(1, keepdims=True), 1.0)


def dense_ids(keys: list) -> np.ndarray:
    """Dense 0-based ids for arbitrary hashable keys (group keys, attribute tuples)."""
    index: dict = collections.defaultdict(lambda: len(index))
    return np.array([index[k] for k in keys], dtype=np.int64)


def oracle_scores(world: PersonaWorld, click_persona: np.ndarray, click_item: np.ndarray,
                  click_mix: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Scores of each click from parts of the true logit.

    ``click_persona`` (n,) persona index of the clicking user, ``click_item`` (n,) item ids,
    ``click_mix`` name -> (n, P) the persona mix the clicking user's group / attribute tuple
    reveals (for the "what can X know" rows).
    """
    it = click_item - 1
    cat = it // world.items_per_leaf
    tier = world.item_tier[it]

    def fit(pref: np.ndarray) -> np.ndarray:
        return 1.0 - 4.0 * (tier - pref) ** 2

    aff = world.w_persona * world.affinity[click_persona, cat]
    price = world.w_price * fit(world.price_pref[click_persona])
    out = {"persona affinity": aff, "persona price fit": price,
           "item quality": world.item_quality[it],
           "persona logit (no taste, no noise)": aff + price + world.item_quality[it]}
    for name, mix in click_mix.items():
        e_aff = world.w_persona * np.einsum("np,pn->n", mix, world.affinity[:, cat])
        out[f"E[persona terms | {name}]"] = e_aff + world.w_price * fit(mix @ world.price_pref)
    return out


def cross_features(samples: pa.Table, store: FeatureStore, item_bucket: np.ndarray,
                   use_groups: bool) -> sp.csr_matrix:
    """One-hot crosses for the logistic reference (one active column per block per row).

    ``item_bucket`` maps a model item index to a price bucket (0 = unknown). Blocks: item id;
    category x each attribute; price bucket x each attribute; with ``use_groups`` also
    category / price bucket x level-1 group and x each completed group attribute.
    """
    u = lookup(store.user_vocab, samples.column("user_id").to_numpy())
    it = lookup(store.item_vocab, samples.column("item_id").to_numpy())
    cat = lookup(store.cat_vocab, samples.column("category_id").to_numpy())
    pb = item_bucket[it]
    n_cat, n_pb = store.cat_vocab.size + 1, int(item_bucket.max()) + 1
    blocks: list[tuple[np.ndarray, int]] = [(it, store.item_vocab.size + 1)]

    def crosses(codes: np.ndarray, card: int) -> None:
        blocks.append((cat * card + codes, n_cat * card))
        blocks.append((pb * card + codes, n_pb * card))

    for a in range(store.user_attrs.shape[1]):
        crosses(store.user_attrs[u, a], int(store.user_attrs[:, a].max()) + 1)
    if use_groups:
        g1 = store.group_codes[u, 0] + 1  # -1 (no group) -> 0
        crosses(g1, int(store.group_codes[:, 0].max()) + 2)
        for a in range(store.group_attrs.shape[1]):
            crosses(store.group_attrs[u, a], int(store.group_attrs[:, a].max()) + 1)
    n, offsets = u.size, np.cumsum([0] + [card for _, card in blocks])
    cols = np.concatenate([codes + off for (codes, _), off in zip(blocks, offsets, strict=False)])
    rows = np.tile(np.arange(n), len(blocks))
    return sp.csr_matrix((np.ones(cols.size, np.float32), (rows, cols)),
                         shape=(n, int(offsets[-1])))


def logistic_reference(train: pa.Table, test: pa.Table, store: FeatureStore,
                       items: pa.Table, use_groups: bool, c: float = 0.1) -> np.ndarray:
    """Decision scores of an L2 logistic regression over :func:`cross_features`."""
    from sklearn.linear_model import LogisticRegression

    buckets = item_price_buckets(items, store.item_vocab, n_buckets=5)
    if buckets is None:  # no prices in this dataset: every item in bucket 0
        buckets = np.zeros(store.item_vocab.size + 1, np.int64)
    x = cross_features(train, store, buckets, use_groups)
    y = train.column("label").to_numpy()
    if np.unique(y).size < 2:
        raise ValueError("train samples hold a single label; the logistic reference needs both")
    model = LogisticRegression(C=c, max_iter=300).fit(x, y)
    return model.decision_function(cross_features(test, store, buckets, use_groups))
