"""Table 1: train and evaluate base, the baselines and ChoirRec, write eval/table1.csv + .md.

    python -m pipelines.table1 --run-dir runs/demo --seeds 0,1,2
    python -m pipelines.table1 --run-dir runs/demo --models base,poso,choirrec
"""

from __future__ import annotations

from choirrec.experiments.table1 import run_table1
from choirrec.run_dir import RunDir
from pipelines.cli import flag, int_list, stage_main, str_list

FLAGS = [
    flag("--models", "eval.models", "comma-separated models (default: all of Table 1)",
         str_list),
    flag("--seeds", "train.seeds", "comma-separated seeds, one model each", int_list),
    flag("--epochs", "train.epochs", "passes over the training samples", int),
]


def main(argv: list[str] | None = None) -> list[dict]:
    return stage_main(__doc__, FLAGS, lambda cfg, force: run_table1(
        cfg, RunDir(cfg.run_dir), force=force), argv)


if __name__ == "__main__":
    main()
