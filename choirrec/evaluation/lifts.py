"""Relative lifts over the baseline (Table 1 / Fig. 5 layout) and the Table 2 rows.

A lift is ``(model / baseline - 1) · 100`` on the seed means; with paired seeds (the same seeds
for both models) its std is that of the per-seed paired lifts, which removes the shared
data noise and is what a reader should compare against the lift itself.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

N_LEVELS = 5
SEGMENT_KEYS = ["auc", "gauc", "auc_low", "gauc_low"] + [
    f"gauc_level_{lv}" for lv in range(1, N_LEVELS + 1)]
ALPHA_KEYS = [f"alpha_fusion_level_{lv}" for lv in range(1, N_LEVELS + 1)]


def _lift(m: float, b: float) -> float:
    return (m / b - 1.0) * 100.0 if b and not math.isnan(b) else float("nan")


def paired_lift(model: Mapping, base: Mapping, key: str) -> tuple[float, float]:
    """(lift % of the seed means, std % of the per-seed paired lifts).

    With per-seed reports on both sides, only the seeds both have are compared (a variant
    trained on seed 0 is set against the reference's seed 0, not its 3-seed mean); the std
    is nan with fewer than two common seeds.
    """
    ms, bs = model.get("per_seed", {}), base.get("per_seed", {})
    common = sorted(set(ms) & set(bs))
    if not common:
        return _lift(model[key], base[key]), float("nan")
    lift = _lift(float(np.mean([ms[s][key] for s in common])),
                 float(np.mean([bs[s][key] for s in common])))
    if len(common) < 2:
        return lift, float("nan")
    per = [_lift(ms[s][key], bs[s][key]) for s in common]
    return lift, float(np.std(per, ddof=1))


def comparison_rows(metrics: Mapping[str, Mapping], baseline: str = "base") -> list[dict]:
    """One row per model: each segment metric (mean, std), its lift over ``baseline`` (%)
    and, for models that have it, α_fusion per level."""
    if baseline not in metrics:
        raise KeyError(f"baseline model {baseline!r} has no metrics; train and evaluate it "
                       f"(python -m pipelines.train --model {baseline}) or set eval.baseline")
    base = metrics[baseline]
    rows = []
    for name, m in metrics.items():
        row: dict = {"model": name, "n_seeds": m.get("n_seeds", 1),
                     "n_users_gauc": m.get("n_users_gauc"),
                     "n_users_gauc_low": m.get("n_users_gauc_low")}
        for k in SEGMENT_KEYS:
            row[k] = m[k]
            row[f"{k}_std"] = m.get(f"{k}_std", float("nan"))
            row[f"{k}_lift_pct"], row[f"{k}_lift_std_pct"] = paired_lift(m, base, k)
        for k in ALPHA_KEYS:
            row[k] = m.get(k, float("nan"))
        rows.append(row)
    return rows


def ablation_rows(metrics: Mapping[str, Mapping], labels: Mapping[str, str],
                  reference: str = "choirrec") -> list[dict]:
    """Table 2: relative GAUC change (%) of each variant against the full model."""
    ref = metrics[reference]
    rows = [{"variant": reference, "label": "ChoirRec (Full Model)", "gauc_low": ref["gauc_low"],
             "gauc": ref["gauc"], "gauc_low_change_pct": 0.0, "gauc_change_pct": 0.0,
             "gauc_low_change_std_pct": 0.0, "gauc_change_std_pct": 0.0}]
    for name, label in labels.items():
        if name not in metrics:
            continue
        m = metrics[name]
        lo, lo_sd = paired_lift(m, ref, "gauc_low")
        ov, ov_sd = paired_lift(m, ref, "gauc")
        rows.append({"variant": name, "label": label, "gauc_low": m["gauc_low"],
                     "gauc": m["gauc"], "gauc_low_change_pct": lo, "gauc_change_pct": ov,
                     "gauc_low_change_std_pct": lo_sd, "gauc_change_std_pct": ov_sd})
    return rows


def format_comparison(rows: Sequence[Mapping], baseline: str = "base") -> str:
    """The comparison as a fixed-width table: GAUC (± std) and lift per segment."""
    segs = [("overall", "gauc"), ("low-act", "gauc_low")] + [
        (f"L{lv}", f"gauc_level_{lv}") for lv in range(1, N_LEVELS + 1)]
    head = f"{'model':<26}" + "".join(f"{s:>17}" for s, _ in segs)
    lines = [f"GAUC mean ± std over seeds; [lift % vs {baseline}]", head]
    for r in rows:
        cells = []
        for _, k in segs:
            sd = r[f"{k}_std"]
            cell = f"{r[k]:.4f}" + (f"±{sd:.4f}" if not math.isnan(sd) and sd > 0 else "")
            if r["model"] != baseline:
                cell = f"{r[f'{k}_lift_pct']:+.2f}%"
            cells.append(f"{cell:>17}")
        lines.append(f"{r['model']:<26}" + "".join(cells))
    alpha = [r for r in rows if not math.isnan(r.get("alpha_fusion_level_1", float("nan")))]
    for r in alpha:
        vals = " ".join(f"L{lv} {r[f'alpha_fusion_level_{lv}']:.3f}"
                        for lv in range(1, N_LEVELS + 1))
        ratio = r["alpha_fusion_level_1"] / r[f"alpha_fusion_level_{N_LEVELS}"]
        lines.append(f"α_fusion {r['model']}: {vals}  (L1/L5 = {ratio:.2f}×)")
    return "\n".join(lines)
