"""RQ-KMeans with the embeddings sharded across Ray actors (never gathered on the driver).

Each actor reads a contiguous row range of the ``embeddings`` Parquet artifact itself and keeps
its rows, their residuals and their codes in memory. Per stage the driver picks the same
training sample and seeding subset as the single-process reference (global row indices), pulls
only the seeding rows (bounded by ``seed_per_centroid * K``, independent of the number of
users) for k-means++, then runs Lloyd: broadcast centroids -> each actor returns per-cluster
float64 sums, counts and SSE over its sample rows -> the driver reduces and updates. Actors then
assign *all* their rows, update residuals in place, and finally write their assignment shards
straight to the run directory.
"""

from __future__ import annotations

import logging
import time

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import ray

from choirrec.grouping.kmeans import (
    assign,
    kmeans_pp,
    partial_sums,
    pick_reseeds,
    reseed_candidates,
    update,
)
from choirrec.grouping.rq_kmeans import RQKMeansConfig, StageReport, stage_rng, stage_sample
from choirrec.run_dir import resolve

log = logging.getLogger(__name__)


def plan_segments(uri: str, files: list[str], num_shards: int) -> list[list[tuple[str, int, int]]]:
    """Split the concatenation of ``files`` (in order) into ``num_shards`` contiguous row ranges."""
    fs, _ = resolve(uri)
    sizes = [pq.ParquetFile(fs.open_input_file(f)).metadata.num_rows for f in files]
    total = sum(sizes)
    bounds = np.linspace(0, total, num_shards + 1).round().astype(int)
    starts = np.cumsum([0] + sizes[:-1])
    plan = []
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        seg = []
        for f, s, n in zip(files, starts, sizes, strict=True):
            lo, hi = max(a, s), min(b, s + n)
            if lo < hi:
                seg.append((f, int(lo - s), int(hi - s)))
        plan.append(seg)
    return plan


@ray.remote
class ShardActor:
    """Holds one contiguous range of users: ids, residuals, codes."""

    def __init__(self, uri: str, segments: list[tuple[str, int, int]], offset: int, n_stages: int):
        fs, _ = resolve(uri)
        ids, vecs = [], []
        for f, lo, hi in segments:
            t = pq.read_table(f, filesystem=fs, columns=["user_id", "embedding"]).slice(lo, hi - lo)
            ids.append(t.column("user_id").to_numpy())
            flat = pc.list_flatten(t.column("embedding")).to_numpy()
            vecs.append(flat.reshape(t.num_rows, -1).astype(np.float32))
        self.ids = np.concatenate(ids) if ids else np.zeros(0, np.int64)
        self.r = np.concatenate(vecs) if vecs else np.zeros((0, 1), np.float32)
        self.offset = offset
        self.codes = np.zeros((self.ids.size, n_stages), dtype=np.int32)
        self.sample = np.zeros(0, np.int64)
        self._last = None

    def size(self) -> tuple[int, int]:
        return int(self.ids.size), int(self.r.shape[1])

    def peak_rss_mb(self) -> float:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    def _local(self, idx: np.ndarray) -> np.ndarray:
        m = (idx >= self.offset) & (idx < self.offset + self.ids.size)
        return idx[m] - self.offset

    def rows(self, idx: np.ndarray) -> np.ndarray:
        return self.r[self._local(idx)]

    def set_sample(self, idx: np.ndarray) -> int:
        self.sample = self._local(idx)
        return int(self.sample.size)

    def lloyd_step(self, c: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        xs = self.r[self.sample]
        codes, dist = assign(xs, c)
        self._last = (xs, codes, dist)
        return partial_sums(xs, codes, dist, c.shape[0])

    def reseed_candidates(self, cluster: int, n: int):
        xs, codes, dist = self._last
        d, local, rows = reseed_candidates(xs, codes, dist, cluster, n)
        return d, self.sample[local] + self.offset if local.size else local, rows

    def finish_stage(self, stage: int, c: np.ndarray) -> tuple[float, np.ndarray]:
        codes, dist = assign(self.r, c)
        self.codes[:, stage] = codes
        self.r -= c[codes]
        self._last = None
        return float(dist.sum()), np.bincount(codes, minlength=c.shape[0])

    def write(self, uri: str, path: str) -> int:
        fs, _ = resolve(uri)
        cols = {"user_id": pa.array(self.ids, pa.int64())}
        for m in range(self.codes.shape[1]):
            cols[f"g{m + 1}"] = pa.array(self.codes[:, m], pa.int32())
        pq.write_table(pa.table(cols), path, filesystem=fs)
        return int(self.ids.size)


class DistributedRQKMeans:
    """Same algorithm and results as :class:`RQKMeans`, data sharded across Ray actors."""

    def __init__(self, cfg: RQKMeansConfig, num_shards: int = 2, num_cpus_per_actor: float = 1.0):
        self.cfg = cfg
        self.num_shards = num_shards
        self.num_cpus = num_cpus_per_actor
        self.codebooks_: np.ndarray | None = None
        self.reports_: list[StageReport] = []
        self.actors: list = []

    def load(self, uri: str, files: list[str]) -> int:
        plan = plan_segments(uri, files, self.num_shards)
        offsets = np.cumsum([0] + [sum(hi - lo for _, lo, hi in seg) for seg in plan])
        self.actors = [ShardActor.options(num_cpus=self.num_cpus).remote(
            uri, seg, int(off), self.cfg.n_stages) for seg, off in zip(plan, offsets, strict=False)]
        sizes = ray.get([a.size.remote() for a in self.actors])
        self.n, self.dim = sum(s[0] for s in sizes), max(s[1] for s in sizes)
        return self.n

    def fit(self) -> DistributedRQKMeans:
        cfg, k, n = self.cfg, self.cfg.n_clusters, self.n
        if n < k:
            raise ValueError(f"{n} points cannot fill {k} clusters; lower n_clusters")
        books = np.empty((cfg.n_stages, k, self.dim), dtype=np.float32)
        self.reports_ = []
        for m in range(cfg.n_stages):
            t0 = time.perf_counter()
            sample, seed_idx = stage_sample(n, cfg, m)
            seed_rows = np.concatenate(ray.get([a.rows.remote(seed_idx) for a in self.actors]))
            c = kmeans_pp(seed_rows, k, stage_rng(cfg, m))
            sample_ref = ray.put(sample)
            ray.get([a.set_sample.remote(sample_ref) for a in self.actors])
            prev, reseeded, it = np.inf, 0, 0
            for it in range(1, cfg.max_iter + 1):  # noqa: B007 (read after the loop)
                c_ref = ray.put(c)
                parts = ray.get([a.lloyd_step.remote(c_ref) for a in self.actors])
                sums = np.sum([p[0] for p in parts], axis=0)
                counts = np.sum([p[1] for p in parts], axis=0)
                sse = float(sum(p[2] for p in parts))
                c, empty = update(sums, counts, c)
                if empty.any():
                    big, n_empty = int(np.argmax(counts)), int(empty.sum())
                    cands = ray.get([a.reseed_candidates.remote(big, n_empty) for a in self.actors])
                    c[np.flatnonzero(empty)] = pick_reseeds(cands, n_empty)
                    reseeded += n_empty
                if prev < np.inf and (prev - sse) <= cfg.tol * prev and not empty.any():
                    break
                prev = sse
            c_ref = ray.put(c)
            fin = ray.get([a.finish_stage.remote(m, c_ref) for a in self.actors])
            books[m] = c
            self.reports_.append(StageReport(
                sum(f[0] for f in fin) / n, it, reseeded, int(sample.size),
                np.sum([f[1] for f in fin], axis=0).astype(int).tolist()))
            log.info("RQ-KMeans stage %d/%d: %d iterations, distortion %.5f, %d re-seeded, %.1fs",
                     m + 1, cfg.n_stages, it, self.reports_[-1].distortion, reseeded,
                     time.perf_counter() - t0)
        self.codebooks_ = books
        return self

    def write_assignments(self, uri: str, directory: str) -> int:
        paths = [f"{directory}/part-{i:05d}.parquet" for i in range(len(self.actors))]
        return sum(ray.get([a.write.remote(uri, p) for a, p in zip(self.actors, paths,
                                                                   strict=True)]))

    def shutdown(self) -> None:
        for a in self.actors:
            ray.kill(a)
        self.actors = []
