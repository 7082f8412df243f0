"""The embeddings stage on Ray Data (``embeddings/``): one L2-normalised vector per user.

The same pattern as the profile stage over the ``profiles`` artifact — hash-partitioned by
shard, an actor pool that loads the model once — resumable and incremental through
:mod:`choirrec.shards` (a user whose profile text is unchanged keeps its vector). The
behavioural embedder reads events instead (:mod:`choirrec.profiles.behavioral_stage`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import time

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import ray

from choirrec.config import EmbedConfig
from choirrec.profiles.embedders import MiniLMEmbedder
from choirrec.resources import check_actor_budget, nonempty_blocks, read_parquet, shard_actor_pool
from choirrec.run_dir import RunDir, fingerprint
from choirrec.schema import EMBEDDINGS, validate_table
from choirrec.shards import (
    ShardCollector,
    ShardStore,
    expected_rows,
    n_shards_for,
    shard_of,
    stage_store,
)

log = logging.getLogger(__name__)


def choose_embedder(cfg: EmbedConfig, run: RunDir) -> tuple[str, str]:
    """(embedder, reason). ``auto``: MiniLM over profiles if categories have names, else the
    behavioural embedder (anonymised data such as the Taobao sample)."""
    if cfg.embedder != "auto":
        if cfg.embedder not in ("minilm", "vllm", "behavioral"):
            raise ValueError(f"embed.embedder must be auto, minilm, vllm or behavioral, got "
                             f"{cfg.embedder!r}")
        return cfg.embedder, "chosen in config"
    names = run.read_table("data", "items", columns=["category_name"]).column("category_name")
    if names.null_count == len(names):
        return "behavioral", ("auto: the dataset's categories have no names, so profiles carry "
                              "little semantics; using the behavioural embedder")
    return "minilm", "auto: named categories; embedding the semantic profiles with MiniLM"


def _vectors(v: np.ndarray) -> pa.FixedSizeListArray:
    v = np.ascontiguousarray(v, dtype=np.float32)
    return pa.FixedSizeListArray.from_arrays(pa.array(v.ravel()), v.shape[1])


EMB_KEY = ["user_id", "source_sha256", "embedder", "model"]


class TextEmbedShardWorker:
    """Ray Data actor: one shard of profiles -> MiniLM embeddings (incremental)."""

    def __init__(self, store: ShardStore, cfg: EmbedConfig):
        self.store = store
        # share the node's cores among the pool's actors (torch would otherwise oversubscribe)
        threads = max(1, (os.cpu_count() or 1) // max(1, cfg.concurrency))
        self.emb = MiniLMEmbedder(cfg.batch_size, cfg.dtype, n_threads=threads)

    def __call__(self, t: pa.Table) -> pa.Table:
        shard = int(t.column("shard")[0].as_py())
        t0 = time.perf_counter()
        sha = [hashlib.sha256(p.encode()).hexdigest() for p in t.column("profile").to_pylist()]
        n = t.num_rows
        keys = pa.table({"user_id": t.column("user_id"), "source_sha256": sha,
                         "embedder": [self.emb.name] * n, "model": [self.emb.model] * n})
        reused = self.store.reusable(shard, keys, EMB_KEY)
        seen = set(reused.column("user_id").to_pylist()) if reused is not None else set()
        todo = [i for i, u in enumerate(t.column("user_id").to_pylist()) if u not in seen]
        texts = [t.column("profile")[i].as_py() for i in todo]
        uniq, inverse = np.unique(np.asarray(texts, dtype=object), return_inverse=True) \
            if texts else (np.asarray([], dtype=object), np.zeros(0, dtype=np.int64))
        vec = self.emb(list(uniq))[inverse]  # sparse users often share one profile text
        new = pa.table({"user_id": pa.array([t.column("user_id")[i].as_py() for i in todo],
                                            pa.int64()),
                        "embedding": _vectors(vec.reshape(len(todo), self.emb.dims)),
                        "embedder": pa.array([self.emb.name] * len(todo), pa.string()),
                        "model": pa.array([self.emb.model] * len(todo), pa.string()),
                        "source_sha256": pa.array([sha[i] for i in todo], pa.string())})
        out = new if reused is None else pa.concat_tables(
            [reused.select(new.column_names).cast(new.schema), new])
        out = out.sort_by("user_id")
        validate_table(out, EMBEDDINGS)
        self.store.write(shard, out)
        return pa.table({"shard": [shard], "users": [out.num_rows], "reused": [len(seen)],
                         "embedded": [len(todo)], "seconds": [time.perf_counter() - t0]})


def embed_fingerprint(cfg: EmbedConfig, embedder: str, source_fp: str, n_shards: int,
                      vllm_cfg=None) -> str:
    c = dataclasses.asdict(cfg)
    for k in ("concurrency", "num_cpus_per_actor", "batch_size"):
        c.pop(k)
    if embedder == "vllm" and vllm_cfg is not None:  # which model embedded, and how
        c["vllm"] = [vllm_cfg.embed_model, vllm_cfg.embed_dtype, vllm_cfg.embed_max_model_len]
    return fingerprint("embeddings", embedder, c, source_fp, n_shards)


def embed_profiles(cfg: EmbedConfig, run: RunDir, force: bool = False,
                   vllm_cfg=None) -> dict:
    """The ``embeddings`` artifact (L2-normalised float32 vectors, one per user)."""
    embedder, reason = choose_embedder(cfg, run)
    log.info("embeddings: %s (%s)", embedder, reason)
    if embedder == "behavioral":
        from choirrec.profiles.behavioral_stage import embed_behavior

        return embed_behavior(cfg, run, force, reason)
    prof_m = run.require("profiles", "run `python -m pipelines.build_profiles` first")
    n_users = int(prof_m["users"])
    n_shards = n_shards_for(n_users, cfg.users_per_shard)
    if embedder == "vllm" and vllm_cfg is None:
        raise ValueError("embed.embedder is vllm but no profiles.vllm config was given")
    fp = embed_fingerprint(cfg, embedder, prof_m["fingerprint"], n_shards, vllm_cfg)
    if not force and run.is_current("embeddings", fp):
        log.info("embeddings are current in %s; skipping", run.uri)
        return run.manifest("embeddings")
    store = stage_store(run, "embeddings", fp, n_shards)
    done = store.done_shards()
    todo = np.asarray(sorted(set(range(n_shards)) - done))
    t0 = time.perf_counter()
    summaries: list[pa.Table] = []
    if todo.size:
        def add_shard(t: pa.Table) -> pa.Table:
            s = shard_of(t.column("user_id").to_numpy(), n_shards)
            keep = np.isin(s, todo)
            return t.filter(pa.array(keep)).append_column("shard", pa.array(s[keep]))

        ds = read_parquet(run, "profiles", columns=["user_id", "profile"]).map_batches(
            add_shard, batch_format="pyarrow", num_cpus=0.25)
        if embedder == "vllm":
            summaries = _embed_vllm(ds, store, vllm_cfg, cfg.dims, expected_rows(
                run.read_table("profiles", columns=["user_id"]).column("user_id").to_numpy(),
                n_shards, todo))
        else:
            check_actor_budget(cfg.concurrency, cfg.num_cpus_per_actor, "embed")
            out = ds.groupby("shard", num_partitions=min(todo.size, 64)).map_groups(
                TextEmbedShardWorker, fn_constructor_args=(store, cfg), batch_format="pyarrow",
                compute=shard_actor_pool(cfg.concurrency),
                num_cpus=cfg.num_cpus_per_actor)
            summaries = nonempty_blocks(out)
    store.require_complete("embeddings")
    s = pa.concat_tables(summaries) if summaries else None
    if embedder == "minilm":
        dims, model = MiniLMEmbedder.dims, MiniLMEmbedder.model
    else:  # the width vLLM's vectors were written with (the model's, or the truncation's)
        dims = store.read_schema().field("embedding").type.list_size
        model = vllm_cfg.embed_model
    summary = {"embedder": embedder, "model": model, "reason": reason, "dims": dims,
               "users": n_users,
               "n_shards": n_shards, "shards_resumed": len(done),
               **({k: int(pc.sum(s.column(k)).as_py()) for k in ("reused", "embedded")}
                  if s else {}),
               "seconds": round(time.perf_counter() - t0, 1)}
    run.commit_dir(store.staging, "embeddings", fp, summary)
    log.info("embeddings: %s", json.dumps(summary))
    return run.manifest("embeddings")


def _embed_vllm(ds: ray.data.Dataset, store: ShardStore, vllm_cfg, dims: int,
                expected: dict[int, int]) -> list[pa.Table]:
    """vLLM path: profiles -> ray.data.llm embed processor -> rows regrouped by shard on the
    driver, each shard written atomically once all its rows are in."""
    from choirrec.profiles.vllm import build_embed_processor

    def sha(t: pa.Table) -> pa.Table:
        return t.append_column("source_sha256", pa.array(
            [hashlib.sha256(p.encode()).hexdigest() for p in t.column("profile").to_pylist()]))

    results = build_embed_processor(vllm_cfg, dims)(
        ds.map_batches(sha, batch_format="pyarrow", num_cpus=vllm_cfg.stage_num_cpus))
    t0 = time.perf_counter()

    def write(shard: int, t: pa.Table) -> pa.Table:
        vec = np.stack(t.column("embedding").to_numpy(zero_copy_only=False))
        out = pa.table({"user_id": t.column("user_id"), "embedding": _vectors(vec),
                        "embedder": ["vllm"] * t.num_rows,
                        "model": [vllm_cfg.embed_model] * t.num_rows,
                        "source_sha256": t.column("source_sha256")}).sort_by("user_id")
        validate_table(out, EMBEDDINGS)
        store.write(shard, out)
        return pa.table({"shard": [shard], "users": [out.num_rows], "reused": [0],
                         "embedded": [out.num_rows], "dims": [vec.shape[1]],
                         "seconds": [time.perf_counter() - t0]})

    return ShardCollector(expected, write).drain(
        results.iter_batches(batch_format="pyarrow", batch_size=None))
