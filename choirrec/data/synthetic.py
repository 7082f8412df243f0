"""The embedded e-commerce world: a generator that makes ChoirRec's problem real.

See docs/synthetic_world.md for the generative model. In short: each user has a latent
persona (shared preferences: what semantic groups should recover) and a personal taste
(likes and dislikes that only their own history reveals); a latent activity level drives
visit frequency, session length, long-term purchases and how many profile fields are filled.
Conversion after a click depends on persona affinity, personal taste, price fit and item
quality, plus noise — so neither a group-level nor an individual-level model alone suffices.

Users are generated in independent blocks (one Ray task each, seeded by block index), so the
world scales to millions of users and is identical however many workers make it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from choirrec.config import SyntheticConfig
from choirrec.data.personas import (
    INTERESTS,
    LIFE_STAGES,
    PERSONAS,
    PRICE_PREFERENCE,
    affinity_matrix,
)
from choirrec.data.taxonomy import LEAVES
from choirrec.schema import EVENTS, ITEMS, QUERIES, USERS, conform
from choirrec.schema import PERSONAS as PERSONAS_SCHEMA

DAY = 86_400
# Bump when the generative model changes: it is part of the prepare stage's fingerprint, so a
# run directory made by an older generator is rebuilt instead of silently reused.
WORLD_VERSION = 2
AGE_BANDS = ((18, "18-24"), (25, "25-29"), (30, "30-34"), (35, "35-39"), (40, "40-49"),
             (50, "50-59"), (60, "60+"))
CITY_TIER_P = {"budget": [0.08, 0.14, 0.26, 0.27, 0.25], "premium": [0.38, 0.30, 0.18, 0.09, 0.05]}
CONSUMPTION_P = {"budget": [0.30, 0.40, 0.20, 0.08, 0.02],
                 "premium": [0.02, 0.08, 0.20, 0.35, 0.35]}
# hour-of-day visit weights: lunch and evening peaks
DIURNAL = np.array([1, 0.6, 0.4, 0.3, 0.3, 0.4, 0.8, 1.5, 2, 2.2, 2.4, 2.8, 3.4, 3.0, 2.4, 2.3,
                    2.4, 2.6, 3.0, 3.6, 4.4, 4.8, 4.0, 2.2])
DIURNAL = DIURNAL / DIURNAL.sum()
QUERY_MODIFIERS = ("cheap", "best", "2026 new", "original", "discount", "high end", "gift",
                   "for kids", "for women", "for men", "durable", "free shipping")
N_LEAVES = len(LEAVES)


def log_start_ts(cfg: SyntheticConfig) -> int:
    d = dt.datetime.strptime(cfg.start_date, "%Y-%m-%d").replace(tzinfo=dt.timezone.utc)
    return int(d.timestamp())


def ts_range(cfg: SyntheticConfig) -> tuple[int, int]:
    start = log_start_ts(cfg)
    return start - cfg.history_days * DAY, start + cfg.days * DAY


@dataclass(frozen=True)
class World:
    """Everything shared by all users: personas, categories, items. Small; broadcast once."""

    affinity: np.ndarray  # (P, L) persona x leaf logits
    persona_weights: np.ndarray  # (P,)
    top_leaves: np.ndarray  # (P, 12) each persona's favourite leaves (dislikes drawn here)
    category_pop: np.ndarray  # (L,) for exploration clicks
    item_cdf: np.ndarray  # (L, I) popularity CDF of items within each leaf
    item_price: np.ndarray  # (L*I,) item_id - 1 -> price
    item_tier: np.ndarray  # (L*I,) price percentile within its leaf, [0, 1]
    item_quality: np.ndarray  # (L*I,)
    items_per_leaf: int


def build_world(cfg: SyntheticConfig) -> World:
    if not 0.0 <= cfg.attribute_noise <= 1.0:
        raise ValueError(f"data.synthetic.attribute_noise={cfg.attribute_noise}: a share of "
                         "attribute values, so it must lie in [0, 1] (0: no noise)")
    rng = np.random.default_rng([cfg.seed, 0])
    aff = affinity_matrix(cfg.seed)
    n_items = cfg.items_per_leaf
    pop = 1.0 / np.arange(1, n_items + 1) ** 1.05
    cdf = np.empty((N_LEAVES, n_items))
    for leaf in range(N_LEAVES):
        p = pop[rng.permutation(n_items)]
        cdf[leaf] = np.cumsum(p / p.sum())
    cdf[:, -1] = 1.0
    median = np.repeat([leaf.median_price for leaf in LEAVES], n_items)
    price = np.round(median * np.exp(rng.normal(0, 0.5, median.size)), 2)
    tier = np.empty_like(price)
    for leaf in range(N_LEAVES):
        sl = slice(leaf * n_items, (leaf + 1) * n_items)
        tier[sl] = np.argsort(np.argsort(price[sl])) / max(n_items - 1, 1)
    quality = rng.normal(0, cfg.item_quality_sd, price.size)
    cat_pop = rng.dirichlet(np.full(N_LEAVES, 2.0))
    weights = rng.dirichlet(np.full(len(PERSONAS), 4.0))
    top = np.argsort(-aff, axis=1)[:, :12]
    return World(aff, weights, top, cat_pop, cdf, price, tier, quality, n_items)


def items_table(world: World) -> pa.Table:
    n = world.items_per_leaf
    leaf_idx = np.repeat(np.arange(N_LEAVES), n)
    return conform(pa.table({
        "item_id": np.arange(1, leaf_idx.size + 1, dtype=np.int64),
        "category_id": (leaf_idx + 1).astype(np.int64),
        "category_name": [LEAVES[i].name for i in leaf_idx],
        "l1_category": [LEAVES[i].l1 for i in leaf_idx],
        "price_tier": world.item_tier,
        "price": world.item_price,
    }), ITEMS)


def _sample_rows(cdf: np.ndarray, rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Draw one column index per entry of ``rows`` from the categorical CDF ``cdf[row]``.

    Vectorised inverse-CDF over many different distributions: offsetting each row's CDF by
    its row number makes the flattened array globally sorted, so one searchsorted does all.
    """
    k = cdf.shape[1]
    flat = (cdf + np.arange(cdf.shape[0])[:, None]).ravel()
    u = rng.random(rows.size) * (1 - 1e-12) + rows
    col = np.searchsorted(flat, u, side="right") - rows * k
    return np.minimum(col, k - 1)


def _softmax_cdf(logits: np.ndarray) -> np.ndarray:
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    c = np.cumsum(p, axis=1)
    c /= c[:, -1:]
    c[:, -1] = 1.0
    return c


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


@dataclass
class Block:
    users: pa.Table
    personas: pa.Table
    events: pa.Table
    queries: pa.Table


_P_STAGE = [p.life_stage for p in PERSONAS]
_P_PRICE = [p.price for p in PERSONAS]
_P_FEMALE = np.array([INTERESTS[p.interest][1] for p in PERSONAS])
_P_AGE = np.array([LIFE_STAGES[s]["age"] for s in _P_STAGE])


def _persona_attributes(rng, persona: np.ndarray) -> dict[str, np.ndarray]:
    """Attribute values as each persona would declare them (before noise and missingness)."""
    n = persona.size
    age = rng.integers(_P_AGE[persona, 0], _P_AGE[persona, 1] + 1).astype(np.float64)
    band_edges = np.array([b for b, _ in AGE_BANDS])
    band = np.array([name for _, name in AGE_BANDS], dtype=object)[
        np.searchsorted(band_edges, age, side="right") - 1]
    gender = np.where(rng.random(n) < _P_FEMALE[persona], "female", "male").astype(object)
    occ = np.empty(n, dtype=object)
    city = np.empty(n, dtype=np.int8)
    cons = np.empty(n, dtype=np.int8)
    for pid in np.unique(persona):
        m = persona == pid
        occs = LIFE_STAGES[_P_STAGE[pid]]["occupations"]
        occ[m] = np.array(occs, dtype=object)[rng.integers(0, len(occs), m.sum())]
        city[m] = rng.choice(np.arange(1, 6), m.sum(), p=CITY_TIER_P[_P_PRICE[pid]])
        cons[m] = rng.choice(np.arange(1, 6), m.sum(), p=CONSUMPTION_P[_P_PRICE[pid]])
    return {"age": age, "band": band, "gender": gender, "occupation": occ, "city_tier": city,
            "consumption_level": cons}


def _attributes(rng, persona: np.ndarray, z: np.ndarray, cfg: SyntheticConfig):
    n = persona.size
    a = _persona_attributes(rng, persona)
    if cfg.attribute_noise > 0:
        # Declared attributes that say nothing about the persona (a shared or gifted
        # account, a default left in place): each field independently takes the value a
        # random persona would give. Drawn only when the knob is on, so the default world's
        # random stream, and every figure measured on it, is unchanged; a spawned stream
        # (which does not advance rng) keeps behaviour identical at every noise level.
        noise = rng.spawn(1)[0]
        decoy = _persona_attributes(noise, noise.integers(0, len(PERSONAS), n))
        for fields in (("age", "band"), ("gender",), ("occupation",), ("city_tier",),
                       ("consumption_level",)):
            m = noise.random(n) < cfg.attribute_noise
            for f in fields:
                a[f][m] = decoy[f][m]
    age, band, gender, occ = a["age"], a["band"], a["gender"], a["occupation"]
    city, cons = a["city_tier"], a["consumption_level"]
    fill_p = _sigmoid(cfg.fill_bias + cfg.fill_slope * z)
    masks = {f: rng.random(n) < fill_p for f in ("gender", "age", "city_tier", "occupation",
                                                 "consumption_level")}
    cols = {
        "gender": pa.array(gender, pa.string(), mask=~masks["gender"]),
        "age_band": pa.array(band, pa.string(), mask=~masks["age"]),
        "city_tier": pa.array(city, pa.int8(), mask=~masks["city_tier"]),
        "occupation": pa.array(occ, pa.string(), mask=~masks["occupation"]),
        "consumption_level": pa.array(cons, pa.int8(), mask=~masks["consumption_level"]),
        "age": pa.array(age, pa.float64(), mask=~masks["age"]),
    }
    return cols


def _noisy_queries(rng, cats: np.ndarray) -> list[str]:
    out = []
    r = rng.random(cats.size)
    for c, x in zip(cats, r, strict=True):
        leaf = LEAVES[c]
        term = leaf.query_terms[rng.integers(len(leaf.query_terms))]
        if x < 0.55:
            q = term
        elif x < 0.75:
            q = f"{QUERY_MODIFIERS[rng.integers(len(QUERY_MODIFIERS))]} {term}"
        elif x < 0.85 and len(term) > 4:  # a typo: drop one character
            i = int(rng.integers(1, len(term) - 1))
            q = term[:i] + term[i + 1:]
        elif x < 0.93:
            same_l1 = [lf for lf in LEAVES if lf.l1 == leaf.l1]
            other = same_l1[rng.integers(len(same_l1))]
            q = f"{term} {other.query_terms[0]}"
        else:  # noise: an unrelated search
            other = LEAVES[rng.integers(N_LEAVES)]
            q = other.query_terms[rng.integers(len(other.query_terms))]
        out.append(q)
    return out


CHUNK_USERS = 500  # the unit of seeding: the world does not depend on the Ray block size


def generate_block(cfg: SyntheticConfig, world: World, first_user_id: int, n_users: int) -> Block:
    """Users ``first_user_id .. first_user_id + n_users - 1``, generated chunk by chunk.

    Each chunk of ``CHUNK_USERS`` consecutive ids has its own seed, so a block of any size
    (aligned to chunks) holds exactly the users any other blocking would give them.
    """
    if (first_user_id - 1) % CHUNK_USERS:
        raise ValueError(f"blocks must start at a multiple of {CHUNK_USERS} users "
                         f"(got first_user_id={first_user_id})")
    chunks = []
    for start in range(first_user_id, first_user_id + n_users, CHUNK_USERS):
        n = min(CHUNK_USERS, first_user_id + n_users - start)
        chunks.append(_generate_chunk(cfg, world, (start - 1) // CHUNK_USERS, start, n))
    return Block(*(pa.concat_tables([getattr(c, f) for c in chunks])
                   for f in ("users", "personas", "events", "queries")))


@dataclass
class _ChunkUsers:
    """One chunk's users and their latent draws: what every behaviour step reads."""

    uid: np.ndarray  # (n,) user ids
    persona: np.ndarray  # (n,) persona index
    z: np.ndarray  # click activity
    zb: np.ndarray  # purchase activity (correlated with z)
    attrs: dict  # attribute columns
    taste: np.ndarray  # (n, L) personal likes (+) and dislikes (-)
    click_cdf: np.ndarray  # (n, L) category choice of a click
    buy_cdf: np.ndarray  # (n, L) category choice of a long-term purchase
    price_pref: np.ndarray  # (n,) preferred price percentile


@dataclass
class _Clicks:
    """The chunk's click log: visits, sessions, and what each click landed on."""

    visit_u: np.ndarray  # (V,) user of each visit
    sess_start: np.ndarray  # (V,) session start ts
    cu: np.ndarray  # (C,) user of each click
    click_ts: np.ndarray  # (C,)
    cat: np.ndarray  # (C,) leaf index
    item_idx: np.ndarray  # (C,) item index (item_id - 1)


# One chunk is generated in these steps, in this order: each draws from the chunk's one rng,
# so the order is part of the world (reordering them changes every user).
def _draw_users(cfg: SyntheticConfig, world: World, rng: np.random.Generator,
                first_user_id: int, n: int) -> _ChunkUsers:
    uid = np.arange(first_user_id, first_user_id + n, dtype=np.int64)
    persona = rng.choice(len(PERSONAS), n, p=world.persona_weights)
    z = rng.standard_normal(n)  # click activity
    # purchase activity: correlated with clicks, not identical (window shoppers exist)
    zb = cfg.activity_corr * z + np.sqrt(1 - cfg.activity_corr**2) * rng.standard_normal(n)
    attrs = _attributes(rng, persona, zb, cfg)

    # personal taste: 3 idiosyncratic likes anywhere, 2 dislikes among the persona's favourites
    taste = np.zeros((n, N_LEAVES))
    rows = np.arange(n)[:, None]
    taste[rows, rng.integers(0, N_LEAVES, (n, 3))] = cfg.taste_strength
    dislike = world.top_leaves[persona[:, None], rng.integers(0, 12, (n, 2))]
    taste[rows, dislike] = -cfg.taste_strength
    interest = world.affinity[persona] + taste + rng.normal(0, 0.4, (n, N_LEAVES))
    price_pref = np.clip(np.array([PRICE_PREFERENCE[_P_PRICE[p]] for p in persona])
                         + rng.normal(0, 0.1, n), 0, 1)
    return _ChunkUsers(uid, persona, z, zb, attrs, taste, _softmax_cdf(interest),
                       _softmax_cdf(1.3 * interest), price_pref)


def _click_log(cfg: SyntheticConfig, world: World, rng: np.random.Generator,
               u: _ChunkUsers) -> _Clicks:
    """Daily visits, sessions of clicks, and the item each click lands on."""
    n, start = u.uid.size, log_start_ts(cfg)
    p_visit = _sigmoid(cfg.visit_bias + cfg.visit_slope * u.z)
    visit_u, visit_d = np.nonzero(rng.random((n, cfg.days)) < p_visit[:, None])
    n_clicks = 1 + rng.poisson(np.exp(cfg.session_bias + cfg.session_slope * u.z[visit_u]))
    sess_start = (start + visit_d * DAY + rng.choice(24, visit_u.size, p=DIURNAL) * 3600
                  + rng.integers(0, 3600, visit_u.size))
    cu = np.repeat(visit_u, n_clicks)
    sess = np.repeat(np.arange(visit_u.size), n_clicks)
    gaps = rng.exponential(120.0, cu.size) + 5
    cum = np.cumsum(gaps)
    first = np.r_[0, np.cumsum(n_clicks)[:-1]]
    offset = cum - (cum[first] - gaps[first])[sess]
    click_ts = (sess_start[sess] + offset).astype(np.int64)
    explore = rng.random(cu.size) < cfg.explore_share
    cat = _sample_rows(u.click_cdf, cu, rng)
    cat[explore] = rng.choice(N_LEAVES, int(explore.sum()), p=world.category_pop)
    item_idx = cat * world.items_per_leaf + _sample_rows(world.item_cdf, cat, rng)
    return _Clicks(visit_u, sess_start, cu, click_ts, cat, item_idx)


def _conversions(cfg: SyntheticConfig, world: World, rng: np.random.Generator, u: _ChunkUsers,
                 c: _Clicks) -> list[tuple]:
    """Purchases, carts and favourites that follow clicks, as (user, item, behaviour, ts)."""
    cu, cat, item_idx, click_ts = c.cu, c.cat, c.item_idx, c.click_ts
    fit = 1.0 - 4.0 * (world.item_tier[item_idx] - u.price_pref[cu]) ** 2
    logit = (cfg.conv_bias + cfg.w_persona * world.affinity[u.persona[cu], cat]
             + cfg.w_taste * u.taste[cu, cat] + cfg.w_price * fit + world.item_quality[item_idx]
             + rng.normal(0, cfg.conv_noise_sd, cu.size))
    converted = rng.random(cu.size) < _sigmoid(logit)
    buy_ts = click_ts + (60 + rng.exponential(1800.0, cu.size)).astype(np.int64)
    carted = rng.random(cu.size) < np.where(converted, 0.4, 0.04)
    faved = rng.random(cu.size) < 0.05
    cart_ts = click_ts + 30 + rng.integers(0, 60, cu.size)
    return [
        (cu[converted], item_idx[converted], "buy", buy_ts[converted]),
        (cu[carted], item_idx[carted], "cart", cart_ts[carted]),
        (cu[faved], item_idx[faved], "fav", cart_ts[faved] + 5),
    ]


def _purchase_history(cfg: SyntheticConfig, world: World, rng: np.random.Generator,
                      u: _ChunkUsers) -> tuple:
    """Long-term purchases in the ``history_days`` before the click log starts."""
    n, start = u.uid.size, log_start_ts(cfg)
    n_hist = rng.poisson(np.exp(cfg.history_bias + cfg.history_slope * u.zb
                                + rng.normal(0, cfg.history_sd, n)))
    hu = np.repeat(np.arange(n), n_hist)
    h_cat = _sample_rows(u.buy_cdf, hu, rng)
    h_item = h_cat * world.items_per_leaf + _sample_rows(world.item_cdf, h_cat, rng)
    h_ts = start - rng.integers(1, cfg.history_days * DAY, hu.size)
    return hu, h_item, "buy", h_ts


def _events_table(cfg: SyntheticConfig, world: World, u: _ChunkUsers,
                  parts: list[tuple]) -> pa.Table:
    """(user, item, behaviour, ts) parts -> the events table, sorted by (user, ts), cut at the
    log's end (a buy just after midnight of the last day falls outside it)."""
    ev_u = np.concatenate([p[0] for p in parts])
    ev_i = np.concatenate([p[1] for p in parts])
    ev_t = np.concatenate([p[3] for p in parts])
    ev_b = np.concatenate([np.full(p[0].size, p[2], dtype=object) for p in parts])
    end = log_start_ts(cfg) + cfg.days * DAY
    keep = ev_t < end
    order = np.lexsort((ev_t[keep], ev_u[keep]))
    ev_u, ev_i, ev_t, ev_b = (a[keep][order] for a in (ev_u, ev_i, ev_t, ev_b))
    return pa.table({
        "user_id": u.uid[ev_u],
        "item_id": (ev_i + 1).astype(np.int64),
        "category_id": (ev_i // world.items_per_leaf + 1).astype(np.int64),
        "behavior": pa.array(ev_b, pa.string()),
        "ts": ev_t.astype(np.int64),
        "price": world.item_price[ev_i],
    })


def _search_queries(cfg: SyntheticConfig, rng: np.random.Generator, u: _ChunkUsers,
                    c: _Clicks) -> pa.Table:
    """Search queries, issued at the start of some sessions."""
    n_q = rng.poisson(cfg.query_rate, c.visit_u.size)
    qv = np.repeat(np.arange(c.visit_u.size), n_q)
    q_cat = _sample_rows(u.click_cdf, c.visit_u[qv], rng)
    q_ts = c.sess_start[qv] - rng.integers(1, 120, qv.size)
    q_order = np.lexsort((q_ts, c.visit_u[qv]))
    return pa.table({
        "user_id": u.uid[c.visit_u[qv]][q_order],
        "ts": q_ts[q_order].astype(np.int64),
        "query": pa.array(_noisy_queries(rng, q_cat[q_order]), pa.string()),
    })


def _generate_chunk(cfg: SyntheticConfig, world: World, chunk_index: int, first_user_id: int,
                    n_users: int) -> Block:
    rng = np.random.default_rng([cfg.seed, 1, chunk_index])
    u = _draw_users(cfg, world, rng, first_user_id, n_users)
    clicks = _click_log(cfg, world, rng, u)
    bought = _conversions(cfg, world, rng, u, clicks)
    history = _purchase_history(cfg, world, rng, u)
    events = _events_table(cfg, world, u, [(clicks.cu, clicks.item_idx, "pv", clicks.click_ts),
                                           *bought, history])
    queries = _search_queries(cfg, rng, u, clicks)
    users = pa.table({"user_id": u.uid, **u.attrs})
    personas = pa.table({
        "user_id": u.uid,
        "persona_id": (u.persona + 1).astype(np.int64),
        "persona": [PERSONAS[p].name for p in u.persona],
    })
    return Block(conform(users, USERS), conform(personas, PERSONAS_SCHEMA),
                 conform(events, EVENTS), conform(queries, QUERIES))
