"""Embed every user's profile (§4.2.2-1), or their behaviour when categories are anonymous.

    python -m pipelines.embed --run-dir runs/demo                # auto: MiniLM or behavioral
    python -m pipelines.embed --run-dir runs/demo --embedder behavioral
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
]


def main(argv: list[str] | None = None) -> dict:
    return stage_main(__doc__, FLAGS, lambda cfg, force: embed_profiles(
        cfg.embed, RunDir(cfg.run_dir), force=force, vllm_cfg=cfg.profiles.vllm), argv)


if __name__ == "__main__":
    main()
