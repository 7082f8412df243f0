"""Cluster users into hierarchical semantic groups with distributed RQ-KMeans (§4.2.2).

    python -m pipelines.build_groups --run-dir runs/demo
    python -m pipelines.build_groups --run-dir runs/demo --n-clusters 64 --num-shards 4
"""

from __future__ import annotations

from choirrec.grouping.stage import build_groups
from choirrec.run_dir import RunDir
from pipelines.cli import flag, stage_main

FLAGS = [
    flag("--n-stages", "groups.n_stages", "M", int),
    flag("--n-clusters", "groups.n_clusters", "K per stage", int),
    flag("--seed", "groups.seed", "seed", int),
    flag("--num-shards", "groups.num_shards", "Ray actors holding the embeddings", int),
    flag("--sample-per-centroid", "groups.sample_per_centroid", "training sample", int),
    flag("--max-iter", "groups.max_iter", "Lloyd iterations per stage", int),
]


def main(argv: list[str] | None = None) -> dict:
    return stage_main(__doc__, FLAGS, lambda cfg, force: build_groups(
        cfg.groups, RunDir(cfg.run_dir), force=force), argv)


if __name__ == "__main__":
    main()
