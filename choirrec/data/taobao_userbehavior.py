"""Taobao UserBehavior (Tianchi dataId=649): ``user,item,category,behavior,timestamp``, no header.

The public file has known blemishes, which we tolerate and count rather than fail on:
a truncated last line (samples cut from the file end mid-row) and a few timestamps outside the
official window 2017-11-25..2017-12-03 (China time). Lines with the wrong number of fields
elsewhere in the file are skipped and counted too, and the stage fails, naming their line
numbers, when they exceed ``data.max_malformed_share`` of the file's lines. Anything else
malformed — a non-integer id, an unknown behaviour — is an error naming the column.

Parsing streams the CSV in blocks (bounded memory on a 3.6 GB file) and writes ``events`` parts;
CVR samples are then built with Ray Data: users are hashed into buckets and
``groupby(bucket).map_groups`` hands each call complete users, so per-user logic stays exact at
any scale.
"""

from __future__ import annotations

import logging
import os
import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from choirrec.config import DataConfig
from choirrec.data.cvr_samples import DAY, TimeSplit
from choirrec.data.source import SourceOutput
from choirrec.data.user_blocks import write_samples_block
from choirrec.hashing import mix64
from choirrec.resources import nonempty_blocks, read_parquet
from choirrec.run_dir import PartWriter, StageWriter, resolve
from choirrec.schema import (
    BEHAVIORS,
    EVENTS,
    ITEMS,
    QUERIES,
    USER_ATTRIBUTES,
    USERS,
    Checks,
    SchemaError,
    conform,
)

log = logging.getLogger(__name__)

COLUMNS = ["user_id", "item_id", "category_id", "behavior", "ts"]
# 2017-11-25 00:00:00 .. 2017-12-03 23:59:59 in UTC+8
OFFICIAL_RANGE = (1511539200, 1512316799)
DEFAULT_TZ_OFFSET_HOURS = 8.0
ROWS_PER_BUCKET = 2_000_000


def find_csv(path: str) -> tuple[pa.fs.FileSystem, str]:
    fs, p = resolve(path)
    info = fs.get_file_info(p)
    if info.type == pa.fs.FileType.Directory:
        p = p.rstrip("/") + "/UserBehavior.csv"
        info = fs.get_file_info(p)
    if info.type != pa.fs.FileType.File:
        raise FileNotFoundError(
            f"Taobao UserBehavior input not found at {path}. Fix: pass --input pointing at "
            "UserBehavior.csv or the directory holding it")
    return fs, p


def read_events(fs: pa.fs.FileSystem, p: str, block_size: int = 64 << 20):
    """(generator of validated ``events`` tables, counts dict filled in as it is consumed)."""
    stats = {"malformed_lines": 0, "out_of_window": 0, "rows": 0, "lines": 0,
             "malformed_line_numbers": []}

    def on_invalid(row) -> str:
        stats["malformed_lines"] += 1
        if len(stats["malformed_line_numbers"]) < MALFORMED_KEPT:
            stats["malformed_line_numbers"].append(row.number)
        if stats["malformed_lines"] <= 3:
            log.warning("skipping malformed line %s: %r", row.number, row.text[:80])
        return "skip"

    opts = dict(
        # one parsing thread: the reader then knows each malformed row's line number
        read_options=pacsv.ReadOptions(column_names=COLUMNS, block_size=block_size,
                                       use_threads=False),
        parse_options=pacsv.ParseOptions(invalid_row_handler=on_invalid),
        convert_options=pacsv.ConvertOptions(column_types={
            "user_id": pa.int64(), "item_id": pa.int64(), "category_id": pa.int64(),
            "behavior": pa.string(), "ts": pa.int64()}),
    )

    def batches():
        with fs.open_input_stream(p) as f:
            try:
                reader = pacsv.open_csv(f, **opts)
                for batch in reader:
                    t = pa.Table.from_batches([batch])
                    stats["lines"] += t.num_rows
                    bad = pc.invert(pc.is_in(t.column("behavior"), value_set=pa.array(BEHAVIORS)))
                    if pc.any(bad).as_py():
                        ex = t.column("behavior").filter(bad)[0].as_py()
                        raise SchemaError(f"taobao_userbehavior input {p}", "behavior",
                                          f"unknown behaviour {ex!r}",
                                          f"behaviour must be one of {list(BEHAVIORS)}")
                    ts = t.column("ts")
                    ok = pc.and_(pc.greater_equal(ts, OFFICIAL_RANGE[0]),
                                 pc.less_equal(ts, OFFICIAL_RANGE[1]))
                    stats["out_of_window"] += t.num_rows - pc.sum(ok).as_py()
                    t = t.filter(ok)
                    stats["rows"] += t.num_rows
                    yield conform(t.append_column("price", pa.nulls(t.num_rows, pa.float64())),
                                  EVENTS)
            except pa.ArrowInvalid as err:
                m = re.search(r"CSV column #(\d+)", str(err))
                col = COLUMNS[int(m.group(1))] if m and int(m.group(1)) < len(COLUMNS) else None
                raise SchemaError(f"taobao_userbehavior input {p}", col,
                                  str(err).splitlines()[0],
                                  "each line must be user_id,item_id,category_id,behavior,"
                                  "timestamp with integer ids and unix-second timestamps") from err

    return batches(), stats


MALFORMED_KEPT = 1000  # line numbers kept to tell a truncated last line from the rest


def check_malformed(path: str, counts: dict, max_share: float) -> None:
    """Fail when lines with the wrong number of fields, other than a truncated last line,
    exceed ``max_share`` of the file's lines; the error names the first few."""
    total = counts["lines"] + counts["malformed_lines"]
    numbers = counts["malformed_line_numbers"]
    last = numbers and numbers[-1] == total and len(numbers) == counts["malformed_lines"]
    mid = counts["malformed_lines"] - (1 if last else 0)
    counts["truncated_last_line"] = bool(last)
    if mid and mid > max_share * total:
        shown = ", ".join(str(n) for n in numbers[:5] if n != total)
        raise SchemaError("taobao_userbehavior input", None,
                          f"{path}: {mid} of {total} lines have the wrong number of fields "
                          f"(lines {shown}{', ...' if mid > 5 else ''}), more than "
                          f"data.max_malformed_share = {max_share:g}",
                          "each line must be user_id,item_id,category_id,behavior,timestamp; "
                          "fix or drop those lines, or raise --max-malformed-share to skip them")


def _bucket_samples(batch: pa.Table, out: PartWriter, split: TimeSplit, window: int | None,
                    ts_range: tuple[int, int]) -> pa.Table:
    bucket = int(batch.column("bucket")[0].as_py())
    events = batch.drop_columns(["bucket"]).sort_by([("user_id", "ascending"), ("ts", "ascending")])
    return write_samples_block(events, out, f"part-{bucket:05d}", split, window, ts_range)


def write_taobao(data: DataConfig, writer: StageWriter) -> SourceOutput:
    if not data.input:
        raise ValueError("dataset 'taobao_userbehavior' needs --input (UserBehavior.csv or its "
                         "directory), e.g. ../shared/data/taobao_userbehavior/head_84k")
    fs, path = find_csv(data.input)
    batches, counts = read_events(fs, path)
    out = writer.parts()
    items, users, n_parts, max_ts = [], [], 0, OFFICIAL_RANGE[0]
    for i, ev in enumerate(batches):
        out.write("events", f"part-{i:05d}", ev, EVENTS, Checks(ts_range=OFFICIAL_RANGE))
        items.append(ev.group_by("item_id").aggregate([("category_id", "min")]))
        users.append(pc.unique(ev.column("user_id")))
        if ev.num_rows:
            max_ts = max(max_ts, pc.max(ev.column("ts")).as_py())
        n_parts = i + 1
    check_malformed(path, counts, data.max_malformed_share)
    if counts["rows"] == 0:
        raise ValueError(f"{path}: no valid event rows (malformed lines: "
                         f"{counts['malformed_lines']}, outside the official window: "
                         f"{counts['out_of_window']}). Fix: --input must be the Tianchi "
                         "UserBehavior.csv format, user_id,item_id,category_id,behavior,"
                         "timestamp with no header")
    log.info("parsed %d events (%d malformed lines, %d outside the official window skipped)",
             counts["rows"], counts["malformed_lines"], counts["out_of_window"])

    items_t = pa.concat_tables(items).group_by("item_id").aggregate([("category_id_min", "min")])
    items_t = items_t.rename_columns(["item_id", "category_id"]).sort_by("item_id")
    n = items_t.num_rows
    items_t = items_t.append_column("category_name", pa.nulls(n, pa.string()))
    items_t = items_t.append_column("l1_category", pa.nulls(n, pa.string()))
    items_t = items_t.append_column("price_tier", pa.nulls(n, pa.float64()))
    writer.write_table(conform(items_t, ITEMS), "items", ITEMS)

    user_ids = np.unique(np.concatenate([u.to_numpy() for u in users]))
    users_t = pa.table({"user_id": user_ids, **{
        name: pa.nulls(user_ids.size, tp) for name, (tp, _) in USER_ATTRIBUTES.items()}})
    writer.write_table(users_t, "users", USERS)
    writer.write_table(QUERIES.arrow_schema.empty_table(), "queries", QUERIES)

    tz = DEFAULT_TZ_OFFSET_HOURS if data.tz_offset_hours is None else data.tz_offset_hours
    split = TimeSplit.last_days(max_ts - data.holdout_days * DAY, tz, data.valid_days,
                                data.test_days)
    if split.valid_start <= OFFICIAL_RANGE[0]:
        raise ValueError(f"data.holdout_days={data.holdout_days} leaves no training day; "
                         "lower it")
    window = None if data.attribution_window_hours is None else int(
        data.attribution_window_hours * 3600)
    n_buckets = max(1, -(-counts["rows"] // ROWS_PER_BUCKET))

    def add_bucket(t: pa.Table) -> pa.Table:
        h = mix64(t.column("user_id").to_numpy()) % np.uint64(n_buckets)
        return t.append_column("bucket", pa.array(h.astype(np.int64)))

    ds = read_parquet(writer.run, path=writer.path("events"))
    ds = ds.map_batches(add_bucket, batch_format="pyarrow", num_cpus=0.5)
    stats_ds = ds.groupby("bucket", num_partitions=n_buckets).map_groups(
        _bucket_samples, batch_format="pyarrow", num_cpus=0.5,
        fn_args=(out, split, window, OFFICIAL_RANGE))
    stats = pa.concat_tables(nonempty_blocks(stats_ds))
    stats = stats.sort_by("user_id")
    stats = stats.append_column("attr_fill_rate", pa.array(np.zeros(stats.num_rows)))
    return SourceOutput(stats, split, OFFICIAL_RANGE, 0, notes={
        "input": os.path.basename(path), "event_parts": n_parts, "buckets": n_buckets,
        "malformed_lines_skipped": counts["malformed_lines"],
        "truncated_last_line": counts["truncated_last_line"],
        "out_of_window_rows_skipped": counts["out_of_window"]})
