"""Experiment drivers: each trains and evaluates many models, or runs the whole pipeline.

rolling_folds.py        rolling-origin test days: one run directory per fold
rolling_comparison.py   compare(): the pipeline per test day, paired bootstrap lifts
table1.py               run_table1(): base, ChoirRec and the paper's baselines (Table 1)
table2.py               run_ablations(): ChoirRec's ablation variants (Table 2)

They sit above :mod:`choirrec.pipeline` and the stages; nothing in the library imports them.
"""

from choirrec.lazy_exports import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "compare": "rolling_comparison", "run_table1": "table1", "run_ablations": "table2",
})
__all__ = __dir__()
