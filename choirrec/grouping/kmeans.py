"""Lloyd's k-means pieces shared by the single-process and the distributed RQ-KMeans.

Both implementations call exactly these functions, and accumulate per-cluster sums in
float64, so they produce the same centroids (float32) and the same codes, barring exact ties.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

CHUNK = 16_384  # rows per distance block: bounds memory at CHUNK x K floats


def assign(x: np.ndarray, c: np.ndarray, c_sq: np.ndarray | None = None
           ) -> tuple[np.ndarray, np.ndarray]:
    """Nearest centroid of each row and its squared distance (float64), in row blocks."""
    c_sq = (c.astype(np.float64) ** 2).sum(1) if c_sq is None else c_sq
    codes = np.empty(x.shape[0], dtype=np.int64)
    dist = np.empty(x.shape[0], dtype=np.float64)
    for s in range(0, x.shape[0], CHUNK):
        xb = x[s:s + CHUNK]
        d = c_sq[None, :] - 2.0 * (xb @ c.T).astype(np.float64)
        k = np.argmin(d, axis=1)
        codes[s:s + CHUNK] = k
        x_sq = (xb.astype(np.float64) ** 2).sum(1)
        dist[s:s + CHUNK] = np.maximum(d[np.arange(xb.shape[0]), k] + x_sq, 0.0)
    return codes, dist


def partial_sums(x: np.ndarray, codes: np.ndarray, dist: np.ndarray, k: int
                 ) -> tuple[np.ndarray, np.ndarray, float]:
    """Per-cluster float64 sums and counts, and the SSE, of one block of rows.

    A sparse one-hot (k x n) matrix times the rows: ~5x faster than ``np.add.at`` at 384 dims.
    """
    onehot = sp.csr_matrix((np.ones(codes.size), (codes, np.arange(codes.size))),
                           shape=(k, codes.size))
    sums = np.asarray(onehot @ x.astype(np.float64))
    return sums, np.bincount(codes, minlength=k).astype(np.int64), float(dist.sum())


def kmeans_pp(x: np.ndarray, k: int, rng: np.random.Generator,
              n_trials: int | None = None) -> np.ndarray:
    """Greedy k-means++ seeding on ``x``: (k, D) float32 centroids.

    D² sampling of ``n_trials`` candidates per step (default 2 + log k, as scikit-learn),
    keeping the one that most lowers the total squared distance — better seeds than plain
    k-means++ in high dimensions, for a few extra passes over a bounded seeding sample.
    """
    n = x.shape[0]
    trials = n_trials or 2 + int(np.log(k))
    xd = x.astype(np.float64)
    x_sq = (xd ** 2).sum(1)
    centers = np.empty((k, x.shape[1]), dtype=np.float32)
    first = int(rng.integers(n))
    centers[0] = x[first]
    d2 = np.maximum(x_sq - 2 * xd @ xd[first] + x_sq[first], 0.0)
    for i in range(1, k):
        total = d2.sum()
        if total <= 0:
            cand = rng.integers(n, size=trials)
        else:
            cand = np.searchsorted(np.cumsum(d2), rng.random(trials) * total)
            cand = np.minimum(cand, n - 1)
        dot = (x[cand] @ x.T).astype(np.float64)  # float32 GEMM: the costly part
        dc = np.maximum(x_sq[None, :] - 2 * dot + x_sq[cand, None], 0.0)
        new = np.minimum(d2[None, :], dc)
        best = int(np.argmin(new.sum(1)))
        centers[i] = x[cand[best]]
        d2 = new[best]
    return centers


def update(sums: np.ndarray, counts: np.ndarray, old: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """New centroids (float32) and the mask of empty clusters (which keep their old value)."""
    empty = counts == 0
    c = old.copy()
    nz = ~empty
    c[nz] = (sums[nz] / counts[nz, None]).astype(np.float32)
    return c, empty


def reseed_candidates(x: np.ndarray, codes: np.ndarray, dist: np.ndarray, cluster: int,
                      n: int, offset: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ``n`` points of ``cluster`` farthest from its centroid: (dist, global idx, rows)."""
    idx = np.flatnonzero(codes == cluster)
    if idx.size == 0:
        return np.zeros(0), np.zeros(0, dtype=np.int64), np.zeros((0, x.shape[1]), np.float32)
    top = idx[np.lexsort((idx, -dist[idx]))[:n]]  # farthest first, ties by index
    return dist[top], top + offset, x[top]


def pick_reseeds(cands: list[tuple[np.ndarray, np.ndarray, np.ndarray]], n: int) -> np.ndarray:
    """Merge candidates from all shards: the ``n`` farthest (ties by global index)."""
    d = np.concatenate([c[0] for c in cands])
    gi = np.concatenate([c[1] for c in cands])
    rows = np.concatenate([c[2] for c in cands])
    order = np.lexsort((gi, -d))[:n]
    return rows[order]
