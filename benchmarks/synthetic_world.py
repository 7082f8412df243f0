"""How fast the embedded world is generated at scale, on the local (or $RAY_ADDRESS) cluster.

    python -m benchmarks.synthetic_world --users 1000000 --run-dir /tmp/world_1m

Prints one JSON line and a table: wall time (cluster start excluded), users/s, events/s,
driver peak RSS, on-disk size. The driver holds only per-user statistics (a few ints per user).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import time

import ray

from choirrec.config import DataConfig, SyntheticConfig
from choirrec.data.prepare import prepare_data
from choirrec.run_dir import RunDir


def du(path: str) -> int:
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--users", type=int, default=1_000_000)
    p.add_argument("--block-size", type=int, default=25_000)
    p.add_argument("--run-dir", default="/tmp/choirrec_bench_world")
    a = p.parse_args()
    shutil.rmtree(a.run_dir, ignore_errors=True)
    t0 = time.perf_counter()
    ray.init(address=os.environ.get("RAY_ADDRESS"), include_dashboard=False)
    t_start = time.perf_counter() - t0
    cfg = DataConfig(synthetic=SyntheticConfig(users=a.users, block_size=a.block_size))
    t1 = time.perf_counter()
    s = prepare_data(cfg, RunDir(a.run_dir))
    wall = time.perf_counter() - t1
    n_events = sum(s["events"].values())
    out = {
        "users": a.users, "events": n_events, "samples": sum(v["rows"] for v in s["samples"].values()),
        "wall_s": round(wall, 1), "ray_start_s": round(t_start, 1),
        "users_per_s": round(a.users / wall), "events_per_s": round(n_events / wall),
        "driver_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "disk_mb": round(du(a.run_dir) / 2**20), "cpus": ray.cluster_resources().get("CPU"),
    }
    print(json.dumps(out))
    print(f"{'metric':<22}{'value':>14}")
    for k, v in out.items():
        print(f"{k:<22}{v:>14,}" if isinstance(v, int) else f"{k:<22}{v:>14}")


if __name__ == "__main__":
    main()
