"""Evaluate every trained model on the test day: metrics per activity segment, lifts, plots.

    python -m pipelines.evaluate --run-dir runs/demo
    python -m pipelines.evaluate --run-dir runs/demo --models base,choirrec --split valid

Writes eval/<model>/metrics.json, eval/<model>/predictions/, eval/comparison.csv and
eval/plots/*.png, and prints the comparison table.
"""

from __future__ import annotations

from choirrec.evaluation.stage import evaluate
from choirrec.run_dir import RunDir
from pipelines.cli import flag, stage_main, str_list

FLAGS = [
    flag("--models", "eval.models", "comma-separated model names (default: all)", str_list),
    flag("--split", "eval.split", "samples split to score", choices=["test", "valid"]),
    flag("--baseline", "eval.baseline", "lifts are relative to this model"),
    flag("--num-actors", "eval.num_actors", "Ray Data scoring actors", int),
]


def main(argv: list[str] | None = None) -> dict:
    return stage_main(__doc__, FLAGS, lambda cfg, force: evaluate(
        cfg, RunDir(cfg.run_dir), force=force), argv)


if __name__ == "__main__":
    main()
