"""The signal-headroom pieces: persona mixes, oracle scores, the logistic reference."""

import numpy as np
import pyarrow as pa

from choirrec.diagnostics.headroom import (
    PersonaWorld,
    cross_features,
    dense_ids,
    expected_affinity,
    logistic_reference,
    oracle_scores,
)
from choirrec.features import build_feature_store, item_price_buckets
from choirrec.metrics import auc
from tests.planted import planted_samples, planted_tables


def test_expected_affinity_is_each_groups_persona_mix():
    groups = dense_ids(["a", "a", "b", "a", None])
    assert groups.tolist() == [0, 0, 1, 0, 2]
    mix = expected_affinity(groups, np.array([0, 1, 1, 0, 2]), 3)
    assert np.allclose(mix, [[2 / 3, 1 / 3, 0], [0, 1, 0], [0, 0, 1]])


def test_oracle_with_a_pure_mix_equals_the_persona_terms():
    rng = np.random.default_rng(0)
    world = PersonaWorld(affinity=rng.normal(size=(3, 4)), price_pref=np.array([0.2, 0.5, 0.9]),
                         item_tier=rng.random(8), item_quality=rng.normal(size=8),
                         items_per_leaf=2, w_persona=0.45, w_price=1.2)
    persona = np.array([0, 2, 1, 1])
    items = np.array([1, 4, 8, 3])  # 1-based ids; leaf = (id - 1) // 2
    out = oracle_scores(world, persona, items, {"pure": np.eye(3)[persona],
                                                "uniform": np.full((4, 3), 1 / 3)})
    cat, tier = (items - 1) // 2, world.item_tier[items - 1]
    aff = 0.45 * world.affinity[persona, cat]
    price = 1.2 * (1 - 4 * (tier - world.price_pref[persona]) ** 2)
    assert np.allclose(out["persona affinity"], aff)
    assert np.allclose(out["E[persona terms | pure]"], aff + price)
    mean_aff = 0.45 * world.affinity[:, cat].mean(0)
    assert np.allclose(out["E[persona terms | uniform]"],
                       mean_aff + 1.2 * (1 - 4 * (tier - world.price_pref.mean()) ** 2))


def _planted(seed=0, n_users=60, n_items=40):
    rng = np.random.default_rng(seed)
    users, act, items = planted_tables(rng, n_users, n_items)
    items = items.append_column("price_tier", pa.array(rng.random(n_items)))
    buys = pa.table({"user_id": pa.array([0], pa.int64()), "item_id": pa.array([0], pa.int64()),
                     "category_id": pa.array([0], pa.int64()), "ts": pa.array([0], pa.int64())})
    store = build_feature_store(users, act, items, buys, None, None, None, hist_len=4)
    return rng, store, items


def test_cross_features_one_column_per_block_and_buckets():
    rng, store, items = _planted()
    b = item_price_buckets(items, store.item_vocab, n_buckets=5)
    assert b[0] == 0 and set(b[1:].tolist()) <= {1, 2, 3, 4, 5}
    samples = planted_samples(rng, 60, 40, 50)
    x = cross_features(samples, store, b, use_groups=False)
    n_blocks = 1 + 2 * store.user_attrs.shape[1]
    assert x.shape[0] == 50 and np.all(np.diff(x.indptr) == n_blocks)
    assert np.all(x.data == 1)


def test_logistic_reference_learns_the_planted_item_signal():
    rng, store, items = _planted(1)
    train, test = planted_samples(rng, 60, 40, 4000), planted_samples(rng, 60, 40, 1000)
    s = logistic_reference(train, test, store, items, use_groups=False, c=1.0)
    # label = good item (id % 3 == 0) with 10% noise: the item-id block alone gives ~0.9
    assert auc(test.column("label").to_numpy(), s) > 0.85
