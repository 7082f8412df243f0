"""Generate the embedded world with one Ray task per block of users.

Each task generates its users, validates and writes its shards of every artifact straight to
the run directory's temporary stage path, and returns only a small per-user statistics table,
so neither the driver nor the object store ever holds the whole event log.
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import ray
from tqdm import tqdm

from choirrec.config import DataConfig, SyntheticConfig
from choirrec.data.cvr_samples import DAY, TimeSplit
from choirrec.data.source import SourceOutput
from choirrec.data.synthetic import (
    CHUNK_USERS,
    World,
    build_world,
    generate_block,
    items_table,
    log_start_ts,
    ts_range,
)
from choirrec.data.user_blocks import attribute_fill_rate, write_samples_block
from choirrec.run_dir import PartWriter, StageWriter
from choirrec.schema import EVENTS, ITEMS, PERSONAS, QUERIES, USERS, Checks

log = logging.getLogger(__name__)


def synthetic_split(cfg: SyntheticConfig, data: DataConfig) -> TimeSplit:
    end = log_start_ts(cfg) + (cfg.days - data.holdout_days) * DAY
    if end - (data.test_days + data.valid_days) * DAY <= log_start_ts(cfg):
        raise ValueError(f"data.holdout_days={data.holdout_days} leaves no training day in a "
                         f"{cfg.days}-day log (valid_days={data.valid_days}, test_days="
                         f"{data.test_days}); lower it or raise data.synthetic.days")
    test_start = end - data.test_days * DAY
    return TimeSplit(test_start - data.valid_days * DAY, test_start, end)


def _before(t: pa.Table, end: int) -> pa.Table:
    return t.filter(pc.less(t.column("ts"), end))


def make_block(cfg: SyntheticConfig, world: World, block: int, out: PartWriter,
               split: TimeSplit, window_s: int | None) -> tuple[pa.Table, int]:
    """Generate and write one block; return (per-user stats, number of queries)."""
    first = block * cfg.block_size + 1
    n = min(cfg.block_size, cfg.users - block * cfg.block_size)
    b = generate_block(cfg, world, first, n)
    if split.end < log_start_ts(cfg) + cfg.days * DAY:  # data.holdout_days: the log ends early
        b = dataclasses.replace(b, events=_before(b.events, split.end),
                                queries=_before(b.queries, split.end))
    part = f"part-{block:05d}"
    checks = Checks(ts_range=ts_range(cfg))
    out.write("users", part, b.users, USERS)
    out.write("personas", part, b.personas, PERSONAS)
    out.write("events", part, b.events, EVENTS, checks)
    out.write("queries", part, b.queries, QUERIES, checks)
    stats = write_samples_block(b.events, out, part, split, window_s, ts_range(cfg),
                                user_ids=b.users.column("user_id").to_numpy())
    stats = stats.append_column("attr_fill_rate", pa.array(attribute_fill_rate(b.users)))
    return stats, b.queries.num_rows


_make_block_task = ray.remote(make_block)


def write_synthetic(data: DataConfig, writer: StageWriter) -> SourceOutput:
    cfg = data.synthetic
    if cfg.users < 1:
        raise ValueError(f"data.synthetic.users must be >= 1, got {cfg.users}")
    if cfg.block_size < 1 or cfg.block_size % CHUNK_USERS:
        raise ValueError(f"data.synthetic.block_size must be a positive multiple of "
                         f"{CHUNK_USERS}, got {cfg.block_size}")
    world = build_world(cfg)
    writer.write_table(items_table(world), "items", ITEMS)
    split = synthetic_split(cfg, data)
    window = None if data.attribution_window_hours is None else int(
        data.attribution_window_hours * 3600)
    n_blocks = -(-cfg.users // cfg.block_size)
    log.info("generating %d users in %d blocks of <= %d (Ray tasks)", cfg.users, n_blocks,
             cfg.block_size)
    world_ref = ray.put(world)
    out = writer.parts()
    pending = [_make_block_task.options(num_cpus=1).remote(cfg, world_ref, b, out, split, window)
               for b in range(n_blocks)]
    results = {}
    index = {ref: i for i, ref in enumerate(pending)}
    with tqdm(total=n_blocks, desc="synthetic blocks", unit="block") as bar:
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            results[index[done[0]]] = ray.get(done[0])
            bar.update(1)
    stats = pa.concat_tables([results[i][0] for i in range(n_blocks)])
    n_queries = int(np.sum([results[i][1] for i in range(n_blocks)]))
    return SourceOutput(stats, split, ts_range(cfg), n_queries,
                        notes={"users": cfg.users, "blocks": n_blocks, "seed": cfg.seed})
