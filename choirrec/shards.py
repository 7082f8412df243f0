"""Resumable, incremental per-shard processing for the expensive per-user stages.

Users are hashed into ``n_shards`` shards. A stage processes one shard at a time and writes it
atomically (temporary file, then rename) into a staging directory keyed by the stage's
fingerprint, so:

* a run killed midway resumes: finished shards are on disk and are skipped;
* nothing looks complete until every shard is there and the stage is committed (moved into
  the run directory with its manifest last);
* rows whose inputs are unchanged since the previous committed output (same user, same input
  hash, same backend/model) are copied instead of recomputed.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from choirrec.hashing import mix64
from choirrec.run_dir import RunDir, resolve


def shard_of(user_ids: np.ndarray, n_shards: int) -> np.ndarray:
    return (mix64(np.asarray(user_ids, dtype=np.int64)) % np.uint64(n_shards)).astype(np.int64)


def n_shards_for(n_users: int, users_per_shard: int) -> int:
    return max(1, -(-n_users // max(1, users_per_shard)))


def sample_users(user_ids: np.ndarray, max_users: int | None) -> np.ndarray:
    """A deterministic pseudo-random sample: the users with the smallest id hashes."""
    u = np.asarray(user_ids, dtype=np.int64)
    if max_users is None or max_users >= u.size:
        return np.sort(u)
    return np.sort(u[np.argsort(mix64(u), kind="stable")[:max_users]])


@dataclass(frozen=True)
class ShardStore:
    """Where one stage's shards live: picklable, so Ray actors can use it directly."""

    uri: str
    staging: str  # path on the URI's filesystem
    previous: str | None  # the last committed output of this stage, if any
    previous_n_shards: int | None
    n_shards: int

    def _fs(self) -> pafs.FileSystem:
        return resolve(self.uri)[0]

    def path(self, shard: int) -> str:
        return f"{self.staging}/part-{shard:05d}.parquet"

    def done(self, shard: int) -> bool:
        return self._fs().get_file_info(self.path(shard)).type == pafs.FileType.File

    def done_shards(self) -> set[int]:
        fs = self._fs()
        sel = pafs.FileSelector(self.staging, allow_not_found=True)
        return {int(i.base_name[5:10]) for i in fs.get_file_info(sel)
                if i.base_name.startswith("part-") and i.base_name.endswith(".parquet")}

    def reusable(self, shard: int, keys: pa.Table, key_columns: list[str]) -> pa.Table | None:
        """Rows of the previous output whose ``key_columns`` match a row of ``keys``."""
        if self.previous is None:
            return None
        fs = self._fs()
        if self.previous_n_shards == self.n_shards:
            p = f"{self.previous}/part-{shard:05d}.parquet"
            if fs.get_file_info(p).type != pafs.FileType.File:
                return None
            old = pq.read_table(p, filesystem=fs)
        else:  # sharding changed: look the users up across the whole previous output
            import pyarrow.dataset as pads

            ds = pads.dataset(self.previous, format="parquet", filesystem=fs)
            old = ds.to_table(filter=pc.field("user_id").isin(keys.column("user_id")))
        if old.num_rows == 0:
            return None
        missing = [c for c in key_columns if c not in old.column_names]
        if missing:
            return None
        # join on the keys only (pyarrow cannot carry vector columns through a join), then take
        idx = old.select(key_columns).append_column("__row", pa.array(np.arange(old.num_rows)))
        hit = idx.join(keys.select(key_columns), keys=key_columns, join_type="inner")
        return old.take(np.sort(hit.column("__row").to_numpy()))

    def require_complete(self, stage: str) -> None:
        """Raise if any shard is missing (a worker failed); finished shards stay for a rerun."""
        missing = set(range(self.n_shards)) - self.done_shards()
        if missing:
            raise RuntimeError(f"{stage}: shards {sorted(missing)[:10]} were not written; rerun "
                               "to resume (finished shards are kept)")

    def read_column(self, name: str) -> pa.ChunkedArray:
        """One column across every staged shard (e.g. the profiles' ``status``)."""
        import pyarrow.dataset as pads

        paths = [self.path(s) for s in sorted(self.done_shards())]
        ds = pads.dataset(paths, format="parquet", filesystem=self._fs())
        return ds.to_table(columns=[name]).column(name)

    def read_schema(self) -> pa.Schema:
        """The schema the staged shards were written with (any one of them)."""
        return pq.read_schema(self.path(min(self.done_shards())), filesystem=self._fs())

    def write(self, shard: int, table: pa.Table) -> None:
        fs = self._fs()
        final = self.path(shard)
        tmp = f"{self.staging}/.tmp-{shard:05d}-{uuid.uuid4().hex[:8]}-{os.getpid()}"
        pq.write_table(table, tmp, filesystem=fs)
        fs.move(tmp, final)


class ShardCollector:
    """Reassembles shards from a stream of rows in any order (a ``ray.data.llm`` processor's
    output, iterated on the driver) and hands each one on as soon as all its rows arrived, so
    finished shards are written — and survive a crash — while the engines keep working."""

    def __init__(self, expected: dict[int, int], on_shard):
        self.expected = dict(expected)
        self.on_shard = on_shard  # (shard, table) -> summary row table
        self._parts: dict[int, list[pa.Table]] = {}
        self._rows: dict[int, int] = {}
        self.summaries: list[pa.Table] = []

    def add(self, batch: pa.Table) -> None:
        shards = batch.column("shard").to_numpy()
        for shard in np.unique(shards):
            part = batch.filter(pa.array(shards == shard))
            s = int(shard)
            if s not in self.expected:
                raise RuntimeError(f"a row of shard {s} arrived, which is not being computed")
            self._parts.setdefault(s, []).append(part)
            self._rows[s] = self._rows.get(s, 0) + part.num_rows
            if self._rows[s] > self.expected[s]:
                raise RuntimeError(f"shard {s}: {self._rows[s]} rows arrived, expected "
                                   f"{self.expected[s]} (duplicated rows)")
            if self._rows[s] == self.expected[s]:
                self.summaries.append(self.on_shard(s, pa.concat_tables(self._parts.pop(s))))

    def drain(self, rows: Iterable[pa.Table]) -> list[pa.Table]:
        """Add every batch of ``rows`` (e.g. ``ds.iter_batches(batch_format="pyarrow")``),
        then :meth:`finish`."""
        for batch in rows:
            self.add(batch)
        return self.finish()

    def finish(self) -> list[pa.Table]:
        """The per-shard summaries; raises if a shard is incomplete (rows were lost)."""
        short = {s: (self._rows.get(s, 0), n) for s, n in self.expected.items()
                 if self._rows.get(s, 0) < n}
        if short:
            raise RuntimeError(f"shards with missing rows (got, expected): {dict(list(short.items())[:10])}")
        return self.summaries


def expected_rows(user_ids: np.ndarray, n_shards: int, shards) -> dict[int, int]:
    """How many users of ``user_ids`` fall in each of ``shards``."""
    s, n = np.unique(shard_of(np.asarray(user_ids), n_shards), return_counts=True)
    counts = dict(zip(s.tolist(), n.tolist(), strict=True))
    return {int(k): counts[int(k)] for k in shards if counts.get(int(k), 0) > 0}


def stage_store(run: RunDir, stage: str, fp: str, n_shards: int) -> ShardStore:
    """Shards of ``stage``; rows are reused from the previous committed output — the run's own,
    else its ``reuse_from`` run's (a rolling-day fold reuses its parent's unchanged profiles
    and embeddings: reuse is keyed by input hashes, so it is exact whatever the source)."""
    prev, src = run.manifest(stage), run
    if prev is None and run.reuse_from() is not None:
        src = run.reuse_from()
        prev = src.manifest(stage)
    if prev is not None and src.fs.type_name != run.fs.type_name:
        prev = None  # the shard store reads previous rows through the run's own filesystem
    return ShardStore(run.uri, run.staging(stage, fp),
                      src.path(stage) if prev else None,
                      prev.get("n_shards") if prev else None, n_shards)
