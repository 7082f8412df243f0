"""Build group priors (§4.3): group attributes, group behaviour sequences, backoff keys.

    python -m pipelines.build_priors --run-dir runs/demo --min-group-size 20
"""

from __future__ import annotations

from choirrec.priors import build_priors
from choirrec.run_dir import RunDir
from pipelines.cli import base_parser, config_from_args, connect, setup_logging

FLAGS = {
    "min_group_size": "priors.min_group_size",
    "top_categories": "priors.top_categories",
    "items_per_category": "priors.items_per_category",
    "sequence_length": "priors.sequence_length",
}


def main(argv: list[str] | None = None) -> dict:
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--min-group-size", type=int, help="priors.min_group_size")
    p.add_argument("--top-categories", type=int, help="priors.top_categories")
    p.add_argument("--items-per-category", type=int, help="priors.items_per_category")
    p.add_argument("--sequence-length", type=int, help="priors.sequence_length")
    p.add_argument("--force", action="store_true", help="recompute even if current")
    args = p.parse_args(argv)
    setup_logging()
    cfg = config_from_args(args, FLAGS)
    connect(cfg.ray)
    return build_priors(cfg.priors, RunDir(cfg.run_dir), force=args.force)


if __name__ == "__main__":
    main()
