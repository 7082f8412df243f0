"""Guard against the silent Ray Data deadlock of actor pools that take every CPU.

On a small cluster, an actor pool whose actors reserve all CPUs leaves none for the read
tasks that feed it, and the job hangs forever without an error (measured here on 2 cores).
Stages call :func:`check_actor_budget` before starting a pool, so the user gets a message
naming the config fields instead of a hang.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import ray


def check_actor_budget(concurrency: int, cpus_per_actor: float, what: str,
                       reserve: float = 0.25) -> None:
    total = float(ray.cluster_resources().get("CPU", 0.0))
    need = concurrency * cpus_per_actor
    if total and need > total - reserve:
        raise ValueError(
            f"{what}.concurrency x {what}.num_cpus_per_actor = {need:g} CPUs, but the cluster "
            f"has {total:g}: Ray Data's read tasks would get no CPU and the job would hang. "
            f"Fix: lower {what}.num_cpus_per_actor to <= {(total - reserve) / concurrency:.2f} "
            "or add nodes")


READ_CPUS = 0.25  # Ray Data's default read task takes a whole CPU: half this machine


def _read_parquet_files(batch: pa.Table, fs, columns: list[str] | None) -> pa.Table:
    """Map function: a batch of file paths -> their rows (one Arrow table)."""
    tables = [pq.read_table(p, filesystem=fs, columns=columns)
              for p in batch.column("path").to_pylist()]
    return pa.concat_tables(tables) if len(tables) > 1 else tables[0]


def read_parquet(run, *parts: str, columns: list[str] | None = None,
                 path: str | None = None) -> ray.data.Dataset:
    """Read a run-directory artifact with Ray Data, every task on a fractional CPU.

    Why not ``ray.data.read_parquet``: in Ray 2.60 both of its datasources start a task that
    asks for a whole CPU and takes no ``num_cpus`` — V2 a ``ListFiles`` task when the dataset
    executes, V1 its file-sampling tasks when the dataset is created. On 2 cores, with a Train
    worker (0.5), a Tune trial (0.1) or an actor pool placed, that task never schedules and the
    read hangs silently (both measured here: the k x λ sweep, the profile stages). So the
    driver lists the files (cheap) and each file is read by a map task of ``READ_CPUS``."""
    root = path or run.path(*parts)
    # the same file discovery as RunDir.dataset (pyarrow: hidden and _-prefixed names skipped)
    files = pads.dataset(root, format="parquet", filesystem=run.fs).files
    if not files:
        raise FileNotFoundError(f"{root}: no .parquet files in the artifact")
    items = ray.data.from_items([{"path": f} for f in files], override_num_blocks=len(files))
    return items.map_batches(_read_parquet_files, fn_args=(run.fs, columns), batch_size=1,
                             batch_format="pyarrow", num_cpus=READ_CPUS)


def shard_actor_pool(size: int) -> ray.data.ActorPoolStrategy:
    """An actor pool for one-shard-per-call work (profiles, embeddings).

    Ray Data queues up to 4 tasks on an actor by default: the first actor to finish loading
    its model took both shards of the 20k-user demo while the second sat idle, doubling the
    MiniLM stage (437 s instead of ~250 s here). One task in flight per actor makes a shard
    wait for a free actor instead."""
    return ray.data.ActorPoolStrategy(size=size, max_tasks_in_flight_per_actor=1)


def nonempty_blocks(ds: ray.data.Dataset) -> list:
    """A dataset's Arrow blocks, skipping empty ones (empty hash partitions have no schema)."""
    blocks = [ray.get(r) for r in ds.to_arrow_refs()]
    return [b for b in blocks if b.num_rows]
