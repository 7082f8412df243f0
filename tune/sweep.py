"""Sweep k (groups per stage) and λ (distillation weight) on Ray Tune (§5.5, Fig. 6).

    python -m tune.sweep --run-dir runs/demo --k 32,64,128,256,512 --lambda 0,0.001,0.005,0.01,0.05
    ray job submit --working-dir . -- python -m tune.sweep --config configs/demo.yaml --k 64,256

Needs a run directory with data and embeddings (``python -m pipelines.run_all``). Writes
tune/results.csv, tune/plots/gauc_vs_k.png and gauc_vs_lambda.png, tune/best.yaml (a config
for ``pipelines.run_all``) and tune/summary.json; rerunning resumes an interrupted sweep.
"""

from __future__ import annotations

import logging

from choirrec.run_dir import RunDir
from choirrec.tuning.report import format_rows
from choirrec.tuning.sweep import run_sweep
from pipelines.cli import flag, stage_main, str_list


def float_list(text: str) -> list[float]:
    import argparse

    try:
        return [float(x) for x in str_list(text)]
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from e


def int_values(text: str) -> list[int]:
    from pipelines.cli import int_list

    return int_list(text)


FLAGS = [
    flag("--k", "sweep.k", "comma-separated k values (clusters per RQ-KMeans stage)", int_values),
    flag("--lambda", "sweep.lambdas", "comma-separated λ values", float_list),
    flag("--metric", "sweep.metric", "validation metric to maximise",
         choices=["valid_gauc_low", "valid_gauc", "valid_auc"]),
    flag("--epochs", "sweep.epochs", "epochs per trial (default: train.epochs)", int),
    flag("--search", "sweep.search", "grid, or optuna sampling of the grid",
         choices=["grid", "optuna"]),
    flag("--num-samples", "sweep.num_samples", "trials (optuna)", int),
    flag("--max-concurrent-trials", "sweep.max_concurrent_trials", "parallel trials", int),
    flag("--cpus-per-trial", "sweep.cpus_per_trial", "CPU share of each driver trainable",
         float),
    flag("--name", "sweep.name", "Tune experiment name (default: derived from settings)"),
]


def main(argv: list[str] | None = None) -> dict:
    def run(cfg, _force):
        s = run_sweep(cfg, RunDir(cfg.run_dir))
        print(format_rows(s["trials"]), flush=True)
        b = s["best"]
        print(f"\nbest: k={b['k']}, λ={b['lambda_kd']:g} ({s['metric']} "
              f"{b[s['metric']]:.4f}); {s['outputs']['best']}", flush=True)
        logging.getLogger(__name__).info("sweep outputs: %s", s["outputs"])
        return s
    return stage_main(__doc__, FLAGS, run, argv, force_flag=False)


if __name__ == "__main__":
    main()
