"""The evaluation plots (PNG bytes): GAUC lift per activity level (Fig. 5) and mean α_fusion
per level (§5.5). Rows are :func:`choirrec.evaluation.lifts.comparison_rows`."""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence

import numpy as np

from choirrec.evaluation.lifts import N_LEVELS


def _finish_level_plot(fig, ax, ylabel: str, title: str) -> bytes:
    """Shared axes of the per-level plots, then the PNG bytes (the figure is closed)."""
    import matplotlib.pyplot as plt

    ax.set_xlabel("user activity level (1 = lowest)")
    ax.set_ylabel(ylabel)
    ax.set_xticks(np.arange(1, N_LEVELS + 1))
    ax.legend(fontsize=8)
    ax.set_title(title)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def plot_level_lifts(rows: Sequence[Mapping], baseline: str = "base") -> bytes:
    """Fig. 5: relative GAUC lift per activity level (bars with paired-seed std)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = [r for r in rows if r["model"] != baseline]
    fig, ax = plt.subplots(figsize=(7, 3.8))
    width = 0.8 / max(len(models), 1)
    x = np.arange(1, N_LEVELS + 1)
    for i, r in enumerate(models):
        lift = [r[f"gauc_level_{lv}_lift_pct"] for lv in x]
        err = [r[f"gauc_level_{lv}_lift_std_pct"] for lv in x]
        err = None if all(math.isnan(e) for e in err) else err
        ax.bar(x + (i - (len(models) - 1) / 2) * width, lift, width, yerr=err, capsize=3,
               label=r["model"])
    ax.axhline(0, color="black", lw=0.8)
    return _finish_level_plot(fig, ax, f"GAUC lift over {baseline} (%)",
                              "Relative GAUC improvement per activity level")


def plot_alpha(rows: Sequence[Mapping]) -> bytes | None:
    """Mean α_fusion per activity level (§5.5: the gate leans on the group for light users)."""
    rows = [r for r in rows if not math.isnan(r.get("alpha_fusion_level_1", float("nan")))]
    if not rows:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    x = np.arange(1, N_LEVELS + 1)
    for r in rows:
        ax.plot(x, [r[f"alpha_fusion_level_{lv}"] for lv in x], marker="o", label=r["model"])
    return _finish_level_plot(fig, ax, "mean α_fusion",
                              "Adaptive fusion weight of the group channel")
