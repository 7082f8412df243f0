"""Groups and priors for one k, built once and shared by every trial with that k.

Changing k means regrouping. Each k gets a derived run directory
``<run>/tune/groups/k<k>-<key>/`` holding copies of the parent's ``data`` and ``embeddings``
and its own ``groups`` and ``priors``. ``<key>`` hashes what the groups depend on — the
embeddings' fingerprint, M, k, the clustering seed (and the priors settings) — so the cache is
content-addressed: a new embedding or another M is a new directory, never a stale hit, and
rebuilding an existing one skips every current stage.
"""

from __future__ import annotations

import dataclasses
import logging

from choirrec.config import Config
from choirrec.run_dir import RunDir, fingerprint

log = logging.getLogger(__name__)


def cache_key(emb_fingerprint: str, cfg: Config, k: int) -> str:
    g = cfg.groups
    return fingerprint("tune-groups", emb_fingerprint, g.n_stages, k, g.seed,
                       dataclasses.asdict(cfg.priors))[:12]


def groups_run(run: RunDir, cfg: Config, k: int) -> RunDir:
    """The derived run with current groups and priors for ``k`` (built if missing)."""
    from choirrec.grouping.stage import build_groups
    from choirrec.priors import build_priors

    if k < 2:
        raise ValueError(f"sweep k must be >= 2 clusters per stage, got {k}")
    emb = run.require("embeddings", "run `python -m pipelines.embed` first (or run_all)")
    dest = run.child("tune", "groups", f"k{k}-{cache_key(emb['fingerprint'], cfg, k)}")
    dest.copy_stage_from(run, "data")
    dest.copy_stage_from(run, "embeddings")
    if k == cfg.groups.n_clusters:
        # the run's own k: its groups and priors are what this cache would build (same
        # config, same inputs, so the same fingerprints): copy instead of regrouping. If they
        # were made with other settings, the stages below see a stale fingerprint and rebuild.
        for stage in ("groups", "priors"):
            if run.manifest(stage) is not None:
                dest.copy_stage_from(run, stage)
    groups = build_groups(dataclasses.replace(cfg.groups, n_clusters=k), dest)
    if groups.get("n_clusters") != k:
        log.warning("k=%d: the groups stage used K=%s (capped for %s users)", k,
                    groups.get("n_clusters"), groups.get("users"))
    build_priors(cfg.priors, dest)
    return dest
