"""Profile and embedding engines side by side, on the same users and the same model.

    python -m benchmarks.profiles --users 2000 --llm-users 64

Profiles: template; llm-cpu (llama.cpp, Qwen2.5-Coder-0.5B-Instruct Q4_K_M); vllm (ray.data.llm
+ vLLM on CPU workers, the same 0.5B model converted to bf16) — users/s, tokens/s, fallback
share. Embeddings of the template profiles: sentence-transformers MiniLM (2 Ray Data actors)
and vLLM's MiniLM (one CPU engine) — texts/s, and the lowest per-user cosine between the two.
Every figure includes model load and engine start (vLLM: ~45 s), as a pipeline run pays it.
One world of the embedded generator (``--world-users``) in a temp dir;
the local cluster or ``$RAY_ADDRESS``. Prints one JSON line per row and a table.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time

import numpy as np
import ray

from choirrec.config import (
    DataConfig,
    EmbedConfig,
    LlmCpuConfig,
    ProfileConfig,
    SyntheticConfig,
    VllmConfig,
)
from choirrec.data.prepare import prepare_data
from choirrec.profiles.embed_stage import embed_profiles
from choirrec.profiles.stage import build_profiles
from choirrec.run_dir import RunDir

SMALL_GGUF = "qwen2.5-coder-0.5b-instruct-q4_k_m"
SMALL_HF = "qwen2.5-coder-0.5b-instruct"


def _copy(world: RunDir, stages: tuple[str, ...]) -> RunDir:
    d = tempfile.mkdtemp(prefix="choirrec_bench_")
    for s in stages:
        shutil.copytree(world.path(s), os.path.join(d, s))
    return RunDir(d)


def _vectors(run: RunDir) -> np.ndarray:
    t = run.read_table("embeddings").sort_by("user_id")
    return np.stack(t.column("embedding").to_numpy(zero_copy_only=False))


def _llm_row(name: str, m: dict, seconds: float) -> dict:
    return {"stage": name, "users": m["users"], "seconds": round(seconds, 1),
            "users_per_s": round(m["users"] / seconds, 3), "tokens": m.get("tokens", 0),
            "tokens_per_s": round(m.get("tokens", 0) / seconds, 1),
            "fallback_share": m.get("fallback_share", 0.0)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--world-users", type=int, default=4000, help="users in the generated world")
    p.add_argument("--users", type=int, default=2000, help="users profiled and embedded")
    p.add_argument("--llm-users", type=int, default=64, help="users given LLM profiles")
    p.add_argument("--max-tokens", type=int, default=320)
    p.add_argument("--vllm-batch-size", type=int, default=64)
    p.add_argument("--skip", default="", help="comma list: llm-cpu, vllm, vllm-embed")
    a = p.parse_args()
    skip = set(filter(None, a.skip.split(",")))
    ray.init(address=os.environ.get("RAY_ADDRESS"), include_dashboard=False,
             log_to_driver=False)
    world = RunDir(tempfile.mkdtemp(prefix="choirrec_world_"))
    prepare_data(DataConfig(synthetic=SyntheticConfig(users=a.world_users)), world)
    rows = []

    run = _copy(world, ("data",))
    t = time.perf_counter()
    m = build_profiles(ProfileConfig(max_users=a.users, users_per_shard=500), run)
    rows.append({"stage": "template profiles (2 actors)", "users": m["users"],
                 "seconds": round(time.perf_counter() - t, 1),
                 "users_per_s": round(m["users"] / (time.perf_counter() - t), 1)})
    t = time.perf_counter()
    e = embed_profiles(EmbedConfig(embedder="minilm", users_per_shard=500), run)
    te = time.perf_counter() - t
    ref = _vectors(run)
    rows.append({"stage": "MiniLM embed, sentence-transformers (2 actors)", "users": e["users"],
                 "seconds": round(te, 1), "users_per_s": round(e["users"] / te, 1)})
    if "vllm-embed" not in skip:
        t = time.perf_counter()
        e = embed_profiles(EmbedConfig(embedder="vllm", users_per_shard=500), run, force=True,
                           vllm_cfg=VllmConfig(embed_model="minilm", cpu_per_engine=0.5))
        tv = time.perf_counter() - t
        cos = (_vectors(run) * ref).sum(axis=1)
        rows.append({"stage": "MiniLM embed, vLLM via ray.data.llm (1 CPU engine)",
                     "users": e["users"], "seconds": round(tv, 1),
                     "users_per_s": round(e["users"] / tv, 1),
                     "min_cosine_vs_sentence_transformers": round(float(cos.min()), 6)})
    shutil.rmtree(run.root)

    if "llm-cpu" not in skip:
        run = _copy(world, ("data",))
        cfg = ProfileConfig(backend="llm-cpu", max_users=a.llm_users, concurrency=1,
                            num_cpus_per_actor=0.5, llm_users_per_shard=a.llm_users,
                            max_fallback_share=1.0,
                            llm_cpu=LlmCpuConfig(model=SMALL_GGUF, n_threads=2,
                                                 max_tokens=a.max_tokens))
        t = time.perf_counter()
        m = build_profiles(cfg, run)
        rows.append(_llm_row(f"llm-cpu profiles ({SMALL_GGUF}, 1 actor x 2 threads)", m,
                             time.perf_counter() - t))
        shutil.rmtree(run.root)
    if "vllm" not in skip:
        run = _copy(world, ("data",))
        cfg = ProfileConfig(backend="vllm", max_users=a.llm_users, max_fallback_share=1.0,
                            llm_users_per_shard=a.llm_users,
                            vllm=VllmConfig(model=SMALL_HF, cpu_per_engine=0.5,
                                            dtype="bfloat16", max_model_len=2048,
                                            max_tokens=a.max_tokens,
                                            batch_size=a.vllm_batch_size))
        t = time.perf_counter()
        m = build_profiles(cfg, run)
        rows.append(_llm_row(f"vllm profiles ({SMALL_HF} bf16, 1 CPU engine, batch "
                             f"{a.vllm_batch_size})", m, time.perf_counter() - t))
        shutil.rmtree(run.root)
    shutil.rmtree(world.root)
    for r in rows:
        print(json.dumps(r))
    print(f"{'stage':<72}{'users':>7}{'s':>8}{'users/s':>9}{'tok/s':>8}{'fallback':>9}")
    for r in rows:
        print(f"{r['stage']:<72}{r['users']:>7}{r['seconds']:>8}{r['users_per_s']:>9}"
              f"{r.get('tokens_per_s', ''):>8}{r.get('fallback_share', ''):>9}")


if __name__ == "__main__":
    main()
