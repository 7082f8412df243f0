"""RQ-KMeans (§4.2.2-2, eqs. 2-3): M stages of K-means on successive residuals.

id_u^m = argmin_k ||r^{m-1} - c_{m,k}||²,  r^m = r^{m-1} - c_{m,id},  r^0 = e_u.

Each stage is trained like faiss does: on a sample of ``sample_per_centroid * K`` residuals
(k-means++ seeding on the first ``seed_per_centroid * K`` of them, then Lloyd iterations until
the relative SSE change is below ``tol``), and then *all* points are assigned. Empty clusters
are re-seeded with the farthest points of the largest cluster, never left dead. Everything is
deterministic for a seed. :mod:`choirrec.grouping.distributed` runs the same algorithm with
the data sharded across Ray actors and must give the same codes.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

import numpy as np

from choirrec.grouping.kmeans import (
    assign,
    kmeans_pp,
    partial_sums,
    pick_reseeds,
    reseed_candidates,
    update,
)


@dataclass
class RQKMeansConfig:
    n_stages: int = 3  # M (§5.1: three stages)
    n_clusters: int = 256  # K (§5.1: 256 centroids per stage)
    seed: int = 0
    max_iter: int = 20
    tol: float = 1e-4  # stop when the relative SSE improvement falls below this
    sample_per_centroid: int | None = 256  # None: train on all points
    seed_per_centroid: int = 32  # k-means++ runs on this many points per centroid


@dataclass
class StageReport:
    distortion: float  # mean squared residual norm of all points after this stage
    iterations: int
    reseeded: int  # empty clusters re-seeded during training
    train_points: int
    sizes: list[int] = field(default_factory=list)  # cluster sizes over all points


def stage_sample(n: int, cfg: RQKMeansConfig, stage: int) -> tuple[np.ndarray, np.ndarray]:
    """Global indices of the training sample and of its seeding subset (sorted)."""
    rng = np.random.default_rng([cfg.seed, stage, 1])
    k = cfg.n_clusters
    m = n if cfg.sample_per_centroid is None else min(n, cfg.sample_per_centroid * k)
    sample = np.sort(rng.choice(n, m, replace=False)) if m < n else np.arange(n)
    s = min(sample.size, cfg.seed_per_centroid * k)
    seed_idx = np.sort(rng.choice(sample, s, replace=False)) if s < sample.size else sample
    return sample, seed_idx


def stage_rng(cfg: RQKMeansConfig, stage: int) -> np.random.Generator:
    return np.random.default_rng([cfg.seed, stage, 2])


class RQKMeans:
    """Single-process reference. ``codebooks_`` has shape (M, K, D), float32."""

    def __init__(self, n_stages: int = 3, n_clusters: int = 256, seed: int = 0, **kw):
        self.cfg = RQKMeansConfig(n_stages, n_clusters, seed, **kw)
        self.codebooks_: np.ndarray | None = None
        self.reports_: list[StageReport] = []

    def fit(self, x: np.ndarray) -> RQKMeans:
        x = np.ascontiguousarray(x, dtype=np.float32)
        n, dim = x.shape
        k = self.cfg.n_clusters
        if n < k:
            raise ValueError(f"{n} points cannot fill {k} clusters; lower n_clusters")
        r = x.copy()
        books = np.empty((self.cfg.n_stages, k, dim), dtype=np.float32)
        self.reports_ = []
        for m in range(self.cfg.n_stages):
            sample, seed_idx = stage_sample(n, self.cfg, m)
            rng = stage_rng(self.cfg, m)
            c = kmeans_pp(r[seed_idx], k, rng)
            xs = r[sample]
            prev, reseeded, it = np.inf, 0, 0
            for it in range(1, self.cfg.max_iter + 1):  # noqa: B007 (read after the loop)
                codes, dist = assign(xs, c)
                sums, counts, sse = partial_sums(xs, codes, dist, k)
                c, empty = update(sums, counts, c)
                if empty.any():
                    big = int(np.argmax(counts))
                    cand = [reseed_candidates(xs, codes, dist, big, int(empty.sum()))]
                    c[np.flatnonzero(empty)] = pick_reseeds(cand, int(empty.sum()))
                    reseeded += int(empty.sum())
                if prev < np.inf and (prev - sse) <= self.cfg.tol * prev and not empty.any():
                    break
                prev = sse
            codes, dist = assign(r, c)
            r -= c[codes]
            books[m] = c
            self.reports_.append(StageReport(float(dist.mean()), it, reseeded, int(sample.size),
                                             np.bincount(codes, minlength=k).tolist()))
        self.codebooks_ = books
        return self

    def _check(self) -> np.ndarray:
        if self.codebooks_ is None:
            raise RuntimeError("RQKMeans is not fitted: call fit() or load()")
        return self.codebooks_

    def encode(self, x: np.ndarray) -> np.ndarray:
        """Codes (n, M), int32: the greedy argmin chain of eqs. 2-3."""
        books = self._check()
        r = np.ascontiguousarray(x, dtype=np.float32).copy()
        out = np.empty((r.shape[0], books.shape[0]), dtype=np.int32)
        for m, c in enumerate(books):
            codes, _ = assign(r, c)
            out[:, m] = codes
            r -= c[codes]
        return out

    def decode(self, codes: np.ndarray) -> np.ndarray:
        books = self._check()
        codes = np.asarray(codes)
        return sum(books[m][codes[:, m]] for m in range(books.shape[0])).astype(np.float32)

    @property
    def stage_distortion_(self) -> list[float]:
        return [s.distortion for s in self.reports_]

    def save(self, path: str) -> None:
        """``path``.npy (codebooks) + ``path``.json (config and per-stage reports)."""
        np.save(f"{path}.npy", self._check())
        with open(f"{path}.json", "w") as f:
            json.dump({"config": asdict(self.cfg),
                       "stages": [asdict(s) for s in self.reports_]}, f)

    @classmethod
    def load(cls, path: str) -> RQKMeans:
        with open(f"{path}.json") as f:
            meta = json.load(f)
        model = cls(**meta["config"])
        model.codebooks_ = np.load(f"{path}.npy")
        model.reports_ = [StageReport(**s) for s in meta["stages"]]
        return model
