"""Cluster users into hierarchical semantic groups with distributed RQ-KMeans (§4.2.2).

    python -m pipelines.build_groups --run-dir runs/demo
    python -m pipelines.build_groups --run-dir runs/demo --n-clusters 64 --num-shards 4
"""

from __future__ import annotations

from choirrec.grouping.stage import build_groups
from choirrec.run_dir import RunDir
from pipelines.cli import base_parser, config_from_args, connect, setup_logging

FLAGS = {
    "n_stages": "groups.n_stages",
    "n_clusters": "groups.n_clusters",
    "seed": "groups.seed",
    "num_shards": "groups.num_shards",
    "sample_per_centroid": "groups.sample_per_centroid",
    "max_iter": "groups.max_iter",
}


def main(argv: list[str] | None = None) -> dict:
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--n-stages", type=int, help="M (groups.n_stages)")
    p.add_argument("--n-clusters", type=int, help="K per stage (groups.n_clusters)")
    p.add_argument("--seed", type=int, help="groups.seed")
    p.add_argument("--num-shards", type=int, help="Ray actors (groups.num_shards)")
    p.add_argument("--sample-per-centroid", type=int, help="training sample per centroid")
    p.add_argument("--max-iter", type=int, help="Lloyd iterations per stage")
    p.add_argument("--force", action="store_true", help="recompute even if current")
    args = p.parse_args(argv)
    setup_logging()
    cfg = config_from_args(args, FLAGS)
    connect(cfg.ray)
    return build_groups(cfg.groups, RunDir(cfg.run_dir), force=args.force)


if __name__ == "__main__":
    main()
