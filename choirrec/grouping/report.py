"""Group quality (§5.5): are the semantic groups homogeneous, and do they find the personas?

* attribute consistency: per group and attribute, the share of members (with that attribute
  filled) who share the group's modal value; averaged over groups, weighted by members
  (paper: 83% on Taobao);
* behavioural concentration: per group, the share of its members' purchases that fall in the
  group's top-50 categories (paper: 60%);
* on the embedded world, agreement with the hidden personas: NMI and purity.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from sklearn.metrics import normalized_mutual_info_score

from choirrec.schema import USER_ATTRIBUTES


def group_ids(codes: np.ndarray, level: int) -> np.ndarray:
    """Dense ids of the prefix groups (g1..g_level) for each row of ``codes`` (n, M)."""
    _, inv = np.unique(codes[:, :level], axis=0, return_inverse=True)
    return inv.reshape(-1)


def size_distribution(g: np.ndarray) -> dict:
    sizes = np.bincount(g)
    sizes = sizes[sizes > 0]
    q = np.quantile(sizes, [0.1, 0.5, 0.9])
    return {"groups": int(sizes.size), "min": int(sizes.min()), "p10": float(q[0]),
            "median": float(q[1]), "p90": float(q[2]), "max": int(sizes.max()),
            "singletons": int((sizes == 1).sum())}


def attribute_consistency(g: np.ndarray, users: pa.Table) -> dict[str, float]:
    """Member-weighted share of members agreeing with their group's mode, per discrete field."""
    out = {}
    for name, (_, kind) in USER_ATTRIBUTES.items():
        if kind != "discrete" or name not in users.column_names:
            continue
        col = users.column(name)
        ok = col.is_valid().to_numpy(zero_copy_only=False)
        if ok.sum() == 0:
            continue
        _, v = np.unique(np.asarray(col.to_pylist(), dtype=object)[ok].astype(str),
                         return_inverse=True)
        gg = g[ok]
        pair = np.unique(np.stack([gg, v]), axis=1, return_counts=True)
        (pg, _pv), cnt = pair
        mode_cnt = np.zeros(gg.max() + 1)
        np.maximum.at(mode_cnt, pg, cnt)
        out[name] = float(mode_cnt.sum() / ok.sum())
    return out


def top_category_share(g_user: np.ndarray, user_ids: np.ndarray, buy_users: np.ndarray,
                       buy_cats: np.ndarray, top: int = 50) -> float:
    """Average over groups (weighted by purchases) of the top-``top`` categories' share."""
    if buy_users.size == 0:
        return float("nan")
    order = np.argsort(user_ids)
    pos = np.searchsorted(user_ids[order], buy_users)
    pos = np.clip(pos, 0, user_ids.size - 1)
    known = user_ids[order][pos] == buy_users
    gb = g_user[order][pos][known]
    cats = buy_cats[known]
    (pg, _), cnt = np.unique(np.stack([gb, cats]), axis=1, return_counts=True)
    total, covered = 0, 0
    for grp in np.unique(pg):
        c = np.sort(cnt[pg == grp])[::-1]
        total += c.sum()
        covered += c[:top].sum()
    return float(covered / total) if total else float("nan")


def persona_agreement(g: np.ndarray, persona: np.ndarray) -> dict[str, float]:
    """NMI and purity of groups against ground-truth personas."""
    (pg, _), cnt = np.unique(np.stack([g, persona]), axis=1, return_counts=True)
    best = np.zeros(g.max() + 1)
    np.maximum.at(best, pg, cnt)
    return {"nmi": float(normalized_mutual_info_score(persona, g)),
            "purity": float(best.sum() / g.size)}


def _share_of_mates(g: np.ndarray, matching_mates: np.ndarray) -> np.ndarray:
    """Per user: ``matching_mates`` (how many *other* members of its group match it in
    some way) over its number of group mates; NaN for a user alone in its group."""
    mates = np.bincount(g)[g] - 1
    return np.where(mates > 0, matching_mates / np.maximum(mates, 1), np.nan)


def _nanmean(x: np.ndarray) -> float:
    x = x[~np.isnan(x)]
    return float(x.mean()) if x.size else float("nan")


def activity_mixing(g: np.ndarray, low: np.ndarray, persona: np.ndarray | None = None
                    ) -> dict[str, float]:
    """Do light users share groups with heavy ones, and do they get the right persona?

    ChoirRec's premise is that a light user borrows the behaviour of semantically similar
    *heavy* users; groups that sort users by how much history they have (e.g. because a
    profile states its own purchase count) defeat it. ``low_mates_of_low`` is the mean share
    of low-activity users among a low-activity user's group mates (``low_share`` when
    groups ignore activity, 1 when they segregate it); with personas, ``same_persona_*`` is
    the mean share of group mates with the user's own persona, for light users and the rest.
    Users alone in their group are left out.
    """
    low = low.astype(bool)
    light_in_group = np.bincount(g, weights=low.astype(np.float64))
    share = _share_of_mates(g, light_in_group[g] - low)
    out = {"low_share": float(low.mean()), "low_mates_of_low": _nanmean(share[low]),
           "low_mates_of_rest": _nanmean(share[~low])}
    if persona is not None:
        key = g.astype(np.int64) * (int(persona.max()) + 1) + persona
        _, inv, cnt = np.unique(key, return_inverse=True, return_counts=True)
        same = _share_of_mates(g, cnt[inv] - 1)
        out["same_persona_low"] = _nanmean(same[low])
        out["same_persona_rest"] = _nanmean(same[~low])
    return out
