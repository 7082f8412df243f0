"""Profile + embedding throughput on the local (or $RAY_ADDRESS) cluster, at 1 and 2 actors.

    python -m benchmarks.profiles --source-run runs/demo --users 4000 --llm-users 6

Template profiles + MiniLM embeddings: users/s per stage. CPU LLM (llm-cpu backend): tokens/s.
Each configuration runs in a fresh copy of the source run's ``data/`` (cluster start excluded).
Prints one JSON line per configuration and a table.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time

import ray

from choirrec.config import EmbedConfig, LlmCpuConfig, ProfileConfig
from choirrec.profiles.embed_stage import embed_profiles
from choirrec.profiles.stage import build_profiles
from choirrec.run_dir import RunDir


def fresh_run(source: str) -> RunDir:
    d = tempfile.mkdtemp(prefix="choirrec_bench_")
    shutil.copytree(os.path.join(source, "data"), os.path.join(d, "data"))
    return RunDir(d)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--source-run", default="runs/demo", help="a run dir with prepared data/")
    p.add_argument("--users", type=int, default=4000)
    p.add_argument("--llm-users", type=int, default=6)
    p.add_argument("--llm-model", default="qwen2.5-coder-1.5b-instruct-q4_k_m")
    p.add_argument("--actors", default="1,2")
    a = p.parse_args()
    ray.init(address=os.environ.get("RAY_ADDRESS"), include_dashboard=False,
             log_to_driver=False)
    rows = []
    for n in (int(x) for x in a.actors.split(",")):
        run = fresh_run(a.source_run)
        cpus = 0.5  # logical reservation per actor; Ray Data's readers need the rest
        t = time.perf_counter()
        m = build_profiles(ProfileConfig(max_users=a.users, concurrency=n, users_per_shard=500,
                                         num_cpus_per_actor=min(1.0, cpus)), run)
        tp = time.perf_counter() - t
        t = time.perf_counter()
        e = embed_profiles(EmbedConfig(concurrency=n, users_per_shard=500,
                                       num_cpus_per_actor=min(1.0, cpus)), run)
        te = time.perf_counter() - t
        rows.append({"stage": "template profiles", "actors": n, "users": m["users"],
                     "seconds": round(tp, 1), "users_per_s": round(m["users"] / tp, 1)})
        rows.append({"stage": "minilm embeddings", "actors": n, "users": e["users"],
                     "seconds": round(te, 1), "users_per_s": round(e["users"] / te, 1)})
        shutil.rmtree(run.root)
        if a.llm_users:
            run = fresh_run(a.source_run)
            cfg = ProfileConfig(backend="llm-cpu", max_users=a.llm_users, concurrency=n,
                                llm_users_per_shard=max(1, a.llm_users // n),
                                num_cpus_per_actor=min(1.0, cpus),
                                llm_cpu=LlmCpuConfig(model=a.llm_model, n_threads=max(1, 2 // n)))
            t = time.perf_counter()
            m = build_profiles(cfg, run)
            tl = time.perf_counter() - t
            rows.append({"stage": f"llm-cpu profiles ({a.llm_model})", "actors": n,
                         "users": m["users"], "seconds": round(tl, 1),
                         "users_per_s": round(m["users"] / tl, 2), "tokens": m["tokens"],
                         "tokens_per_s": round(m["tokens"] / tl, 1),
                         "fallback": m["fallback"], "retried": m["retried"]})
            shutil.rmtree(run.root)
    for r in rows:
        print(json.dumps(r))
    print(f"{'stage':<52}{'actors':>7}{'users':>7}{'s':>8}{'users/s':>9}{'tok/s':>8}")
    for r in rows:
        print(f"{r['stage']:<52}{r['actors']:>7}{r['users']:>7}{r['seconds']:>8}"
              f"{r['users_per_s']:>9}{r.get('tokens_per_s', ''):>8}")


if __name__ == "__main__":
    main()
