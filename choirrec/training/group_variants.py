"""Group variants: the same data grouped from another embedding (the "w/o LLM Emb." ablation).

A variant lives in ``<run>/variants/<embedder>/``, a run directory of its own holding a copy
of ``data/`` plus its own ``embeddings/``, ``groups/`` and ``priors/``; every stage there is
fingerprinted and skipped when current, so ablation reruns cost nothing. Samples and
evaluation stay those of the parent run: only the groups differ.
"""

from __future__ import annotations

import dataclasses
import logging

from choirrec.config import Config
from choirrec.run_dir import RunDir

log = logging.getLogger(__name__)


def group_variant_run(run: RunDir, cfg: Config, embedder: str) -> RunDir:
    """The variant run directory with current groups and priors built from ``embedder``."""
    from choirrec.grouping.stage import build_groups
    from choirrec.priors import build_priors
    from choirrec.profiles.embed_stage import embed_profiles

    dest = run.child("variants", embedder)
    log.info("group variant %s in %s", embedder, dest.uri)
    dest.copy_stage_from(run, "data", "run `python -m pipelines.prepare_data` first")
    embed_profiles(dataclasses.replace(cfg.embed, embedder=embedder), dest)
    build_groups(cfg.groups, dest)
    build_priors(cfg.priors, dest)
    return dest
