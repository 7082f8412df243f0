"""Write a semantic profile per user (§4.2.1) with Ray Data actors.

    python -m pipelines.build_profiles --run-dir runs/demo                       # template
    python -m pipelines.build_profiles --run-dir runs/demo --profile-backend llm-cpu --max-users 64
"""

from __future__ import annotations

from choirrec.profiles.stage import build_profiles
from choirrec.run_dir import RunDir
from pipelines.cli import flag, stage_main

FLAGS = [
    flag("--profile-backend", "profiles.backend", "template | llm-cpu | vllm",
         choices=["template", "llm-cpu", "vllm"]),
    flag("--max-users", "profiles.max_users", "profile a deterministic sample of N users", int),
    flag("--concurrency", "profiles.concurrency", "Ray Data actors", int),
    flag("--users-per-shard", "profiles.users_per_shard", "unit of resumption", int),
    flag("--llm-model", "profiles.llm_cpu.model", "pinned GGUF name"),
    flag("--llm-model-path", "profiles.llm_cpu.model_path", "any GGUF file"),
    flag("--vllm-model", "profiles.vllm.model", "vLLM model"),
    flag("--infer-interests", "profiles.infer_interests",
         "template: fill sparse users' interest lists to N categories from similar shoppers "
         "(0 = off)", int),
    flag("--interest-smoothing", "profiles.interest_smoothing",
         "pseudo-counts at the base rate per attribute value / co-purchase row", float),
]


def main(argv: list[str] | None = None) -> dict:
    return stage_main(__doc__, FLAGS, lambda cfg, force: build_profiles(
        cfg.profiles, RunDir(cfg.run_dir), force=force), argv)


if __name__ == "__main__":
    main()
