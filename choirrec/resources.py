"""Guard against the silent Ray Data deadlock of actor pools that take every CPU.

On a small cluster, an actor pool whose actors reserve all CPUs leaves none for the read
tasks that feed it, and the job hangs forever without an error (measured here on 2 cores).
Stages call :func:`check_actor_budget` before starting a pool, so the user gets a message
naming the config fields instead of a hang.
"""

from __future__ import annotations

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


def read_parquet(run, *parts: str, columns: list[str] | None = None,
                 path: str | None = None) -> ray.data.Dataset:
    """Read a run-directory artifact with Ray Data, every task on a fractional CPU.

    Why the V1 datasource: Ray 2.60's default (V2) Parquet read adds a ``ListFiles`` task that
    asks for a whole CPU and takes no ``num_cpus``. On 2 cores, with a Train worker (0.5 CPU)
    and a Tune trial (0.1 CPU) placed, 0.9 CPU is left and that task never schedules — the
    read hangs silently (measured in the k x λ sweep). V1 lists files on the caller and runs
    only read tasks, which honour ``num_cpus``. The flag is captured when the dataset is
    created (Ray copies the DataContext), so setting it around the call is enough."""
    ctx = ray.data.DataContext.get_current()
    before = ctx.use_datasource_v2
    ctx.use_datasource_v2 = False
    try:
        return ray.data.read_parquet(path or run.path(*parts), filesystem=run.fs,
                                     columns=columns, num_cpus=READ_CPUS)
    finally:
        ctx.use_datasource_v2 = before


def nonempty_blocks(ds: ray.data.Dataset) -> list:
    """A dataset's Arrow blocks, skipping empty ones (empty hash partitions have no schema)."""
    blocks = [ray.get(r) for r in ds.to_arrow_refs()]
    return [b for b in blocks if b.num_rows]
