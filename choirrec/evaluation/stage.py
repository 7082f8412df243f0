"""The evaluation stage: every trained model scored on a split, reported per segment.

Outputs (each model's directory is its own atomic, fingerprinted stage):
  eval/<model>/predictions/seed_<s>.parquet   user_id, item_id, label, score[, alpha_fusion]
  eval/<model>/metrics.json                   see :mod:`choirrec.evaluation.report`
  eval/comparison.csv                         lifts over the baseline (Table 1 / Fig. 5)
  eval/plots/gauc_lift_by_level.png, eval/plots/alpha_fusion_by_level.png
"""

from __future__ import annotations

import dataclasses
import logging
import time

import pyarrow.parquet as pq
import ray

from choirrec.config import Config
from choirrec.evaluation.lifts import comparison_rows, format_comparison
from choirrec.evaluation.plots import plot_alpha, plot_level_lifts
from choirrec.evaluation.report import aggregate, seed_metrics
from choirrec.evaluation.scoring import score_split
from choirrec.features.loader import load_feature_store, uses_negatives
from choirrec.models.bundle import feature_run_dir, read_spec, trained_models
from choirrec.run_dir import RunDir, fingerprint, write_bytes_atomic, write_csv

log = logging.getLogger(__name__)
CODE_VERSION = "eval-v1"


def evaluate_model(run: RunDir, name: str, seeds: dict[int, dict], cfg: Config,
                   stores: dict[str, ray.ObjectRef], force: bool = False) -> dict:
    """Score one model (every seed) and write ``eval/<name>/``; returns its metrics."""
    ec = cfg.eval
    data_m = run.require("data", "run `python -m pipelines.prepare_data` first")
    fp = fingerprint(CODE_VERSION, name, ec.split, data_m["fingerprint"],
                     {s: m["fingerprint"] for s, m in sorted(seeds.items())})
    if not (force or ec.force) and run.is_current(f"eval/{name}", fp):
        log.info("eval/%s is current; skipping", name)
        return run.read_json("eval", name, "metrics.json")
    activity = run.read_table("data", "user_activity")
    per_seed, preds = {}, {}
    for seed in sorted(seeds):
        path = run.path("models", name, f"seed_{seed}")
        spec = read_spec(run.fs, path)
        frel, priors = spec["feature_run"], bool(spec.get("uses_priors", True))
        hist_len = int(spec["train_config"]["hist_len"])
        negatives = uses_negatives(spec["kind"])
        key = f"{frel}|{priors}|{hist_len}|{negatives}"
        if key not in stores:
            stores[key] = ray.put(load_feature_store(feature_run_dir(run, spec), hist_len,
                                                     with_priors=priors,
                                                     with_negatives=negatives))
        t = time.perf_counter()
        preds[seed] = score_split(run, path, stores[key], ec)
        per_seed[seed] = seed_metrics(preds[seed], activity)
        log.info("eval %s seed %d: %d samples scored in %.1f s, GAUC %.4f (low %.4f)", name,
                 seed, preds[seed].num_rows, time.perf_counter() - t, per_seed[seed]["gauc"],
                 per_seed[seed]["gauc_low"])
    metrics = {"model": name, "split": ec.split, **aggregate(per_seed)}
    with run.stage(f"eval/{name}", fp, {"seeds": sorted(seeds)}) as w:
        run.fs.create_dir(w.path("predictions"), recursive=True)
        for seed, table in preds.items():
            pq.write_table(table, w.path("predictions", f"seed_{seed}.parquet"),
                           filesystem=run.fs)
        w.write_json("metrics.json", metrics)
    return metrics


def evaluate(cfg: Config, run: RunDir, force: bool = False) -> dict[str, dict]:
    """Evaluate the configured (default: all) trained models; write the comparison."""
    models = trained_models(run)
    wanted = list(cfg.eval.models) or list(models)
    missing = [m for m in wanted if m not in models]
    if missing or not wanted:
        raise FileNotFoundError(
            f"{run.uri}: no trained model(s) {missing or '(none at all)'} under models/. Fix: "
            "python -m pipelines.train --run-dir ... --model base|choirrec")
    stores: dict[str, ray.ObjectRef] = {}
    results = {name: evaluate_model(run, name, models[name], cfg, stores, force)
               for name in wanted}
    main = {n: m for n, m in results.items() if "-" not in n}  # ablations go to ablations.csv
    if cfg.eval.baseline in main:
        rows = comparison_rows(main, cfg.eval.baseline)
        write_csv(run.fs, run.path("eval", "comparison.csv"), rows)
        write_bytes_atomic(run.fs, run.path("eval", "plots", "gauc_lift_by_level.png"),
                           plot_level_lifts(rows, cfg.eval.baseline))
        alpha_png = plot_alpha(rows)
        if alpha_png:
            write_bytes_atomic(run.fs, run.path("eval", "plots", "alpha_fusion_by_level.png"),
                               alpha_png)
        print(format_comparison(rows, cfg.eval.baseline), flush=True)
        log.info("comparison: %s; plots: %s", run.path("eval", "comparison.csv"),
                 run.path("eval", "plots"))
    elif main:  # only Table 2 variants asked for (pipelines.ablations): nothing to compare
        log.warning("baseline %r not evaluated: no comparison.csv (train it first)",
                    cfg.eval.baseline)
    return results


def eval_config_for(cfg: Config, models: list[str]) -> Config:
    return dataclasses.replace(cfg, eval=dataclasses.replace(cfg.eval, models=tuple(models)))
