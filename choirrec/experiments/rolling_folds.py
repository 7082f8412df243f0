"""Rolling-origin evaluation: each of the last K days is the test day in turn.

Test day ``f`` days before the last one is evaluated in its own run directory
(``<run>/folds/holdout_<f>/``; ``f = 0`` is the run directory itself) whose data stage drops
the log's last ``f`` days (``data.holdout_days``). Everything downstream — profiles,
embeddings, groups, priors, models — is rebuilt from that truncated log, so no stage of a fold
ever sees its test day or anything after it (the expanding-window protocol of time-series
evaluation), and every fold is an ordinary, resumable, fingerprinted run directory.
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import pyarrow as pa

from choirrec.config import Config
from choirrec.data.cvr_samples import DAY
from choirrec.run_dir import RunDir

log = logging.getLogger(__name__)


def fold_run(run: RunDir, fold: int) -> RunDir:
    """The run directory of test day ``fold`` (0 = the last day = ``run`` itself)."""
    if fold == 0:
        return run
    fold_dir = run.child("folds", f"holdout_{fold}")
    if fold_dir.reuse_from() is None:
        fold_dir.set_reuse_from(run)  # unchanged profiles/embeddings are copied, not redone
    return fold_dir


def fold_config(cfg: Config, fold: int) -> Config:
    """``cfg`` with the log shortened by ``fold`` more days."""
    data = dataclasses.replace(cfg.data, holdout_days=cfg.data.holdout_days + fold)
    return dataclasses.replace(cfg, data=data)


def eligible_users_by_day(samples: pa.Table, low_users: np.ndarray, end: int,
                          n_days: int) -> list[tuple[int, int]]:
    """(GAUC-eligible users, of whom low-activity) on each of the last ``n_days`` days before
    ``end``, most recent first; a user is eligible on a day with both labels that day."""
    ts = samples.column("ts").to_numpy()
    day = (end - 1 - ts) // DAY
    u = samples.column("user_id").to_numpy()
    y = samples.column("label").to_numpy().astype(np.int64)
    out = []
    for d in range(n_days):
        m = day == d
        if not m.any():
            out.append((0, 0))
            continue
        users, inv = np.unique(u[m], return_inverse=True)
        pos = np.bincount(inv, weights=y[m])
        cnt = np.bincount(inv)
        ok = users[(pos > 0) & (pos < cnt)]
        out.append((int(ok.size), int(np.isin(ok, low_users).sum())))
    return out


def choose_test_days(per_day: list[tuple[int, int]], min_users: int, max_days: int) -> int:
    """The fewest most-recent days whose pooled low-activity GAUC users reach ``min_users``
    (the paper's headline segment is the scarcest), capped at ``max_days``."""
    total = 0
    for k, (_, low) in enumerate(per_day[:max_days], start=1):
        total += low
        if total >= min_users:
            return k
    return max(1, min(max_days, len(per_day)))


def auto_test_days(run: RunDir, min_users: int, max_days: int) -> tuple[int, list]:
    """Choose K from the run's own samples (its data stage must exist); (K, per-day counts)."""
    split = run.read_json("data", "dataset.json")["split"]
    valid_days = max(1, (split["test_start"] - split["valid_start"]) // DAY)
    samples = run.read_table("data", "samples", columns=["user_id", "ts", "label"])
    span = (split["end"] - int(np.min(samples.column("ts").to_numpy()))) // DAY
    # every fold keeps its validation day(s) and at least two training days
    room = max(1, int(span) - valid_days - 2)
    act = run.read_table("data", "user_activity", columns=["user_id", "low_activity"])
    low = act.column("user_id").to_numpy()[
        act.column("low_activity").to_numpy(zero_copy_only=False).astype(bool)]
    per_day = eligible_users_by_day(samples, low, split["end"], min(max_days, room))
    k = choose_test_days(per_day, min_users, min(max_days, room))
    log.info("rolling test days: %d (GAUC users per day, most recent first: %s; low-activity "
             "target %d)", k, per_day, min_users)
    return k, per_day
