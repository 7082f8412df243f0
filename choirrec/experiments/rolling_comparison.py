"""Paired comparison of models over rolling test days and seeds, with confidence intervals.

``compare`` runs the whole pipeline for each test day (see :mod:`~choirrec.experiments.rolling_folds`;
current stages are skipped), pools every (test day, user) unit, and for each model against the
baseline writes, per segment (overall, low-activity, activity levels), the lift with a
bootstrap interval over users and a paired p-value (:mod:`~choirrec.evaluation.bootstrap`):

  eval/compare/summary.json   {"lifts": {model: {segment: {lift, ci_low, ci_high, p_value,
                               n_users, n_units, gauc_baseline, gauc_model}}}, "test_days": ...}
  eval/compare/units.parquet  the pooled per-user AUCs (to audit or re-analyse)
  eval/compare/forest.png     lift per segment with its interval
"""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Callable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from choirrec.config import Config
from choirrec.evaluation.user_aucs import compare_units, concat_units, fold_units
from choirrec.experiments.rolling_folds import auto_test_days, fold_config, fold_run
from choirrec.pipeline import StageResult, run_pipeline
from choirrec.run_dir import RunDir, write_bytes_atomic

log = logging.getLogger(__name__)
METHOD = ("paired bootstrap over users (percentile interval) of GAUC_model / GAUC_baseline - 1; "
          "p-value: paired sign-flip permutation test of the weighted GAUC difference; "
          "per-user AUCs averaged over seeds, users pooled over rolling test days")


def read_predictions(run: RunDir, model: str, seeds: Sequence[int]) -> dict[int, pa.Table]:
    out = {}
    for s in seeds:
        p = run.path("eval", model, "predictions", f"seed_{s}.parquet")
        try:
            out[s] = pq.read_table(p, filesystem=run.fs, columns=["user_id", "label", "score"])
        except (FileNotFoundError, OSError) as e:
            raise FileNotFoundError(f"{p}: no predictions for {model} seed {s}. Fix: python -m "
                                    "pipelines.evaluate --run-dir ... (after training it)") from e
    return out


def _date(ts: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(ts))


def compare(cfg: Config, run: RunDir, progress: Callable[[str], None] | None = None) -> dict:
    """Run every test day's pipeline, pool, compare; write ``eval/compare/``; the summary."""
    cc = cfg.compare
    models = list(cc.models)
    if len(models) < 2 or len(set(models)) != len(models):
        raise ValueError(f"compare.models needs a baseline and at least one other model, "
                         f"distinct, e.g. base,choirrec; got {models}")
    seeds = list(cfg.train.seeds)
    if not seeds:
        raise ValueError("train.seeds is empty: give --seeds N (or a list)")
    say = progress or (lambda line: log.info("%s", line))
    k = cc.test_days
    per_day = None
    if k <= 0:
        from choirrec.data.prepare import prepare_data

        prepare_data(cfg.data, run)
        k, per_day = auto_test_days(run, cc.min_users, cc.max_test_days)
    parts: dict[str, list] = {m: [] for m in models[1:]}
    days = []
    for f in range(k):
        frun, fcfg = fold_run(run, f), fold_config(cfg, f)
        say(f"test day {f + 1}/{k} (holdout {f} day(s)) in {frun.uri}")

        def line(r: StageResult, f=f) -> None:
            say(f"  day -{f} {r.stage:<14} {r.status:<7} {r.seconds:7.1f} s  {r.figure}")

        run_pipeline(fcfg, frun, models, progress=line)
        split = frun.read_json("data", "dataset.json")["split"]
        activity = frun.read_table("data", "user_activity")
        preds = {m: read_predictions(frun, m, seeds) for m in models}
        for m in models[1:]:
            parts[m].append(fold_units(preds[models[0]], preds[m], activity, f))
        u = parts[models[1]][-1]
        days.append({"fold": f, "holdout_days": fcfg.data.holdout_days,
                     "test_day": _date(split["test_start"]), "run_dir": frun.uri,
                     "n_users_gauc": int(u["user_id"].size),
                     "n_users_gauc_low": int(u["low"].sum())})
    lifts, units_out = {}, []
    for m in models[1:]:
        units = concat_units(parts[m])
        res = compare_units(units, n_boot=cc.n_boot, ci=cc.ci, seed=cc.seed)
        lifts[m] = {seg: r.to_dict() for seg, r in res.items()}
        units_out.append(pa.table({**units, "model": pa.array([m] * units["user_id"].size)}))
    summary = {
        "baseline": models[0], "models": models, "seeds": seeds, "test_days": days,
        "n_test_days": k, "auto_test_days": per_day is not None,
        "eligible_users_by_day": per_day, "n_boot": cc.n_boot, "ci": cc.ci,
        "bootstrap_seed": cc.seed, "weighting": "impressions", "method": METHOD,
        "lifts": lifts,
    }
    out = run.path("eval", "compare")
    run.fs.create_dir(out, recursive=True)
    buf = io.BytesIO()
    pq.write_table(pa.concat_tables(units_out), buf)
    write_bytes_atomic(run.fs, f"{out}/units.parquet", buf.getvalue())
    write_bytes_atomic(run.fs, f"{out}/forest.png", plot_forest(summary))
    write_bytes_atomic(run.fs, f"{out}/summary.json",
                       json.dumps(summary, indent=2, sort_keys=True).encode())
    say(format_summary(summary))
    say(f"compare: {out}/summary.json, {out}/forest.png")
    return summary


def format_lift(r: dict) -> str:
    """``+0.79% [-0.40, +2.01]`` — the README's notation for every quality claim."""
    if r["lift"] != r["lift"]:
        return "n/a"
    return f"{r['lift']:+.2f}% [{r['ci_low']:+.2f}, {r['ci_high']:+.2f}]"


def format_summary(summary: dict) -> str:
    base = summary["baseline"]
    days = ", ".join(d["test_day"] for d in summary["test_days"])
    lines = [f"paired comparison over {summary['n_test_days']} test day(s) ({days}), seeds "
             f"{summary['seeds']}, {int(summary['ci'] * 100)}% bootstrap CI over users"]
    for m, segs in summary["lifts"].items():
        head = (f"{'segment':<9} {'users':>6} {'GAUC ' + base:>12} {'GAUC ' + m:>16} "
                f"{'lift [CI]':>28} {'p':>7}")
        lines += ["", f"{m} vs {base}", head, "-" * len(head)]
        for seg, r in segs.items():
            lines.append(f"{seg:<9} {r['n_users']:>6} {r['gauc_baseline']:>12.4f} "
                         f"{r['gauc_model']:>16.4f} {format_lift(r):>28} {r['p_value']:>7.3f}")
    return "\n".join(lines)


def plot_forest(summary: dict) -> bytes:
    """Lift per segment with its interval, one colour per model (a forest plot)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = list(summary["lifts"])
    segs = list(next(iter(summary["lifts"].values())))
    fig, ax = plt.subplots(figsize=(6.5, 0.45 * len(segs) * max(1, len(models)) + 1.5))
    step = 0.8 / max(1, len(models))
    for i, m in enumerate(models):
        r = [summary["lifts"][m][s] for s in segs]
        y = np.arange(len(segs))[::-1] + (i - (len(models) - 1) / 2) * step
        x = np.array([v["lift"] for v in r])
        err = np.array([[v["lift"] - v["ci_low"], v["ci_high"] - v["lift"]] for v in r]).T
        ax.errorbar(x, y, xerr=err, fmt="o", capsize=3, label=m)
    ax.axvline(0, color="grey", lw=1, ls="--")
    ax.set_yticks(np.arange(len(segs))[::-1])
    ax.set_yticklabels([f"{s} (n={summary['lifts'][models[0]][s]['n_users']})" for s in segs])
    ax.set_xlabel(f"GAUC lift over {summary['baseline']} (%), "
                  f"{int(summary['ci'] * 100)}% CI")
    ax.set_title(f"{summary['n_test_days']} test day(s) x {len(summary['seeds'])} seed(s)")
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()
