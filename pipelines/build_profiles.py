"""Write a semantic profile per user (§4.2.1) with Ray Data actors.

    python -m pipelines.build_profiles --run-dir runs/demo                       # template
    python -m pipelines.build_profiles --run-dir runs/demo --profile-backend llm-cpu --max-users 64
"""

from __future__ import annotations

from choirrec.profiles.stage import build_profiles
from choirrec.run_dir import RunDir
from pipelines.cli import base_parser, config_from_args, connect, setup_logging

FLAGS = {
    "profile_backend": "profiles.backend",
    "max_users": "profiles.max_users",
    "concurrency": "profiles.concurrency",
    "users_per_shard": "profiles.users_per_shard",
    "llm_model": "profiles.llm_cpu.model",
    "llm_model_path": "profiles.llm_cpu.model_path",
    "vllm_model": "profiles.vllm.model",
}


def main(argv: list[str] | None = None) -> dict:
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--profile-backend", choices=["template", "llm-cpu", "vllm"],
                   help="profiles.backend")
    p.add_argument("--max-users", type=int, help="profile a deterministic sample of N users")
    p.add_argument("--concurrency", type=int, help="Ray Data actors (profiles.concurrency)")
    p.add_argument("--users-per-shard", type=int, help="profiles.users_per_shard")
    p.add_argument("--llm-model", help="pinned GGUF name (profiles.llm_cpu.model)")
    p.add_argument("--llm-model-path", help="any GGUF file (profiles.llm_cpu.model_path)")
    p.add_argument("--vllm-model", help="profiles.vllm.model")
    p.add_argument("--force", action="store_true", help="recompute even if current")
    args = p.parse_args(argv)
    setup_logging()
    cfg = config_from_args(args, FLAGS)
    connect(cfg.ray)
    return build_profiles(cfg.profiles, RunDir(cfg.run_dir), force=args.force)


if __name__ == "__main__":
    main()
