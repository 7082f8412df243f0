"""Training: the loop, Ray Train, and the stage that writes ``models/``.

loop.py             framework-free loop: Adagrad + LR decay, epochs, predict, valid metrics
ray_trainer.py      TorchTrainer worker function, checkpoints, resume, fit()
group_variants.py   groups/priors rebuilt from another embedding ("w/o LLM Emb.")
stage.py            train_model(): models/<name>/seed_<s>/, fingerprinted per seed

The feature store is :mod:`choirrec.features`; model kinds, ablations and bundles are in
:mod:`choirrec.models`.
"""

from choirrec.lazy_exports import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "train_model": "stage", "fit": "ray_trainer", "train": "loop", "predict": "loop",
})
__all__ = __dir__()
