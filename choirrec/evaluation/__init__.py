"""Offline evaluation (§5.1-5.4): score a split with every trained model, report per segment.

scoring.py      Ray Data batch scoring of a samples split with one trained model bundle
report.py       metrics.json of a model: segment AUC/GAUC + α_fusion per level, mean ± std
comparison.py   comparison.csv (lifts over base) / ablations.csv and the PNG plots
stage.py        the evaluation stage: eval/<model>/, eval/comparison.csv, eval/plots/
"""
