"""Behavioural embeddings on Ray Data: category frequencies -> TF-IDF -> truncated SVD.

Fit once on a deterministic sample of users (IDF and SVD need global statistics), then
transform every shard of users in parallel. Users without training-window behaviour get a
fixed neutral unit vector, so every user has an embedding and can be grouped.
"""

from __future__ import annotations

import json
import logging
import time

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import ray

from choirrec.config import EmbedConfig
from choirrec.profiles.embedders import BehavioralEmbedder
from choirrec.resources import check_actor_budget, nonempty_blocks, read_parquet
from choirrec.run_dir import RunDir, fingerprint
from choirrec.schema import EMBEDDINGS, validate_table
from choirrec.shards import ShardStore, n_shards_for, sample_users, shard_of

log = logging.getLogger(__name__)
WEIGHTS = {"pv": 1.0, "cart": 2.0, "fav": 2.0, "buy": 4.0}


def _weighted(t: pa.Table, split_ts: int) -> pa.Table:
    t = t.filter(pc.less(t.column("ts"), split_ts))
    beh = t.column("behavior").to_numpy(zero_copy_only=False)
    w = np.vectorize(WEIGHTS.get, otypes=[float])(beh) if len(beh) else np.zeros(0)
    return pa.table({"user_id": t.column("user_id"), "category_id": t.column("category_id"),
                     "weight": pa.array(w, pa.float64())})


def _matrix_inputs(t: pa.Table, users: np.ndarray):
    idx = np.searchsorted(users, t.column("user_id").to_numpy())
    return idx, t.column("category_id").to_numpy(), t.column("weight").to_numpy()


class BehavioralShardWorker:
    def __init__(self, store: ShardStore, model: BehavioralEmbedder, tag: str):
        self.store, self.model, self.tag = store, model, tag

    def __call__(self, t: pa.Table) -> pa.Table:
        shard = int(t.column("shard")[0].as_py())
        users = np.unique(t.column("user_id").to_numpy())
        ev = t.filter(pc.is_valid(t.column("category_id")))
        vec = self.model.transform(*_matrix_inputs(ev, users), users.size)
        out = pa.table({
            "user_id": pa.array(users, pa.int64()),
            "embedding": pa.FixedSizeListArray.from_arrays(pa.array(vec.ravel()), vec.shape[1]),
            "embedder": ["behavioral"] * users.size, "model": [self.model.model] * users.size,
            "source_sha256": [self.tag] * users.size})
        validate_table(out, EMBEDDINGS)
        self.store.write(shard, out)
        return pa.table({"shard": [shard], "users": [users.size], "reused": [0],
                         "embedded": [users.size]})


def embed_behavior(cfg: EmbedConfig, run: RunDir, force: bool, reason: str) -> dict:
    data_m = run.require("data", "run `python -m pipelines.prepare_data` first")
    split_ts = int(run.read_json("data", "dataset.json")["split"]["valid_start"])
    all_users = np.sort(run.read_table("data", "users", columns=["user_id"])
                        .column("user_id").to_numpy())
    n_shards = n_shards_for(all_users.size, cfg.users_per_shard)
    fp = fingerprint("embeddings", "behavioral", cfg.behavioral_dims,
                     cfg.behavioral_sample_users, data_m["fingerprint"], n_shards)
    if not force and run.is_current("embeddings", fp):
        log.info("embeddings are current in %s; skipping", run.uri)
        return run.manifest("embeddings")
    t0 = time.perf_counter()
    events = read_parquet(run, "data", "events",
                          columns=["user_id", "category_id", "behavior", "ts"])
    sample = sample_users(all_users, cfg.behavioral_sample_users)

    def sampled(t: pa.Table) -> pa.Table:
        w = _weighted(t, split_ts)
        return w.filter(pa.array(np.isin(w.column("user_id").to_numpy(), sample)))

    blocks = nonempty_blocks(events.map_batches(sampled, batch_format="pyarrow", num_cpus=0.25))
    if not blocks:
        raise ValueError("no training-window behaviour to fit the behavioural embedder on")
    fit_rows = pa.concat_tables(blocks)
    model = BehavioralEmbedder.fit(*_matrix_inputs(fit_rows, sample), sample.size,
                                   cfg.behavioral_dims)
    store = ShardStore(run.uri, run.staging("embeddings", fp), None, None, n_shards)
    done = store.done_shards()
    todo = np.asarray(sorted(set(range(n_shards)) - done))
    if todo.size:
        check_actor_budget(cfg.concurrency, cfg.num_cpus_per_actor, "embed")

        def with_shard(t: pa.Table) -> pa.Table:
            s = shard_of(t.column("user_id").to_numpy(), n_shards)
            keep = np.isin(s, todo)
            return t.filter(pa.array(keep)).append_column("shard", pa.array(s[keep]))

        def users_rows(t: pa.Table) -> pa.Table:  # every user, even without behaviour
            n = t.num_rows
            return with_shard(pa.table({"user_id": t.column("user_id"),
                                        "category_id": pa.nulls(n, pa.int64()),
                                        "weight": pa.array(np.zeros(n))}))

        ev = events.map_batches(lambda t: with_shard(_weighted(t, split_ts)),
                                batch_format="pyarrow", num_cpus=0.25)
        us = read_parquet(run, "data", "users", columns=["user_id"]).map_batches(
            users_rows, batch_format="pyarrow", num_cpus=0.25)
        out = ev.union(us).groupby("shard", num_partitions=min(todo.size, 64)).map_groups(
            BehavioralShardWorker, fn_constructor_args=(store, model, fp[:16]),
            batch_format="pyarrow", compute=ray.data.ActorPoolStrategy(size=cfg.concurrency),
                num_cpus=cfg.num_cpus_per_actor)
        nonempty_blocks(out)  # the workers write the shards; their summaries are not needed
    store.require_complete("embeddings")
    summary = {"embedder": "behavioral", "reason": reason, "dims": model.dims,
               "users": int(all_users.size), "n_shards": n_shards, "shards_resumed": len(done),
               "fit_users": int(sample.size), "vocabulary": int(model.categories.size),
               "seconds": round(time.perf_counter() - t0, 1)}
    run.commit_dir(store.staging, "embeddings", fp, summary)
    log.info("embeddings: %s", json.dumps(summary))
    return run.manifest("embeddings")
