"""Build group priors (§4.3): group attributes, group behaviour sequences, backoff keys.

    python -m pipelines.build_priors --run-dir runs/demo --min-group-size 20
"""

from __future__ import annotations

from choirrec.priors import build_priors
from choirrec.run_dir import RunDir
from pipelines.cli import flag, stage_main

FLAGS = [
    flag("--min-group-size", "priors.min_group_size", "smaller groups back off", int),
    flag("--top-categories", "priors.top_categories", "K of §4.3.3", int),
    flag("--items-per-category", "priors.items_per_category", "items per category", int),
    flag("--sequence-length", "priors.sequence_length", "group sequence length", int),
    flag("--sequence-snapshot-days", "priors.sequence_snapshot_days",
         "days between point-in-time group-sequence snapshots (0: one static, leaky)", int),
]


def main(argv: list[str] | None = None) -> dict:
    return stage_main(__doc__, FLAGS, lambda cfg, force: build_priors(
        cfg.priors, RunDir(cfg.run_dir), force=force), argv)


if __name__ == "__main__":
    main()
