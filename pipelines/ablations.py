"""Table 2: train and evaluate the ChoirRec ablations, write eval/ablations.csv.

    python -m pipelines.ablations --run-dir runs/demo --seeds 0,1,2
    python -m pipelines.ablations --run-dir runs/demo --variants no_group_seq,kl_loss
"""

from __future__ import annotations

from choirrec.experiments.table2 import run_ablations
from choirrec.run_dir import RunDir
from pipelines.cli import flag, int_list, stage_main, str_list

FLAGS = [
    flag("--variants", "ablations.variants", "comma-separated variants (default: all)",
         str_list),
    flag("--seeds", "train.seeds", "comma-separated seeds, one model each", int_list),
    flag("--epochs", "train.epochs", "passes over the training samples", int),
]


def main(argv: list[str] | None = None) -> list[dict]:
    return stage_main(__doc__, FLAGS, lambda cfg, force: run_ablations(
        cfg, RunDir(cfg.run_dir), force=force), argv)


if __name__ == "__main__":
    main()
