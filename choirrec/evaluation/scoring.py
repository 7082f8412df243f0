"""Batch scoring with Ray Data: a pool of actors, each holding one model and the features.

The feature store is built once by the driver and shared through the object store; each
actor rebuilds the model from its bundle (``model.json`` + ``model.pt``) and scores blocks of
samples, returning (user_id, item_id, label, score[, alpha_fusion]).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import ray
import torch

from choirrec.config import EvalConfig
from choirrec.features.batches import SAMPLE_COLUMNS, collate
from choirrec.models.bundle import read_bundle
from choirrec.resources import nonempty_blocks, read_parquet
from choirrec.run_dir import RunDir


class BatchScorer:
    """Ray Data actor: one model, the shared feature store."""

    def __init__(self, run_uri: str, bundle_path: str, store_ref: list):
        run = RunDir(run_uri)
        torch.set_num_threads(1)
        self.model, _ = read_bundle(run.fs, bundle_path)
        self.to_tensors = collate(ray.get(store_ref[0]))

    def __call__(self, t: pa.Table) -> pa.Table:
        cols = {c: t.column(c).to_numpy() for c in SAMPLE_COLUMNS}
        b = self.to_tensors(cols)
        with torch.no_grad():
            out = self.model(b)
        res = {"user_id": t.column("user_id"), "item_id": t.column("item_id"),
               "label": t.column("label"),
               "score": pa.array(torch.sigmoid(out["logit"]).numpy().astype(np.float64))}
        if "alpha_fusion" in out:
            res["alpha_fusion"] = pa.array(out["alpha_fusion"].numpy().astype(np.float64))
        return pa.table(res)


def score_split(run: RunDir, bundle_path: str, store_ref: ray.ObjectRef, cfg: EvalConfig
                ) -> pa.Table:
    """Predictions for every sample of ``data/samples/<cfg.split>``, sorted by (user, item)."""
    ds = read_parquet(run, "data", "samples", cfg.split, columns=SAMPLE_COLUMNS)
    scored = ds.map_batches(
        BatchScorer, fn_constructor_kwargs={"run_uri": run.uri, "bundle_path": bundle_path,
                                       "store_ref": [store_ref]},
        batch_size=cfg.batch_size, batch_format="pyarrow", num_cpus=cfg.cpus_per_actor,
        compute=ray.data.ActorPoolStrategy(size=cfg.num_actors))
    blocks = nonempty_blocks(scored)
    if not blocks:
        raise ValueError(f"{run.uri}: data/samples/{cfg.split} is empty; nothing to evaluate")
    return pa.concat_tables(blocks).sort_by([("user_id", "ascending"),
                                             ("item_id", "ascending")])

