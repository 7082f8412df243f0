"""The embedded world has the paper's problem (§1, §3), and is learnable from both channels."""

import numpy as np
import pyarrow as pa
import pyarrow.compute  # noqa: F401
import pytest

from choirrec.config import SyntheticConfig
from choirrec.data.cvr_samples import TimeSplit, cvr_samples, per_user_stats
from choirrec.data.personas import PERSONAS
from choirrec.data.synthetic import build_world, generate_block, items_table, log_start_ts, ts_range
from choirrec.data.taxonomy import L1_NAMES, LEAVES
from choirrec.data.user_blocks import attribute_fill_rate
from choirrec.schema import Checks, validate_table
from choirrec.segments import low_activity_mask

DAY = 86_400


@pytest.fixture(scope="module")
def world_block():
    cfg = SyntheticConfig(users=20_000)
    world = build_world(cfg)
    return cfg, world, generate_block(cfg, world, 1, cfg.users)


def test_taxonomy_and_personas_have_the_promised_size():
    assert len(L1_NAMES) == 15 and 100 <= len(LEAVES) <= 150
    assert 24 <= len(PERSONAS) <= 60
    assert all(leaf.query_terms and leaf.median_price > 0 for leaf in LEAVES)


def test_blocks_are_deterministic_and_independent(world_block):
    cfg, world, _ = world_block
    a = generate_block(cfg, world, 1001, 600)
    b = generate_block(cfg, world, 1001, 600)
    c = generate_block(cfg, world, 1501, 100)  # the tail of a's users, as its own block
    assert a.events.equals(b.events) and a.queries.equals(b.queries)
    assert a.users.column("user_id").to_pylist() == list(range(1001, 1601))
    tail = a.events.filter(pa.compute.greater_equal(a.events.column("user_id"), 1501))
    assert tail.equals(c.events)
    with pytest.raises(ValueError, match="multiple of 500"):
        generate_block(cfg, world, 1002, 10)


def test_artifacts_validate(world_block):
    cfg, world, blk = world_block
    checks = Checks(ts_range=ts_range(cfg))
    validate_table(blk.events, "events", checks)
    validate_table(blk.queries, "queries", checks)
    validate_table(blk.users, "users")
    validate_table(blk.personas, "personas")
    validate_table(items_table(world), "items")
    assert blk.events.column("ts").to_numpy().min() < log_start_ts(cfg) - 300 * DAY


def test_activity_long_tail_and_sparse_low_activity_users(world_block):
    cfg, _, blk = world_block
    start = log_start_ts(cfg)
    split = TimeSplit(start + 12 * DAY, start + 13 * DAY, start + 14 * DAY)
    samples = cvr_samples(blk.events)
    st = per_user_stats(blk.events, samples, split, blk.users.column("user_id").to_numpy())
    clicks = st.column("n_pv_all").to_numpy()
    top = np.sort(clicks)[::-1][: int(0.18 * clicks.size)].sum() / clicks.sum()
    assert 0.8 < top < 0.95  # paper: top 18% of users make ~90% of clicks
    nb, nc = st.column("n_buy").to_numpy(), st.column("n_click").to_numpy()
    low = low_activity_mask(st.column("user_id").to_numpy(), nb, nc, 0.55)
    assert 0.12 < nb[low].mean() / nb.mean() < 0.26  # paper: 19% of the average purchases
    fill = attribute_fill_rate(blk.users)
    assert 0.58 < fill[low].mean() < 0.72 < fill[~low].mean()  # paper: ~65% of attributes
    label = samples.column("label").to_numpy()
    assert 0.04 < label.mean() < 0.15


def test_conversion_depends_on_persona_and_on_personal_taste(world_block):
    """Persona affinity and a user's own past purchases both predict conversion."""
    cfg, world, blk = world_block
    s = cvr_samples(blk.events).to_pandas()
    persona = dict(zip(blk.personas.column("user_id").to_pylist(),
                       blk.personas.column("persona_id").to_pylist(), strict=True))
    s["aff"] = world.affinity[[persona[u] - 1 for u in s.user_id], s.category_id - 1]
    hi = s.aff > np.quantile(s.aff, 0.75)
    lo = s.aff < np.quantile(s.aff, 0.25)
    assert s.label[hi].mean() > 1.5 * s.label[lo].mean()
    # personal taste: within the same persona affinity band, categories the user bought in the
    # long-term history (before the log) convert more often than the others
    ev = blk.events.to_pandas()
    hist = ev[(ev.behavior == "buy") & (ev.ts < log_start_ts(cfg))]
    bought = set(zip(hist.user_id, hist.category_id, strict=True))
    s["bought_before"] = [(u, c) in bought for u, c in zip(s.user_id, s.category_id, strict=True)]
    mid = ~hi & ~lo
    assert (s.label[mid & s.bought_before].mean()
            > 1.3 * s.label[mid & ~s.bought_before].mean())


def test_queries_are_noisy_but_on_topic(world_block):
    _, _, blk = world_block
    q = blk.queries.column("query").to_pylist()
    assert len(q) > 1000
    vocab = {t for leaf in LEAVES for t in leaf.query_terms}
    exact = np.mean([x in vocab for x in q])
    assert 0.35 < exact < 0.8  # mostly clean terms, plenty of modifiers / typos / noise


def _retired_share_of_retirees(cfg: SyntheticConfig) -> float:
    block = generate_block(cfg, build_world(cfg), 1, 2000)
    stage = {p.persona_id: p.life_stage for p in PERSONAS}
    retiree = np.array([stage[p] == "retiree"
                        for p in block.personas.column("persona_id").to_pylist()])
    occ = np.array(block.users.column("occupation").to_pylist(), dtype=object)
    filled = retiree & (occ != None)  # noqa: E711 (elementwise over an object array)
    return float(np.mean(occ[filled] == "retired"))


def test_attribute_noise_decouples_attributes_from_the_persona():
    # retirees always declare "retired" in the default world; with every value noisy the
    # share falls to what a random persona would declare (1 of the 5 life stages' lists)
    assert _retired_share_of_retirees(SyntheticConfig(users=2000)) == 1.0
    noisy = _retired_share_of_retirees(SyntheticConfig(users=2000, attribute_noise=1.0))
    assert 0.08 < noisy < 0.35
    half = _retired_share_of_retirees(SyntheticConfig(users=2000, attribute_noise=0.5))
    assert noisy < half < 0.75
    with pytest.raises(ValueError, match="attribute_noise"):
        build_world(SyntheticConfig(attribute_noise=1.5))


def test_attribute_noise_leaves_behaviour_alone():
    base, noisy = SyntheticConfig(users=500), SyntheticConfig(users=500, attribute_noise=0.5)
    a = generate_block(base, build_world(base), 1, 500)
    b = generate_block(noisy, build_world(noisy), 1, 500)
    assert a.personas.equals(b.personas)
    assert a.events.equals(b.events) and a.queries.equals(b.queries)
    assert not a.users.equals(b.users)
