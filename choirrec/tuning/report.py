"""A sweep's outputs: ``tune/results.csv``, Fig. 6-style plots, ``tune/best.yaml``.

``results.csv`` has one row per trial (k, λ, validation GAUC overall / low-activity, AUC,
epochs run, seconds, status); ``best.yaml`` is the sweep's input config with the best k and λ
filled in — a file ``pipelines.run_all --config`` takes as is.
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from choirrec.config import Config, to_yaml
from choirrec.run_dir import RunDir, write_bytes_atomic, write_csv

COLUMNS = ("k", "lambda_kd", "valid_gauc", "valid_gauc_low", "valid_auc", "epochs",
           "time_s", "status", "trial_id")


def trial_rows(grid) -> list[dict]:
    """One row per trial of a Tune ``ResultGrid`` (its last reported metrics)."""
    rows = []
    for r in grid:
        m = r.metrics or {}
        c = r.config or {}
        nan = float("nan")
        rows.append({
            "k": int(c.get("k", -1)), "lambda_kd": float(c.get("lambda_kd", nan)),
            "valid_gauc": float(m.get("valid_gauc", nan)),
            "valid_gauc_low": float(m.get("valid_gauc_low", nan)),
            "valid_auc": float(m.get("valid_auc", nan)),
            "epochs": int(m.get("training_iteration", 0) or 0),
            "time_s": round(float(m.get("time_total_s", nan)), 1),
            "status": "error" if r.error else "ok", "trial_id": m.get("trial_id", "")})
    return sorted(rows, key=lambda x: (x["k"], x["lambda_kd"]))


def best_row(rows: Sequence[Mapping], metric: str) -> dict:
    ok = [r for r in rows if r["status"] == "ok" and not math.isnan(r.get(metric, math.nan))]
    if not ok:
        raise RuntimeError(f"no trial finished with a {metric}; see the trial errors above")
    return dict(max(ok, key=lambda r: (r[metric], -r["k"], -r["lambda_kd"])))


def best_config_yaml(cfg: Config, best: Mapping, metric: str, experiment: str) -> str:
    """The input config with the best k and λ: loadable by ``load_config`` unchanged."""
    best_cfg = dataclasses.replace(
        cfg, groups=dataclasses.replace(cfg.groups, n_clusters=int(best["k"])),
        model=dataclasses.replace(cfg.model, lambda_kd=float(best["lambda_kd"])))
    head = (f"# Best of Ray Tune sweep {experiment}: k={best['k']}, lambda={best['lambda_kd']:g}"
            f" ({metric} = {best[metric]:.4f}).\n# Use: python -m pipelines.run_all --config "
            "<this file>\n")
    return head + to_yaml(best_cfg)


def plot_fig6(rows: Sequence[Mapping], x: str, series: str, xlabel: str) -> bytes:
    """GAUC against ``x`` (one line per value of ``series``): low-activity and overall."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    xvals = sorted({r[x] for r in rows})
    # λ includes 0, so it gets evenly spaced categorical ticks; k is on a log2 axis
    pos = (lambda v: xvals.index(v)) if x == "lambda_kd" else (lambda v: v)
    for ax, metric, title in ((axes[0], "valid_gauc_low", "low-activity users"),
                              (axes[1], "valid_gauc", "all users")):
        for sv in sorted({r[series] for r in rows}):
            pts = sorted((r[x], r[metric]) for r in rows
                         if r[series] == sv and r["status"] == "ok")
            if pts:
                ax.plot([pos(p[0]) for p in pts], [p[1] for p in pts], marker="o",
                        label=f"{'λ' if series == 'lambda_kd' else 'k'}={sv:g}")
        if x == "k":
            ax.set_xscale("log", base=2)
        else:
            ax.set_xticks(range(len(xvals)), [f"{v:g}" for v in xvals])
        ax.set_xlabel(xlabel)
        ax.set_ylabel("validation GAUC")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


def format_rows(rows: Sequence[Mapping]) -> str:
    head = (f"{'k':>5} {'lambda':>8} {'GAUC':>8} {'GAUC low':>9} {'AUC':>8} {'epochs':>6} "
            f"{'seconds':>8} status")
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['k']:>5} {r['lambda_kd']:>8g} {r['valid_gauc']:>8.4f} "
                     f"{r['valid_gauc_low']:>9.4f} {r['valid_auc']:>8.4f} {r['epochs']:>6} "
                     f"{r['time_s']:>8.1f} {r['status']}")
    return "\n".join(lines)


def write_outputs(run: RunDir, cfg: Config, grid, epochs: int, experiment: str,
                  seconds: float) -> dict:
    rows = trial_rows(grid)
    best = best_row(rows, cfg.sweep.metric)
    out = run.path("tune")
    write_csv(run.fs, f"{out}/results.csv", [{c: r[c] for c in COLUMNS} for r in rows])
    write_bytes_atomic(run.fs, f"{out}/plots/gauc_vs_k.png",
                       plot_fig6(rows, "k", "lambda_kd", "k (clusters per stage)"))
    write_bytes_atomic(run.fs, f"{out}/plots/gauc_vs_lambda.png",
                       plot_fig6(rows, "lambda_kd", "k", "λ (distillation weight)"))
    write_bytes_atomic(run.fs, f"{out}/best.yaml",
                       best_config_yaml(cfg, best, cfg.sweep.metric, experiment).encode())
    summary = {"experiment": experiment, "metric": cfg.sweep.metric, "epochs": epochs,
               "n_trials": len(rows), "n_errors": sum(r["status"] != "ok" for r in rows),
               "best": best, "seconds": round(seconds, 1), "trials": rows,
               "outputs": {"results": f"{out}/results.csv", "best": f"{out}/best.yaml",
                           "plots": f"{out}/plots"}}
    write_bytes_atomic(run.fs, f"{out}/summary.json",
                       json.dumps(summary, indent=2, default=_json_default).encode())
    return summary


def _json_default(x: Any) -> Any:
    if isinstance(x, np.generic):
        return x.item()
    return str(x)
