"""Group priors (§4.3): group attributes, group behaviour sequences, and prefix backoff.

Group key = a prefix of the hierarchical code, written ``"g1-g2-g3"`` (level 3), ``"g1-g2"``
(level 2) or ``"g1"`` (level 1). Priors are computed for the groups of **every** level, so each
user can use the finest group that is big enough: a user whose full group has fewer than
``min_group_size`` members backs off to its level-2 prefix group, then to its level-1 group
(level 1 is used even if it is small, since nothing coarser exists). This backoff is ours, not
the paper's: it keeps sparse groups' priors stable (docs/design.md §5).

* group attributes (§4.3.2): per group, the mode of each discrete attribute and the mean of each
  continuous one over the members that have it; :func:`complete_attributes` fills a user's
  missing fields from their group.
* group sequences (§4.3.3): the top-K categories by members' purchases, the most popular
  items in each, ordered by their mean purchase time within the group. They are
  **point-in-time**: one snapshot per day (``sequence_snapshot_days``) from the first training
  sample's day to the test days, each built from purchases strictly before its ``as_of``, and
  a sample reads the latest snapshot at or before its own timestamp
  (:class:`choirrec.features.FeatureStore`). A single sequence from the whole training
  window would contain the training samples' own purchases — 74% of Taobao's training
  positives had their item in their group's sequence against 1% on the test day — a leak
  the model learns and the test day lacks (docs/groups.md).

Both run on Ray Data: assignments are joined with users / purchases on ``user_id``, exploded to
one row per (user, level), and reduced with ``groupby(group_key).map_groups``.
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import ray
from ray.data.expressions import col

from choirrec.config import PriorsConfig
from choirrec.resources import nonempty_blocks, read_parquet
from choirrec.run_dir import RunDir, fingerprint
from choirrec.schema import STATIC_AS_OF, USER_ATTRIBUTES

log = logging.getLogger(__name__)
DAY = 86_400
MAX_SNAPSHOTS = 400
_EMPTY_SNAPSHOTS = pa.schema([
    ("group_key", pa.string()), ("level", pa.int8()), ("n_purchases", pa.int64()),
    ("item_ids", pa.list_(pa.int64())), ("category_ids", pa.list_(pa.int64())),
    ("as_of", pa.int64())]).empty_table()


def keys_at(codes: np.ndarray, level: int) -> list[str]:
    return ["-".join(map(str, row)) for row in codes[:, :level].tolist()]


def effective_level(codes: np.ndarray, min_group_size: int) -> np.ndarray:
    """Finest level (M..1) whose prefix group has >= ``min_group_size`` members; else 1."""
    n, m = codes.shape
    level = np.ones(n, dtype=np.int8)
    chosen = np.zeros(n, dtype=bool)
    for lv in range(m, 0, -1):
        _, inv, cnt = np.unique(codes[:, :lv], axis=0, return_inverse=True, return_counts=True)
        ok = (cnt[inv.reshape(-1)] >= min_group_size) & ~chosen
        level[ok] = lv
        chosen |= ok
    return level


def code_matrix(t: pa.Table, m: int) -> np.ndarray:
    """(rows, M) hierarchical codes from the columns g1..gM."""
    return np.stack([t.column(f"g{i + 1}").to_numpy() for i in range(m)], 1)


def user_groups(assignments: pa.Table, min_group_size: int) -> pa.Table:
    """Per user: the effective group key and level (plus the raw codes)."""
    m = sum(1 for c in assignments.column_names if c.startswith("g") and c[1:].isdigit())
    codes = code_matrix(assignments, m)
    lv = effective_level(codes, min_group_size)
    keys = [k for k in ("-".join(map(str, row[:level])) for row, level in zip(
        codes.tolist(), lv.tolist(), strict=True))]
    return assignments.append_column("group_key", pa.array(keys, pa.string())).append_column(
        "group_level", pa.array(lv, pa.int8()))


def usable_groups(codes: np.ndarray, min_group_size: int) -> set[str]:
    """Keys of the level >= 2 groups that backoff can pick (>= ``min_group_size`` members,
    offline or for a cold-start user); level-1 groups are always usable."""
    keys: set[str] = set()
    for lv in range(2, codes.shape[1] + 1):
        prefixes, cnt = np.unique(codes[:, :lv], axis=0, return_counts=True)
        keys.update(keys_at(prefixes[cnt >= min_group_size], lv))
    return keys


def _explode_levels(t: pa.Table, m: int, usable: set[str] | None = None) -> pa.Table:
    """One row per (row, level) with that level's ``group_key``; with ``usable``, levels >= 2
    keep only those groups (sequences of groups no user can fall back to are never read)."""
    codes = code_matrix(t, m)
    parts = []
    base = t.drop_columns([f"g{i + 1}" for i in range(m)])
    for lv in range(1, m + 1):
        keys = keys_at(codes, lv)
        part = base.append_column("group_key", pa.array(keys, pa.string())) \
                   .append_column("level", pa.array(np.full(t.num_rows, lv, np.int8)))
        if usable is not None and lv > 1:
            part = part.filter(pa.array([k in usable for k in keys], pa.bool_()))
        parts.append(part)
    return pa.concat_tables(parts)


def group_attribute_row(t: pa.Table) -> pa.Table:
    """Mode of each discrete attribute, mean of each continuous one, over one group."""
    out = {"group_key": [t.column("group_key")[0].as_py()],
           "level": pa.array([t.column("level")[0].as_py()], pa.int8()),
           "n_members": pa.array([t.num_rows], pa.int64())}
    for name, (tp, kind) in USER_ATTRIBUTES.items():
        if name not in t.column_names:
            out[name] = pa.nulls(1, tp)
            continue
        col = t.column(name).drop_null()
        if len(col) == 0:
            out[name] = pa.nulls(1, tp)
        elif kind == "continuous":
            out[name] = pa.array([pc.mean(col).as_py()], tp)
        else:  # mode; ties broken by the smallest value, so the result is deterministic
            vc = pc.value_counts(col).to_pylist()
            best = min(vc, key=lambda d: (-d["counts"], str(d["values"])))["values"]
            out[name] = pa.array([best], tp)
    return pa.table(out)


def snapshot_times(first_sample_ts: int, split: dict, every_days: int,
                   max_snapshots: int = MAX_SNAPSHOTS) -> list[int]:
    """``as_of`` times of the group-sequence snapshots: every ``every_days`` days on the
    split's day grid (anchored at ``valid_start``), from the last one at or before the first
    sample through the test days; ``every_days = 0`` gives the single static cut at
    ``valid_start`` (stored with ``as_of = STATIC_AS_OF``, so every sample reads it). At most
    the latest ``max_snapshots`` are kept (a log of years of training clicks); samples older
    than the first then read an empty group sequence, never a later one.
    """
    valid_start, end = int(split["valid_start"]), int(split["end"])
    if every_days < 0:
        raise ValueError(f"priors.sequence_snapshot_days={every_days}: use a number of days "
                         ">= 1, or 0 for one static snapshot")
    if every_days == 0:
        return [valid_start]
    step = every_days * DAY
    first = valid_start - -(-max(valid_start - int(first_sample_ts), 0) // step) * step
    times = list(range(first, end, step))
    if len(times) > max_snapshots:
        log.warning("priors: %d daily group-sequence snapshots; keeping the latest %d (older "
                    "training samples read an empty group sequence)", len(times), max_snapshots)
    return times[-max_snapshots:]


def group_sequence_snapshots(t: pa.Table, cfg: PriorsConfig, as_of: list[int]) -> pa.Table:
    """One group's sequence at each ``as_of`` (purchases strictly before it); a snapshot
    with no purchases yet is omitted (readers treat it as an empty sequence)."""
    t = t.sort_by("ts")
    ts = t.column("ts").to_numpy()
    rows = []
    for cut in as_of:
        n = int(np.searchsorted(ts, cut, side="left"))
        if n:
            row = group_sequence_row(t.slice(0, n), cfg)
            rows.append(row.append_column("as_of", pa.array([cut], pa.int64())))
    if not rows:
        return _EMPTY_SNAPSHOTS
    return pa.concat_tables(rows)


def latest_snapshot(group_sequences: pa.Table) -> pa.Table:
    """Each group's newest sequence: what online scoring uses (a group with no purchases by
    then has none). Tables written before snapshots (no ``as_of``) are returned as they are."""
    if "as_of" not in group_sequences.column_names or not group_sequences.num_rows:
        return group_sequences
    t = group_sequences.sort_by([("group_key", "ascending"), ("as_of", "descending")])
    keys = t.column("group_key").to_numpy(zero_copy_only=False)
    first = np.r_[True, keys[1:] != keys[:-1]]
    return t.filter(pa.array(first))


def sequences_as_of(run: RunDir) -> int:
    """The newest snapshot time of a run's group sequences (purchases before it count); the
    validation start for priors built before snapshots."""
    m = run.manifest("priors") or {}
    as_of = m.get("sequence_as_of")
    if as_of:
        return int(as_of[-1])
    return int(run.read_json("data", "dataset.json")["split"]["valid_start"])


def group_sequence_row(t: pa.Table, cfg: PriorsConfig) -> pa.Table:
    """Top categories -> their most popular items -> ordered by mean purchase time."""
    cats = t.column("category_id").to_numpy()
    items = t.column("item_id").to_numpy()
    ts = t.column("ts").to_numpy().astype(np.float64)
    uc, cc = np.unique(cats, return_counts=True)
    top = uc[np.lexsort((uc, -cc))][: cfg.top_categories]
    chosen = []
    for c in top:
        m = cats == c
        ui, ic = np.unique(items[m], return_counts=True)
        for i in ui[np.lexsort((ui, -ic))][: cfg.items_per_category]:
            mi = m & (items == i)
            chosen.append((float(ts[mi].mean()), int(i), int(c)))
    chosen.sort()
    chosen = chosen[-cfg.sequence_length:]  # keep the most recent if too long
    return pa.table({
        "group_key": [t.column("group_key")[0].as_py()],
        "level": pa.array([t.column("level")[0].as_py()], pa.int8()),
        "n_purchases": pa.array([t.num_rows], pa.int64()),
        "item_ids": pa.array([[i for _, i, _ in chosen]], pa.list_(pa.int64())),
        "category_ids": pa.array([[c for _, _, c in chosen]], pa.list_(pa.int64())),
    })


def complete_attributes(users: pa.Table, groups: pa.Table, group_attributes: pa.Table
                        ) -> pa.Table:
    """Fill each user's missing attributes from their effective group (§4.3.2).

    ``groups`` has user_id, group_key; adds ``<attr>_from_group`` flags so models can tell
    observed from completed values.
    """
    u = users.join(groups.select(["user_id", "group_key"]), keys="user_id", join_type="left outer")
    ga = group_attributes.select(["group_key"] + list(USER_ATTRIBUTES))
    ga = ga.rename_columns(["group_key"] + [f"__g_{a}" for a in USER_ATTRIBUTES])
    u = u.join(ga, keys="group_key", join_type="left outer").sort_by("user_id")
    for a in USER_ATTRIBUTES:
        missing = u.column(a).is_null()
        filled = pc.if_else(missing, u.column(f"__g_{a}"), u.column(a))
        u = u.set_column(u.column_names.index(a), a, filled)
        u = u.append_column(f"{a}_from_group", pc.and_(missing, u.column(f"__g_{a}").is_valid()))
    return u.drop_columns([f"__g_{a}" for a in USER_ATTRIBUTES])


def build_priors(cfg: PriorsConfig, run: RunDir, force: bool = False) -> dict:
    g_m = run.require("groups", "run `python -m pipelines.build_groups` first")
    data_m = run.require("data", "run `python -m pipelines.prepare_data` first")
    c = dataclasses.asdict(cfg)
    c.pop("local_max_rows")  # where the groups are reduced changes no output
    fp = fingerprint("priors", c, g_m["fingerprint"], data_m["fingerprint"])
    if not force and run.is_current("priors", fp):
        log.info("priors are current in %s; skipping", run.uri)
        return run.manifest("priors")
    m = int(g_m["n_stages"])
    split = run.read_json("data", "dataset.json")["split"]
    first_ts = pc.min(run.read_table("data", "samples", "train", columns=["ts"])
                      .column("ts")).as_py()
    as_of = snapshot_times(int(split["valid_start"]) if first_ts is None else int(first_ts),
                           split, cfg.sequence_snapshot_days)
    codes_cols = ["user_id"] + [f"g{i + 1}" for i in range(m)]
    asg = read_parquet(run, "groups", "assignments", columns=codes_cols)
    assignments = run.read_table("groups", "assignments").sort_by("user_id")
    users = read_parquet(run, "data", "users", columns=["user_id", *USER_ATTRIBUTES])
    buys = read_parquet(run, "data", "events",
                        columns=["user_id", "item_id", "category_id", "behavior", "ts"]).filter(
        expr=(col("behavior") == "buy") & (col("ts") < as_of[-1])).drop_columns(["behavior"])
    usable = usable_groups(code_matrix(assignments, m), cfg.min_group_size)
    n_rows = _parquet_rows(run, "data", "users") + _parquet_rows(run, "data", "events")
    if n_rows <= cfg.local_max_rows:  # the events' row count bounds the purchases'
        log.info("priors: %d input rows: reduced in the driver (pyarrow)", n_rows)
        attrs, seqs = _reduce_local(_collect(users), _collect(buys), assignments.select(codes_cols),
                                    m, usable, cfg, as_of)
    else:
        log.info("priors: %d input rows: reduced on Ray Data", n_rows)
        attrs, seqs = _reduce_ray(users, buys, asg, m, usable, cfg, as_of)
    with run.stage("priors", fp) as w:
        ga = attrs.sort_by([("level", "ascending"), ("group_key", "ascending")])
        gs = seqs.sort_by([("level", "ascending"), ("group_key", "ascending"),
                           ("as_of", "ascending")])
        if cfg.sequence_snapshot_days == 0:  # static: every sample reads it (leaky, see above)
            gs = gs.set_column(gs.column_names.index("as_of"), "as_of",
                               pa.array(np.full(gs.num_rows, STATIC_AS_OF), pa.int64()))
        ug = user_groups(assignments, cfg.min_group_size)
        w.write_table(ga, "group_attributes")
        w.write_table(gs, "group_sequences")
        w.write_table(ug, "user_groups")
        lv = ug.column("group_level").to_numpy()
        latest = latest_snapshot(gs)
        seq_len = np.array([len(x) for x in latest.column("item_ids").to_pylist()])
        summary = {
            "groups": {f"level_{i}": int(pc.sum(pc.equal(ga.column("level"), i)).as_py())
                       for i in range(1, m + 1)},
            "users_by_effective_level": {f"level_{i}": int((lv == i).sum())
                                         for i in range(1, m + 1)},
            "min_group_size": cfg.min_group_size,
            "groups_with_sequences": int(latest.num_rows),
            "sequence_snapshots": len(as_of),
            "sequence_as_of": [as_of[0], as_of[-1]],
            "mean_sequence_length": float(seq_len.mean()) if seq_len.size else 0.0,
        }
        w.info.update(summary)
        w.write_json("summary.json", summary)
    log.info("priors: %s", summary)
    return run.manifest("priors")


def _reduce_ray(users, buys, asg, m, usable, cfg, as_of) -> tuple[pa.Table, pa.Table]:
    """Group attributes and sequence snapshots: hash joins + groupbys on Ray Data."""
    k = cfg.num_partitions
    kw = dict(batch_format="pyarrow", num_cpus=0.25)
    attrs = (users.join(asg, "inner", k, on=("user_id",))
             .map_batches(lambda t: _explode_levels(t, m), **kw)
             .groupby("group_key", num_partitions=k).map_groups(group_attribute_row, **kw))
    seqs = (buys.join(asg, "inner", k, on=("user_id",))
            .map_batches(lambda t: _explode_levels(t, m, usable), **kw)
            .groupby("group_key", num_partitions=k)
            .map_groups(lambda t: group_sequence_snapshots(t, cfg, as_of), **kw))
    return _collect(attrs), _collect(seqs)


def _reduce_local(users: pa.Table, buys: pa.Table, asg: pa.Table, m, usable, cfg, as_of
                  ) -> tuple[pa.Table, pa.Table]:
    """The same reduction in the driver: pyarrow joins, then each group's rows (contiguous
    after a sort on the key) through the same per-group functions."""
    ua = _explode_levels(users.join(asg, "user_id", join_type="inner"), m)
    ba = _explode_levels(buys.join(asg, "user_id", join_type="inner"), m, usable)
    attrs = _per_group(ua, group_attribute_row)
    seqs = _per_group(ba, lambda t: group_sequence_snapshots(t, cfg, as_of))
    if attrs is None or seqs is None:
        raise ValueError("priors: no rows produced (no users or no purchases in any group)")
    return attrs, seqs


def _per_group(t: pa.Table, fn) -> pa.Table | None:
    if t.num_rows == 0:
        return None
    t = t.sort_by("group_key")
    keys = t.column("group_key").to_numpy(zero_copy_only=False)
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    ends = np.r_[starts[1:], len(keys)]
    out = [fn(t.slice(s, e - s)) for s, e in zip(starts.tolist(), ends.tolist(), strict=True)]
    out = [o for o in out if o.num_rows]
    return pa.concat_tables(out) if out else None


def _parquet_rows(run: RunDir, *parts: str) -> int:
    return int(run.dataset(*parts).count_rows())


def _collect(ds: ray.data.Dataset) -> pa.Table:
    blocks = nonempty_blocks(ds)
    if not blocks:
        raise ValueError("priors: no rows produced (no users or no purchases in any group)")
    return pa.concat_tables(blocks)
