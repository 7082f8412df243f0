"""Embed every user's profile (§4.2.2-1), or their behaviour when categories are anonymous.

    python -m pipelines.embed --run-dir runs/demo                # auto: MiniLM or behavioral
    python -m pipelines.embed --run-dir runs/demo --embedder behavioral
"""

from __future__ import annotations

from choirrec.profiles.stage import embed_profiles
from choirrec.run_dir import RunDir
from pipelines.cli import base_parser, config_from_args, connect, setup_logging

FLAGS = {
    "embedder": "embed.embedder",
    "batch_size": "embed.batch_size",
    "concurrency": "embed.concurrency",
    "dims": "embed.dims",
}


def main(argv: list[str] | None = None) -> dict:
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--embedder", choices=["auto", "minilm", "vllm", "behavioral"],
                   help="embed.embedder")
    p.add_argument("--batch-size", type=int, help="embed.batch_size")
    p.add_argument("--concurrency", type=int, help="Ray Data actors (embed.concurrency)")
    p.add_argument("--dims", type=int, help="vLLM Matryoshka truncation (embed.dims)")
    p.add_argument("--force", action="store_true", help="recompute even if current")
    args = p.parse_args(argv)
    setup_logging()
    cfg = config_from_args(args, FLAGS)
    connect(cfg.ray)
    return embed_profiles(cfg.embed, RunDir(cfg.run_dir), force=args.force, vllm_cfg=cfg.profiles.vllm)


if __name__ == "__main__":
    main()
