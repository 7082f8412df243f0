"""Table 2: train and evaluate each ablation variant, then ``eval/ablations.csv``.

Every variant is trained with the same seeds as the full model (paired), so a variant's
change is read against the spread of per-seed paired changes, not of raw GAUCs.
"""

from __future__ import annotations

import logging
import math

from choirrec.config import Config
from choirrec.evaluation.lifts import ablation_rows
from choirrec.evaluation.stage import eval_config_for, evaluate
from choirrec.models.registry import ABLATIONS, model_name
from choirrec.run_dir import RunDir, write_csv
from choirrec.training.stage import train_model

log = logging.getLogger(__name__)


def format_ablations(rows: list[dict]) -> str:
    lines = ["Relative GAUC change (%) vs the full model (± std of paired per-seed changes)",
             f"{'variant':<28}{'low-activity':>20}{'overall':>20}"]
    for r in rows:
        cells = []
        for k in ("gauc_low_change", "gauc_change"):
            sd = r[f"{k}_std_pct"]
            cells.append(f"{r[f'{k}_pct']:+.2f}%" + ("" if math.isnan(sd) or sd == 0
                                                      else f" ± {sd:.2f}"))
        lines.append(f"{r['label']:<28}{cells[0]:>20}{cells[1]:>20}")
    return "\n".join(lines)


def run_ablations(cfg: Config, run: RunDir, force: bool = False) -> list[dict]:
    variants = list(cfg.ablations.variants) or list(ABLATIONS)
    unknown = [v for v in variants if v not in ABLATIONS]
    if unknown:
        raise ValueError(f"ablations.variants: unknown {unknown}; use any of {list(ABLATIONS)}")
    reference = cfg.ablations.reference
    names = [reference]
    train_model(cfg, run, model="choirrec", ablation=None, force=force)
    for v in variants:
        log.info("ablation %s (%s)", v, ABLATIONS[v][0])
        train_model(cfg, run, model="choirrec", ablation=v, force=force)
        names.append(model_name("choirrec", v))
    metrics = evaluate(eval_config_for(cfg, names), run, force=force)
    rows = ablation_rows(metrics, {model_name("choirrec", v): ABLATIONS[v][0]
                                   for v in variants}, reference)
    write_csv(run.fs, run.path("eval", "ablations.csv"), rows)
    print(format_ablations(rows), flush=True)
    log.info("ablations: %s", run.path("eval", "ablations.csv"))
    return rows
