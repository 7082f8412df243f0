"""The data-preparation stage: raw input -> ``data/`` in the run directory.

Output (one atomic stage directory, docs/design.md §3): ``events``, ``users``, ``items``,
``queries``, ``samples/{train,valid,test}``, ``user_activity``, ``personas`` (embedded world
only: ground truth for judging groups, never a model feature), ``summary.json`` and
``dataset.json`` (split boundaries, time range, notes on what was dropped).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable

from choirrec.config import DataConfig
from choirrec.data.choirrec_tsv import write_choirrec_tsv
from choirrec.data.source import SourceOutput
from choirrec.data.summary import format_summary, summarize, user_activity
from choirrec.data.synthetic import WORLD_VERSION
from choirrec.data.synthetic_source import write_synthetic
from choirrec.data.taobao_userbehavior import find_csv, write_taobao
from choirrec.run_dir import RunDir, StageWriter, file_fingerprint, fingerprint
from choirrec.schema import USER_ACTIVITY

log = logging.getLogger(__name__)

STAGE = "data"
SCHEMA_VERSION = 1
SOURCES: dict[str, Callable[[DataConfig, StageWriter], SourceOutput]] = {
    "synthetic": write_synthetic,
    "taobao_userbehavior": write_taobao,
    "choirrec_tsv": write_choirrec_tsv,
}


def _inputs(cfg: DataConfig) -> list[dict]:
    if cfg.dataset == "taobao_userbehavior" and cfg.input:
        fs, p = find_csv(cfg.input)
        return [file_fingerprint(p)]
    if cfg.dataset == "choirrec_tsv" and cfg.input:
        base = cfg.input.rstrip("/")
        return [file_fingerprint(f"{base}/{n}") for n in ("users.tsv", "exposure_samples.tsv")]
    return []


def data_fingerprint(cfg: DataConfig) -> str:
    c = dataclasses.asdict(cfg)
    c.pop("force"), c.pop("max_malformed_share")
    if not c["holdout_days"]:
        c.pop("holdout_days")  # the default keeps every existing run's fingerprint
    if cfg.dataset != "synthetic":
        c.pop("synthetic")
    else:
        c["world_version"] = WORLD_VERSION
    return fingerprint(STAGE, SCHEMA_VERSION, c, _inputs(cfg))


def prepare_data(cfg: DataConfig, run: RunDir) -> dict:
    """Run (or skip, if current) the prepare stage; return the dataset summary."""
    if cfg.dataset not in SOURCES:
        raise ValueError(f"unknown dataset {cfg.dataset!r}; choose one of {sorted(SOURCES)}")
    if cfg.holdout_days < 0:
        raise ValueError(f"data.holdout_days must be >= 0, got {cfg.holdout_days}")
    fp = data_fingerprint(cfg)
    if not cfg.force and run.is_current(STAGE, fp):
        log.info("data is current in %s (fingerprint %s…); skipping", run.uri, fp[:12])
        summary = run.read_json(STAGE, "summary.json")
        log.info("\n%s", format_summary(summary, f"{cfg.dataset} -> {run.uri} (cached)"))
        return summary
    with run.stage(STAGE, fp) as w:
        out = SOURCES[cfg.dataset](cfg, w)
        act = user_activity(out.stats, cfg.low_activity_share, cfg.activity_levels)
        w.write_table(act, "user_activity", USER_ACTIVITY)
        summary = summarize(out.stats, act, out.n_queries)
        summary["dataset"] = cfg.dataset
        summary["notes"] = out.notes
        w.write_json("summary.json", summary)
        w.write_json("dataset.json", {
            "dataset": cfg.dataset, "split": out.split.to_dict(),
            "ts_range": list(out.ts_range), "config": dataclasses.asdict(cfg)})
        w.info.update({"dataset": cfg.dataset, "users": summary["users"],
                       "samples": {k: v["rows"] for k, v in summary["samples"].items()}})
    log.info("\n%s", format_summary(summary, f"{cfg.dataset} -> {run.uri}"))
    return summary
