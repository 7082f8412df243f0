"""Group variants: the same data grouped from another embedding (the "w/o LLM Emb." ablation).

A variant lives in ``<run>/variants/<embedder>/``, a run directory of its own holding a copy
of ``data/`` plus its own ``embeddings/``, ``groups/`` and ``priors/``; every stage there is
fingerprinted and skipped when current, so ablation reruns cost nothing. Samples and
evaluation stay those of the parent run: only the groups differ.
"""

from __future__ import annotations

import dataclasses
import logging

import pyarrow.fs as pafs

from choirrec.config import Config
from choirrec.run_dir import MANIFEST, RunDir

log = logging.getLogger(__name__)


def _copy_data(run: RunDir, dest: RunDir) -> None:
    src_m = run.require("data", "run `python -m pipelines.prepare_data` first")
    m = dest.manifest("data")
    if m is not None and m.get("fingerprint") == src_m["fingerprint"]:
        return
    tmp = dest.path(".tmp", "data-copy")
    if dest.fs.get_file_info(tmp).type != pafs.FileType.NotFound:
        dest.fs.delete_dir(tmp)
    pafs.copy_files(run.path("data"), tmp, source_filesystem=run.fs,
                    destination_filesystem=dest.fs)
    dest.fs.delete_file(f"{tmp}/{MANIFEST}")  # commit_dir writes it last
    info = {k: v for k, v in src_m.items() if k not in ("stage", "fingerprint", "created_at")}
    dest.commit_dir(tmp, "data", src_m["fingerprint"], info)


def group_variant_run(run: RunDir, cfg: Config, embedder: str) -> RunDir:
    """The variant run directory with current groups and priors built from ``embedder``."""
    from choirrec.grouping.stage import build_groups
    from choirrec.priors import build_priors
    from choirrec.profiles.stage import embed_profiles

    dest = RunDir(f"{run.uri.rstrip('/')}/variants/{embedder}")
    log.info("group variant %s in %s", embedder, dest.uri)
    _copy_data(run, dest)
    embed_profiles(dataclasses.replace(cfg.embed, embedder=embedder), dest)
    build_groups(cfg.groups, dest)
    build_priors(cfg.priors, dest)
    return dest
