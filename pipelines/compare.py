"""Paired comparison of models on rolling test days and seeds, with 95% intervals.

    python -m pipelines.compare --run-dir runs/demo --models base,choirrec
    python -m pipelines.compare --config configs/demo.yaml --test-days 3 --seeds 3

Each test day is a run directory of its own (the run directory for the last day,
``folds/holdout_<f>/`` for earlier ones) built by the whole pipeline on the log truncated
before it; stages already current are skipped. Writes eval/compare/summary.json (lift,
ci_low, ci_high, p_value, n_users per model and segment), eval/compare/forest.png and
eval/compare/units.parquet, and prints the table.
"""

from __future__ import annotations

from choirrec.experiments.rolling_comparison import compare
from choirrec.run_dir import RunDir
from pipelines.cli import flag, seed_list, stage_main, str_list

FLAGS = [
    flag("--models", "compare.models", "comma-separated models, the baseline first",
         str_list),
    flag("--test-days", "compare.test_days", "rolling test days K (0: auto)", int),
    flag("--max-test-days", "compare.max_test_days", "cap of the automatic K", int),
    flag("--min-users", "compare.min_users",
         "auto K: pooled GAUC-eligible low-activity users to reach", int),
    flag("--seeds", "train.seeds", "N seeds (0..N-1) or a comma list", seed_list),
    flag("--n-boot", "compare.n_boot", "bootstrap resamples", int),
    flag("--ci", "compare.ci", "confidence level", float),
    flag("--bootstrap-seed", "compare.seed", "seed of the bootstrap", int),
]


def main(argv: list[str] | None = None) -> dict:
    return stage_main(__doc__, FLAGS, lambda cfg, _force: compare(
        cfg, RunDir(cfg.run_dir), progress=lambda line: print(line, flush=True)), argv,
        force_flag=False)


if __name__ == "__main__":
    main()
