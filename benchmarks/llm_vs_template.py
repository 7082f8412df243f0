"""LLM profiles against template profiles: do light users land with the right people?

    python -m benchmarks.llm_vs_template --users 1000 --k 16

One world of the embedded generator; the same users get template profiles (run A) and LLM
profiles from vLLM on CPU through ray.data.llm (run B, Qwen2.5-Coder-0.5B-Instruct); both are
embedded by the same MiniLM and grouped with the same RQ-KMeans (K per level, seed). Reported
for low-activity users at level 1: the share of their group mates that are low-activity
(the population share when groups ignore activity), the share with their own hidden persona,
each with a 95% bootstrap interval over light users; persona NMI / purity per level. The
profiles of run B are resumable (shards), so an interrupted run continues where it stopped.
Writes ``benchmarks/results/llm_vs_template.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import ray

from choirrec.config import (
    DataConfig,
    EmbedConfig,
    GroupsConfig,
    ProfileConfig,
    SyntheticConfig,
    VllmConfig,
)
from choirrec.data.prepare import prepare_data
from choirrec.grouping.report import group_ids
from choirrec.grouping.stage import build_groups
from choirrec.profiles.embed_stage import embed_profiles
from choirrec.profiles.stage import build_profiles
from choirrec.run_dir import RunDir

RESULTS = Path(__file__).parent / "results" / "llm_vs_template.json"


def mate_shares(g: np.ndarray, flag: np.ndarray) -> np.ndarray:
    """Per user: share of its group mates with ``flag`` (NaN when alone)."""
    in_group = np.bincount(g, weights=flag.astype(np.float64))
    mates = np.bincount(g)[g] - 1
    return np.where(mates > 0, (in_group[g] - flag) / np.maximum(mates, 1), np.nan)


def same_persona_shares(g: np.ndarray, persona: np.ndarray) -> np.ndarray:
    key = g.astype(np.int64) * (int(persona.max()) + 1) + persona
    _, inv, cnt = np.unique(key, return_inverse=True, return_counts=True)
    mates = np.bincount(g)[g] - 1
    return np.where(mates > 0, (cnt[inv] - 1) / np.maximum(mates, 1), np.nan)


def mean_ci(x: np.ndarray, n_boot: int = 2000, seed: int = 0) -> list[float]:
    """Mean and 95% bootstrap interval over users (NaNs — users alone — left out)."""
    x = x[~np.isnan(x)]
    rng = np.random.default_rng(seed)
    boots = rng.choice(x, size=(n_boot, x.size), replace=True).mean(axis=1)
    return [round(float(x.mean()), 4), round(float(np.quantile(boots, 0.025)), 4),
            round(float(np.quantile(boots, 0.975)), 4)]


def light_user_metrics(run: RunDir) -> dict:
    asg = run.read_table("groups", "assignments").sort_by("user_id")
    uid = asg.column("user_id").to_numpy()
    codes = np.stack([asg.column(c).to_numpy() for c in asg.column_names if c[:1] == "g"
                      and c[1:].isdigit()], axis=1)
    act = run.read_table("data", "user_activity")
    low = act.take(pc.index_in(asg.column("user_id"), act.column("user_id"))).column(
        "low_activity").to_numpy(zero_copy_only=False).astype(bool)
    per = run.read_table("data", "personas")
    persona = per.take(pc.index_in(asg.column("user_id"), per.column("user_id"))).column(
        "persona_id").to_numpy()
    g = group_ids(codes, 1)
    report = run.read_json("groups", "report.json")["levels"]
    return {"users": int(uid.size), "low_users": int(low.sum()),
            "low_share": round(float(low.mean()), 4),
            "level1_groups": int(np.unique(g).size),
            "low_mates_of_low": mean_ci(mate_shares(g, low)[low]),
            "low_mates_of_rest": mean_ci(mate_shares(g, low)[~low]),
            "same_persona_low": mean_ci(same_persona_shares(g, persona)[low]),
            "same_persona_rest": mean_ci(same_persona_shares(g, persona)[~low]),
            "persona_nmi_purity": {lv: [round(d["personas"]["nmi"], 4),
                                        round(d["personas"]["purity"], 4)]
                                   for lv, d in report.items() if "personas" in d}}


def arm(world: RunDir, root: Path, name: str, profiles: ProfileConfig, k: int) -> dict:
    run_path = root / name
    if not (run_path / "data").exists():
        shutil.copytree(world.path("data"), run_path / "data")
    run = RunDir(str(run_path))
    t = time.perf_counter()
    pm = build_profiles(profiles, run)
    tp = time.perf_counter() - t
    embed_profiles(EmbedConfig(embedder="minilm"), run)
    build_groups(GroupsConfig(n_clusters=k), run)
    return {"profiles": {k2: pm.get(k2) for k2 in ("backend", "users", "tokens", "fallback",
                                                    "fallback_share", "tokens_per_s")},
            "profile_seconds": round(tp, 1), **light_user_metrics(run)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--users", type=int, default=1000)
    p.add_argument("--k", type=int, default=16, help="clusters per RQ-KMeans level")
    p.add_argument("--seed", type=int, default=0, help="the world's seed")
    p.add_argument("--max-tokens", type=int, default=256)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--max-fallback-share", type=float, default=0.25,
                   help="the 0.5B model's malformed-answer share was 16%% in benchmarks.profiles")
    p.add_argument("--workdir", default="runs/llm_vs_template")
    a = p.parse_args()
    ray.init(address=os.environ.get("RAY_ADDRESS"), include_dashboard=False,
             log_to_driver=False)
    root = Path(a.workdir)
    world = RunDir(str(root / "world"))
    prepare_data(DataConfig(synthetic=SyntheticConfig(users=a.users, seed=a.seed)), world)
    template = arm(world, root, "template", ProfileConfig(), a.k)
    llm = arm(world, root, "vllm", ProfileConfig(
        backend="vllm", llm_users_per_shard=64, max_fallback_share=a.max_fallback_share,
        vllm=VllmConfig(
            model="qwen2.5-coder-0.5b-instruct", cpu_per_engine=0.5, dtype="bfloat16",
            max_model_len=2048, max_tokens=a.max_tokens, batch_size=a.batch_size)), a.k)
    out = {"command": "python -m benchmarks.llm_vs_template " + " ".join(
        f"--{k.replace('_', '-')} {v}" for k, v in vars(a).items()),
        "date": time.strftime("%Y-%m-%d"), "users": a.users, "k": a.k,
        "template": template, "vllm": llm}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2))
    print(json.dumps(out))
    keys = ("low_mates_of_low", "low_mates_of_rest", "same_persona_low", "same_persona_rest")
    print(f"{'level 1 (mean [95% CI])':<24}{'template':>28}{'vLLM profiles':>28}")
    for key in keys:
        print(f"{key:<24}{str(template[key]):>28}{str(llm[key]):>28}")
    for lv in template["persona_nmi_purity"]:
        print(f"{lv + ' NMI / purity':<24}{str(template['persona_nmi_purity'][lv]):>28}"
              f"{str(llm['persona_nmi_purity'][lv]):>28}")


if __name__ == "__main__":
    main()
