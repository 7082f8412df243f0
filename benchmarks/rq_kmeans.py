"""Distributed RQ-KMeans on the local cluster vs faiss single-process, at matched settings.

    python -m benchmarks.rq_kmeans                      # 1M x 64 and 200k x 384, M=3, K=256
    python -m benchmarks.rq_kmeans --cases 250000x64,1000000x64   # driver memory vs users

Data: a Gaussian mixture (1,000 centres) written as an ``embeddings`` artifact by Ray tasks,
so the driver never holds it. Ours: DistributedRQKMeans over ``--shards`` actors (load + train
+ assign + write assignments; cluster start reported separately). faiss: ResidualQuantizer
(greedy, max_beam_size=1) in a subprocess, trained on the same number of sampled points with
the same Lloyd iterations, then encoding every point. Prints JSON lines and a table.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import ray

from choirrec.grouping.distributed import DistributedRQKMeans
from choirrec.grouping.rq_kmeans import RQKMeansConfig


@ray.remote
def _write_part(path: str, start: int, n: int, dim: int, seed: int) -> None:
    rng = np.random.default_rng([seed, start])
    centres = np.random.default_rng(seed).standard_normal((1000, dim)).astype(np.float32)
    x = centres[rng.integers(0, 1000, n)] + 0.5 * rng.standard_normal((n, dim)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    pq.write_table(pa.table({
        "user_id": pa.array(np.arange(start, start + n), pa.int64()),
        "embedding": pa.FixedSizeListArray.from_arrays(pa.array(x.ravel()), dim)}), path)


def make_data(root: str, n: int, dim: int, parts: int = 8) -> list[str]:
    os.makedirs(root, exist_ok=True)
    bounds = np.linspace(0, n, parts + 1).astype(int)
    paths = [f"{root}/part-{i:05d}.parquet" for i in range(parts)]
    ray.get([_write_part.remote(p, int(a), int(b - a), dim, 0)
             for p, a, b in zip(paths, bounds[:-1], bounds[1:], strict=True)])
    return paths


FAISS = r"""
import json, resource, sys, time
import numpy as np, faiss, pyarrow.parquet as pq, pyarrow.compute as pc
paths, M, K, sample, niter = json.loads(sys.argv[1])
tabs = [pq.read_table(p, columns=["embedding"]) for p in paths]
x = np.concatenate([pc.list_flatten(t.column(0)).to_numpy().reshape(t.num_rows, -1) for t in tabs])
x = np.ascontiguousarray(x, dtype=np.float32)
t0 = time.perf_counter()
rq = faiss.ResidualQuantizer(x.shape[1], M, int(np.log2(K)))
rq.max_beam_size = 1
rq.cp.niter = niter
rng = np.random.default_rng(0)
rq.train(x[rng.choice(x.shape[0], min(sample, x.shape[0]), replace=False)])
t1 = time.perf_counter()
codes = rq.compute_codes(x)
t2 = time.perf_counter()
err = float(((x - rq.decode(codes)) ** 2).sum(1).mean())
print(json.dumps({"train_s": t1 - t0, "encode_s": t2 - t1, "wall_s": t2 - t0, "mse": err,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def run_case(n: int, dim: int, args, tmp: str) -> dict:
    root = f"{tmp}/emb_{n}x{dim}"
    files = make_data(root, n, dim)
    cfg = RQKMeansConfig(args.m, args.k, seed=0, max_iter=args.iters, tol=0.0,
                         sample_per_centroid=256)
    model = DistributedRQKMeans(cfg, num_shards=args.shards, num_cpus_per_actor=1.0)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    model.load(tmp, files)
    t1 = time.perf_counter()
    model.fit()
    os.makedirs(f"{tmp}/asg_{n}", exist_ok=True)
    model.write_assignments(tmp, f"{tmp}/asg_{n}")
    t2 = time.perf_counter()
    actor_rss = ray.get([a.peak_rss_mb.remote() for a in model.actors])
    model.shutdown()
    ours_mse = model.reports_[-1].distortion
    f = json.loads(subprocess.run(
        [sys.executable, "-c", FAISS, json.dumps([files, args.m, args.k, 256 * args.k,
                                                  args.iters])],
        capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1])
    shutil.rmtree(root)
    return {
        "case": f"{n}x{dim}", "M": args.m, "K": args.k, "shards": args.shards,
        "ours_s": round(t2 - t0, 2), "ours_load_s": round(t1 - t0, 2),
        "faiss_s": round(f["wall_s"], 2), "time_ratio": round((t2 - t0) / f["wall_s"], 3),
        "ours_mse": ours_mse, "faiss_mse": f["mse"], "mse_ratio": round(ours_mse / f["mse"], 4),
        "driver_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "driver_rss_growth_mb": round((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                                       - rss0) / 1024),
        "actor_peak_rss_mb": [round(r) for r in actor_rss],
        "faiss_peak_rss_mb": round(f["peak_rss_mb"]),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", default="1000000x64,200000x384")
    p.add_argument("--m", type=int, default=3)
    p.add_argument("--k", type=int, default=256)
    p.add_argument("--iters", type=int, default=20)
    p.add_argument("--shards", type=int, default=2)
    a = p.parse_args()
    t = time.perf_counter()
    ray.init(address=os.environ.get("RAY_ADDRESS"), include_dashboard=False, log_to_driver=False)
    start_s = time.perf_counter() - t
    tmp = tempfile.mkdtemp(prefix="choirrec_rq_")
    rows = []
    for case in a.cases.split(","):
        n, dim = (int(v) for v in case.split("x"))
        rows.append(run_case(n, dim, a, tmp))
        print(json.dumps({**rows[-1], "ray_start_s": round(start_s, 1)}), flush=True)
    shutil.rmtree(tmp, ignore_errors=True)
    print(f"{'case':<14}{'ours s':>8}{'faiss s':>9}{'ratio':>7}{'MSE ratio':>10}"
          f"{'driver MB':>10}{'actors MB':>12}{'faiss MB':>9}")
    for r in rows:
        print(f"{r['case']:<14}{r['ours_s']:>8}{r['faiss_s']:>9}{r['time_ratio']:>7}"
              f"{r['mse_ratio']:>10}{r['driver_peak_rss_mb']:>10}"
              f"{'/'.join(map(str, r['actor_peak_rss_mb'])):>12}{r['faiss_peak_rss_mb']:>9}")
    print(f"(Ray cluster start: {start_s:.1f} s, excluded)")


if __name__ == "__main__":
    main()
