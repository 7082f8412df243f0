"""Diagnostics behind the benchmarks: what a trained model or a run's features reveal.

headroom.py      how much of the embedded world's signal a model captures (oracle scores,
                 a converged logistic reference)
fusion_gate.py   per activity level: each channel's GAUC, the learned α_fusion and the α
                 that is best in hindsight
leakage.py       label leaks: a sample's item in its group sequence; positive rate by
                 activity count
"""

from choirrec.lazy_exports import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "gate_report": "fusion_gate", "hit_rates": "leakage",
    "activity_label_rates": "leakage", "logistic_reference": "headroom",
})
__all__ = __dir__()
