"""The framework-free training loop: sample batches -> features -> model -> Adagrad.

Ray Train's worker function (:mod:`choirrec.training.ray_trainer`) is built from exactly
these pieces, so the same code runs in a unit test, in a benchmark, on one worker, or
data-parallel under ``TorchTrainer``. Optimiser per §5.1: Adagrad with the learning rate
decaying geometrically per step from 0.01 to 0.001 over the whole run.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator

import numpy as np
import pyarrow as pa
import torch

from choirrec.config import TrainConfig
from choirrec.features.batches import SAMPLE_COLUMNS, Batch, collate
from choirrec.features.store import FeatureStore
from choirrec.metrics import auc, gauc_with_counts
from choirrec.models.config import ModelConfig
from choirrec.models.losses import choirrec_loss
from choirrec.run_dir import RunDir


def model_config(store: FeatureStore, run: RunDir, base: ModelConfig | None = None,
                 **overrides) -> ModelConfig:
    """``base`` (hyperparameters, switches) with the vocabulary sizes of this run's data."""
    g = run.manifest("groups")
    return dataclasses.replace(
        base or ModelConfig(), n_users=store.user_vocab.size, n_items=store.item_vocab.size,
        n_categories=store.cat_vocab.size, attr_cardinalities=store.cardinalities,
        n_levels=int(g["n_stages"]) if g else 3, n_clusters=int(g["n_clusters"]) if g else 1,
        n_price_buckets=store.n_price_buckets,
        **overrides)


def table_batches(samples: pa.Table, batch_size: int, rng: np.random.Generator | None = None
                  ) -> Iterator[dict[str, np.ndarray]]:
    """Shuffled (if ``rng``) mini-batches of sample columns from an in-memory table."""
    cols = {c: samples.column(c).to_numpy() for c in SAMPLE_COLUMNS if c in samples.column_names}
    order = rng.permutation(samples.num_rows) if rng is not None else np.arange(samples.num_rows)
    for s in range(0, order.size, batch_size):
        i = order[s:s + batch_size]
        yield {k: v[i] for k, v in cols.items()}


def optimizer(model: torch.nn.Module, tc: TrainConfig, total_steps: int
              ) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    """Adagrad, lr_start -> lr_end geometrically over ``total_steps`` (§5.1)."""
    opt = torch.optim.Adagrad(model.parameters(), lr=tc.lr_start)
    gamma = (tc.lr_end / tc.lr_start) ** (1 / max(1, total_steps - 1))
    return opt, torch.optim.lr_scheduler.ExponentialLR(opt, gamma)


def run_epoch(model: torch.nn.Module, cfg: ModelConfig, opt: torch.optim.Optimizer,
              sched: torch.optim.lr_scheduler.LRScheduler, batches: Iterable[Batch]
              ) -> dict[str, float]:
    """One pass; returns sample-weighted means of the loss parts and the sample count."""
    model.train()
    sums: dict[str, float] = {}
    n = 0
    for b in batches:
        opt.zero_grad()
        out = model(b)
        loss, parts = choirrec_loss(out, b, cfg)
        if "aux_loss" in out:  # a model's own extra objective (e.g. MELT's transfer loss)
            loss = loss + out["aux_loss"]
            parts["aux_loss"] = float(out["aux_loss"].detach())
        loss.backward()
        opt.step()
        sched.step()
        k = int(b["label"].shape[0])
        for name, v in {"loss": float(loss.detach()), **parts}.items():
            sums[name] = sums.get(name, 0.0) + v * k
        n += k
    return {**{name: v / max(n, 1) for name, v in sums.items()}, "samples": n}


def train(model: torch.nn.Module, cfg: ModelConfig, tc: TrainConfig, samples: pa.Table,
          store: FeatureStore, seed: int = 0) -> list[dict[str, float]]:
    """In-process training (tests, benchmarks); returns per-epoch loss parts."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    steps = max(1, tc.epochs * -(-samples.num_rows // tc.batch_size))
    opt, sched = optimizer(model, tc, steps)
    to_tensors = collate(store)
    return [run_epoch(model, cfg, opt, sched,
                      (to_tensors(c) for c in table_batches(samples, tc.batch_size, rng)))
            for _ in range(tc.epochs)]


@torch.no_grad()
def predict_batches(model: torch.nn.Module, batches: Iterable[Batch]) -> dict[str, np.ndarray]:
    """Scores (sigmoid of the fused logit), user indices, labels and, for ChoirRec, α_fusion
    and both channels' logits (``z_ind``, ``z_grp``: benchmarks/fusion_gate.py reads them)."""
    model.eval()
    out: dict[str, list[np.ndarray]] = {"score": [], "user_index": [], "label": []}
    for b in batches:
        o = model(b)
        out["score"].append(torch.sigmoid(o["logit"]).numpy())
        out["user_index"].append(b["user_id"].numpy())
        if "label" in b:
            out["label"].append(b["label"].numpy())
        for k in ("alpha_fusion", "z_ind", "z_grp"):
            if k in o:
                out.setdefault(k, []).append(o[k].numpy())
    return {k: np.concatenate(v) for k, v in out.items() if v}


def predict(model: torch.nn.Module, samples: pa.Table, store: FeatureStore,
            batch_size: int = 8192) -> dict[str, np.ndarray]:
    to_tensors = collate(store)
    return predict_batches(model, (to_tensors(c) for c in table_batches(samples, batch_size)))


def valid_metrics(pred: dict[str, np.ndarray], store: FeatureStore) -> dict[str, float]:
    """AUC, GAUC and low-activity GAUC of a prediction dict (the per-epoch signal)."""
    y, s, u = pred["label"], pred["score"], pred["user_index"]
    low = store.low_activity[u]
    return {"valid_auc": auc(y, s), "valid_gauc": gauc_with_counts(y, s, u).gauc,
            "valid_gauc_low": gauc_with_counts(y[low], s[low], u[low]).gauc}
