"""Offline evaluation (§5.1-5.4): score a split with every trained model, report per segment.

scoring.py      Ray Data batch scoring of a samples split with one trained model bundle
report.py       metrics.json of a model: segment AUC/GAUC + α_fusion per level, mean ± std
lifts.py        relative lifts over the baseline (comparison.csv) and Table 2 rows
plots.py        GAUC lift and α_fusion per activity level (PNG)
user_aucs.py    per-user AUC units of a rolling comparison
bootstrap.py    paired user bootstrap intervals and the sign-flip test
stage.py        the evaluation stage: eval/<model>/, eval/comparison.csv, eval/plots/

Drivers that train and evaluate many models (rolling comparison, Table 1, Table 2) are in
:mod:`choirrec.experiments`.
"""

from choirrec.lazy_exports import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "evaluate": "stage", "score_split": "scoring", "comparison_rows": "lifts",
    "paired_bootstrap": "bootstrap",
})
__all__ = __dir__()
