"""Likely interests inferred from shoppers like this one: the template backend's generalisation.

The paper's LLM turns a sparse history into a profile by world knowledge ("a 30-year-old
teacher in a tier-1 city who bought infant formula" -> "a young parent, likely to need baby
care and household goods"). The deterministic template cannot do that, and it shows: a user
with no purchases gets "No purchases on record", every such user embeds to the same point,
and light users end up grouped with light users (docs/groups.md, activity mixing) instead of
with the heavier users who share their tastes — which is what the group channel needs.

This module supplies the missing step from data instead of world knowledge: a naive-Bayes
ranking of categories fitted on the training window's purchases of *all* users,

    score(c | user) = sum_a log lift(c | attribute a = v)  +  sum_{c0 bought} log lift(c | c0)

with ``lift(c | a=v) = P(c | a=v) / P(c)`` from purchase counts and ``lift(c | c0)`` from
co-purchase across users, both additively smoothed toward 1. It uses only events before the
split time (the same ones the profile itself reads), never the generator's persona tables, so
it applies unchanged to any client's data with attributes and categories.

The statistics are small (categories x attribute values, categories x categories), so each
profile shard computes partial counts and the driver sums them (:func:`count_shard`,
:meth:`InterestPrior.from_counts`) — no pass over all events on one machine.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from scipy import sparse

from choirrec.schema import USER_ATTRIBUTES

#: Saved next to the ``profiles`` parts (``_``: not a Parquet part); serving's cold starts read it.
INTEREST_PRIOR_FILE = "_interest_prior.npz"
#: Attributes used as evidence: the discrete ones (``age`` is covered by ``age_band``).
EVIDENCE_ATTRIBUTES = tuple(k for k, (_, kind) in USER_ATTRIBUTES.items() if kind == "discrete")


@dataclass
class PriorCounts:
    """Additive sufficient statistics; :meth:`add` merges two shards' counts."""

    categories: np.ndarray  # sorted category ids, fixed for the whole run
    buys: np.ndarray  # (C,) purchases per category
    attr: dict[str, dict[str, np.ndarray]]  # attribute -> value -> (C,) purchases
    buyers: np.ndarray  # (C,) users who bought the category
    co: sparse.csr_matrix  # (C, C) users who bought both; sparse: catalogues have 10k+ leaves
    n_buyers: int  # users with at least one purchase

    @classmethod
    def empty(cls, categories: np.ndarray) -> PriorCounts:
        c = len(categories)
        return cls(np.asarray(categories, np.int64), np.zeros(c), {}, np.zeros(c),
                   sparse.csr_matrix((c, c)), 0)

    def add(self, other: PriorCounts) -> PriorCounts:
        if not np.array_equal(self.categories, other.categories):
            raise ValueError("interest-prior counts over different category sets cannot merge")
        attr = {a: dict(v) for a, v in self.attr.items()}
        for a, vals in other.attr.items():
            mine = attr.setdefault(a, {})
            for v, cnt in vals.items():
                mine[v] = mine.get(v, 0) + cnt
        return PriorCounts(self.categories, self.buys + other.buys, attr,
                           self.buyers + other.buyers, (self.co + other.co).tocsr(),
                           self.n_buyers + other.n_buyers)


def count_shard(users: pa.Table, buys: pa.Table, categories: np.ndarray) -> PriorCounts:
    """Partial counts from one shard's users and their (pre-split) purchases.

    ``buys`` needs ``user_id`` and ``category_id``; categories outside ``categories`` (none,
    when it comes from the ``items`` artifact) are ignored rather than guessed.
    """
    out = PriorCounts.empty(categories)
    if buys.num_rows == 0:
        return out
    cats = out.categories
    b_u = buys.column("user_id").to_numpy()
    b_c = buys.column("category_id").to_numpy()
    pos = np.clip(np.searchsorted(cats, b_c), 0, len(cats) - 1)
    ok = cats[pos] == b_c
    b_u, ci = b_u[ok], pos[ok]
    out.buys = np.bincount(ci, minlength=len(cats)).astype(float)

    uid, ui = np.unique(b_u, return_inverse=True)
    x = sparse.csr_matrix((np.ones(len(ui)), (ui, ci)), shape=(len(uid), len(cats)))
    x.data[:] = 1.0  # duplicates were summed: presence, not counts
    out.buyers = np.asarray(x.sum(0)).ravel()
    out.co = (x.T @ x).tocsr()
    out.n_buyers = len(uid)

    u_ids = users.column("user_id").to_numpy() if users.num_rows else np.array([], np.int64)
    for a in EVIDENCE_ATTRIBUTES:
        if a not in users.column_names:
            continue
        vals = users.column(a).to_pylist()
        by_user = {int(u): str(v) for u, v in zip(u_ids, vals, strict=True) if v is not None}
        keys = np.array([by_user.get(int(u), "") for u in b_u], dtype=object)
        for v in set(by_user.values()):
            m = keys == v
            if m.any():
                out.attr.setdefault(a, {})[v] = np.bincount(ci[m], minlength=len(cats)).astype(float)
    return out


def _top_per_row(m: sparse.csr_matrix, k: int) -> sparse.csr_matrix:
    """Keep the ``k`` largest entries of each row (bounded size whatever the catalogue)."""
    rows, cols, data = [np.array([], int)], [np.array([], int)], [np.array([])]
    for r in range(m.shape[0]):
        lo, hi = m.indptr[r], m.indptr[r + 1]
        top = np.argsort(-m.data[lo:hi], kind="stable")[:k]
        rows.append(np.full(len(top), r))
        cols.append(m.indices[lo:hi][top])
        data.append(m.data[lo:hi][top])
    return sparse.csr_matrix((np.concatenate(data), (np.concatenate(rows), np.concatenate(cols))),
                             shape=m.shape)


@dataclass(frozen=True)
class InterestPrior:
    """Log-lift tables; :meth:`rank` orders categories for one user's evidence.

    The co-purchase log lift of a pair never bought together is the same for every category in
    a row (only smoothing), so it cannot change a ranking: only the pairs seen together are
    kept, as a sparse excess over that row constant, at most ``max_neighbours`` per row.
    """

    categories: np.ndarray
    names: tuple[str, ...]  # leaf name per category ("category <id>" when anonymised)
    l1: tuple[str, ...]  # top-level name per category ("" when unknown)
    attr_log_lift: dict[str, dict[str, np.ndarray]]
    co_excess: sparse.csr_matrix  # (C, C): log lift(c | c0) minus row c0's constant

    @classmethod
    def from_counts(cls, counts: PriorCounts, smoothing: float = 20.0,
                    labels: dict[int, tuple[str, str | None]] | None = None,
                    max_neighbours: int = 100) -> InterestPrior:
        """``smoothing`` pseudo-purchases (or pseudo-buyers) at the base rate per cell: a value
        seen on few purchases lifts nothing, so one odd shopper cannot write everyone's profile.
        """
        if smoothing <= 0:
            raise ValueError(f"interest-prior smoothing must be > 0, got {smoothing}")
        c = len(counts.categories)
        p = (counts.buys + 1.0) / (counts.buys.sum() + c)  # P(c), Laplace so never 0
        attr = {}
        for a, vals in counts.attr.items():
            attr[a] = {}
            for v, n in vals.items():
                cond = (n + smoothing * p) / (n.sum() + smoothing)
                attr[a][v] = np.log(cond / p)
        q = (counts.buyers + 1.0) / (counts.n_buyers + 2.0)  # share of buyers with c
        co = counts.co.tocoo()
        # log[(co + s q) / (b + s) / q] - log[s q / (b + s) / q] = log(1 + co / (s q))
        excess = np.log1p(co.data / (smoothing * q[co.col]))
        co_excess = _top_per_row(sparse.csr_matrix((excess, (co.row, co.col)), shape=(c, c)),
                                 max_neighbours)
        labels = labels or {}
        names = tuple(labels.get(int(k), (f"category {k}", None))[0] for k in counts.categories)
        l1 = tuple(labels.get(int(k), ("", None))[1] or "" for k in counts.categories)
        return cls(counts.categories, names, l1, attr, co_excess)

    def rank(self, attributes: dict, bought: list[int], top_n: int) -> list[int]:
        """The ``top_n`` categories (ids) not in ``bought`` with the highest score; ties by id.

        Empty when there is no evidence at all (no known attribute value, no purchase): a
        guess from nothing would be the same guess for everyone.
        """
        score = np.zeros(len(self.categories))
        evidence = False
        for a, table in self.attr_log_lift.items():
            v = attributes.get(a)
            if v is not None and str(v) in table:
                score += table[str(v)]
                evidence = True
        pos = np.flatnonzero(np.isin(self.categories, np.asarray(list(bought), np.int64)))
        if len(pos):
            score += np.asarray(self.co_excess[pos].sum(0)).ravel()
            score[pos] = -np.inf
            evidence = True
        if not evidence:
            return []
        order = np.lexsort((self.categories, -score))
        return [int(self.categories[i]) for i in order[:top_n] if np.isfinite(score[i])]

    def fill(self, attributes: dict, bought: list[int], n_slots: int) -> list[dict]:
        """Labelled guesses for the slots of an ``n_slots``-long interest list that ``bought``
        (distinct category ids) leaves free; empty when it is full. The one rule the offline
        profiles and serving's cold starts share."""
        free = n_slots - len(bought)
        return [self.label(c) for c in self.rank(attributes, bought, free)] if free > 0 else []

    def label(self, category_id: int) -> dict:
        """``{"category": name, "l1": top-level name or None}`` as the template expects."""
        i = int(np.searchsorted(self.categories, category_id))
        return {"category": self.names[i], "l1": self.l1[i] or None}

    def digest(self) -> str:
        """A content hash (the ``.npz`` bytes carry a timestamp, so they cannot serve)."""
        h = hashlib.sha256()
        for arr in (self.categories, self.co_excess.data, self.co_excess.indices,
                    self.co_excess.indptr):
            h.update(np.ascontiguousarray(arr).tobytes())
        h.update("\x1f".join(self.names + self.l1).encode())
        for a in sorted(self.attr_log_lift):
            for v in sorted(self.attr_log_lift[a]):
                h.update(f"{a}={v}".encode())
                h.update(np.ascontiguousarray(self.attr_log_lift[a][v]).tobytes())
        return h.hexdigest()

    def to_bytes(self) -> bytes:
        """An ``.npz`` image, stored next to the profiles so serving renders cold starts alike."""
        arrays = {"categories": self.categories, "names": np.asarray(self.names, dtype=str),
                  "l1": np.asarray(self.l1, dtype=str), "co_data": self.co_excess.data,
                  "co_indices": self.co_excess.indices, "co_indptr": self.co_excess.indptr}
        attr_keys = []
        for a, vals in self.attr_log_lift.items():
            for v, arr in vals.items():
                arrays[f"attr_{len(attr_keys)}"] = arr
                attr_keys.append((a, v))
        arrays["attr_keys"] = np.asarray(attr_keys, dtype=str).reshape(-1, 2)
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> InterestPrior:
        z = np.load(io.BytesIO(data), allow_pickle=False)
        c = len(z["categories"])
        attr: dict[str, dict[str, np.ndarray]] = {}
        for i, (a, v) in enumerate(z["attr_keys"].tolist()):
            attr.setdefault(a, {})[v] = z[f"attr_{i}"]
        co = sparse.csr_matrix((z["co_data"], z["co_indices"], z["co_indptr"]), shape=(c, c))
        return cls(z["categories"], tuple(z["names"].tolist()), tuple(z["l1"].tolist()), attr, co)
