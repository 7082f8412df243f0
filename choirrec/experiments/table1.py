"""Table 1: train and evaluate the base model, the four baselines and ChoirRec; ``eval/table1.*``.

Every model goes through the same pipeline — the same samples, feature store, training loop
(:func:`choirrec.training.stage.train_model`, Ray Train) and evaluation
(:func:`choirrec.evaluation.stage.evaluate`); a baseline is only a different ``--model``.
Outputs: ``eval/table1.csv`` (AUC and GAUC, low-activity and overall, mean and std over seeds,
and the paired GAUC lifts over the base model) and ``eval/table1.md`` (the paper's layout,
best in bold, second best underlined).
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Mapping, Sequence

from choirrec.config import Config
from choirrec.evaluation.lifts import paired_lift
from choirrec.evaluation.stage import eval_config_for, evaluate
from choirrec.models.registry import MODELS
from choirrec.run_dir import RunDir, write_bytes_atomic, write_csv
from choirrec.training.stage import train_model

log = logging.getLogger(__name__)

# model -> the paper's row label, in the paper's order
TABLE1: dict[str, str] = {
    "base": "Base Model",
    "poso": "POSO",
    "cold_transformer": "Cold-Transformer",
    "melt": "MELT",
    "uie": "UIE",
    "choirrec": "ChoirRec (Ours)",
}
# (metrics.json key, column header), the paper's column order
COLUMNS: list[tuple[str, str]] = [("auc_low", "AUC Low-Act."), ("auc", "AUC Overall"),
                                  ("gauc_low", "GAUC Low-Act."), ("gauc", "GAUC Overall")]


def check_models(models: Sequence[str]) -> list[str]:
    models = list(models) or list(TABLE1)
    bad = [m for m in models if m not in MODELS]
    if bad:
        raise ValueError(f"--models: unknown {bad}; use any of {', '.join(TABLE1)}")
    return models


def table1_rows(metrics: Mapping[str, Mapping], baseline: str = "base") -> list[dict]:
    """One row per model (in ``metrics`` order): the four Table 1 metrics (mean, std over
    seeds) and, if ``baseline`` was evaluated, the paired GAUC lifts over it (%)."""
    base = metrics.get(baseline)
    rows = []
    for name, m in metrics.items():
        row: dict = {"model": name, "label": TABLE1.get(name, name),
                     "n_seeds": m.get("n_seeds", 1)}
        for k, _ in COLUMNS:
            row[k] = float(m[k])
            row[f"{k}_std"] = float(m.get(f"{k}_std", float("nan")))
        for k in ("gauc_low", "gauc"):
            row[f"{k}_lift_pct"], row[f"{k}_lift_std_pct"] = (
                paired_lift(m, base, k) if base is not None else (float("nan"), float("nan")))
        rows.append(row)
    return rows


def _ranks(values: list[float]) -> list[int]:
    """1 = best, 2 = second best (ties share a rank; nan is never ranked)."""
    distinct = sorted({round(v, 4) for v in values if not math.isnan(v)}, reverse=True)
    return [distinct.index(round(v, 4)) + 1 if not math.isnan(v) else 0 for v in values]


def format_table1(rows: Sequence[Mapping]) -> str:
    """Markdown: mean ± std over seeds; best in bold, second best underlined (as in the
    paper). Ranks compare the means as printed (4 decimals)."""
    head = "| Model | " + " | ".join(h for _, h in COLUMNS) + " |"
    lines = [head, "|---|" + "---:|" * len(COLUMNS)]
    ranks = {k: _ranks([r[k] for r in rows]) for k, _ in COLUMNS}
    for i, r in enumerate(rows):
        cells = []
        for k, _ in COLUMNS:
            sd = r[f"{k}_std"]
            mean = f"{r[k]:.4f}"
            mean = {1: f"**{mean}**", 2: f"<u>{mean}</u>"}.get(ranks[k][i], mean)
            cells.append(mean + ("" if math.isnan(sd) or r.get("n_seeds", 1) < 2
                                 else f" ± {sd:.4f}"))
        lines.append(f"| {r['label']} | " + " | ".join(cells) + " |")
    n = {r.get("n_seeds", 1) for r in rows}
    lines.append("")
    lines.append(f"Mean ± std over {'/'.join(str(x) for x in sorted(n))} seed(s); best in bold, "
                 "second best underlined.")
    return "\n".join(lines)


def run_table1(cfg: Config, run: RunDir, force: bool = False) -> list[dict]:
    """Train (skipping what is current) and evaluate every Table 1 model; write the table.

    Models: ``cfg.eval.models`` (``--models``), default all of :data:`TABLE1`; seeds:
    ``cfg.train.seeds``."""
    models = check_models(cfg.eval.models)
    cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, ablation=None))
    for m in models:
        log.info("Table 1: %s (%s)", m, TABLE1.get(m, m))
        train_model(cfg, run, model=m, ablation=None, force=force)
    metrics = evaluate(eval_config_for(cfg, models), run, force=force)
    rows = table1_rows({m: metrics[m] for m in models}, cfg.eval.baseline)
    write_csv(run.fs, run.path("eval", "table1.csv"), rows)
    md = format_table1(rows)
    write_bytes_atomic(run.fs, run.path("eval", "table1.md"), (md + "\n").encode())
    print(md, flush=True)
    log.info("Table 1: %s, %s", run.path("eval", "table1.csv"), run.path("eval", "table1.md"))
    return rows
