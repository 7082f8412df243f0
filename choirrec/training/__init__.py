"""Training: features, the loop, Ray Train, the stage that writes ``models/``.

features.py      FeatureStore: ids -> model inputs (history before the sample, group priors)
loop.py          framework-free loop: collate, Adagrad + LR decay, epochs, predict
ray_trainer.py   TorchTrainer worker function, checkpoints, resume, fit()
bundle.py        model.pt + model.json: a trained model on any pyarrow filesystem
ablations.py     the Table 2 variants as named configs
variants.py      groups/priors rebuilt from another embedding ("w/o LLM Emb.")
stage.py         train_model(): models/<name>/seed_<s>/, fingerprinted per seed
"""
