"""A cluster-wide cap on Ray Train runs in flight during a sweep.

Tune's ``max_concurrent_trials`` only limits how fast the searcher *creates* trials: after
``Tuner.restore`` every unfinished trial is started at once, and on a 2-CPU machine two
concurrent Ray Train runs starve each other's Ray Data readers (a silent hang). So every trial
takes a slot from this named actor before it launches Ray Train and gives it back after.
A slot whose holder died (ASHA stopped the trial, a node was lost) is reclaimed: each holder
deposits a small object it owns, and an object whose owner died cannot be fetched any more
(pinging the holder itself would not do: a trial's actor is busy while it trains).

A holder that died also leaves its Ray Train run's placement group behind: Ray Train's own
``PlacementGroupCleaner`` asks the State API whether the controller is alive, and without the
dashboard (``include_dashboard=False``, our default on small machines) that query fails and
the group is never removed — measured: each ASHA-stopped trial kept 0.5 CPU of 2 until the
next trial's data reader could not start. So the slot actor removes, when it reaps a dead
holder, every placement group that appeared during that holder's tenure, has exactly the
holder's worker bundles, and whose bundles are idle (no live worker in them).
"""

from __future__ import annotations

import time

import ray


@ray.remote(num_cpus=0)
class TrainSlots:
    def __init__(self, n: int):
        self.n = max(1, n)
        # trial key -> ([an object the holder owns], its worker bundle, PGs existing at grant)
        self.holders: dict[str, tuple[list, dict | None, set[str]]] = {}
        self.removed: list[str] = []  # orphaned placement groups removed (for tests / logs)

    def _reap(self) -> None:
        from ray.exceptions import GetTimeoutError

        for key, (token, bundle, before) in list(self.holders.items()):
            try:
                ray.get(token[0], timeout=10)
            except GetTimeoutError:
                continue  # slow, not dead
            except Exception:  # OwnerDiedError / ObjectLostError: the holder is gone
                self.holders.pop(key, None)
                if bundle is not None:
                    self._remove_orphans(bundle, before)

    def _remove_orphans(self, bundle: dict, before: set[str]) -> None:
        from ray.util import placement_group_table
        from ray.util.placement_group import PlacementGroup, remove_placement_group

        free = ray.available_resources()
        for pg_id, info in placement_group_table().items():
            if pg_id in before or info["state"] != "CREATED":
                continue
            bundles = list(info["bundles"].values())
            if not bundles or any(b != bundle for b in bundles):
                continue
            idle = all(free.get(f"{r}_group_{i}_{pg_id}", 0.0) >= v - 1e-9
                       for i, b in info["bundles"].items() for r, v in b.items())
            if idle:
                remove_placement_group(PlacementGroup(ray.PlacementGroupID(
                    bytes.fromhex(pg_id))))
                self.removed.append(pg_id)

    def acquire(self, key: str, token: list, bundle: dict | None = None) -> bool:
        """``token``: ``[ray.put(...)]`` made by the caller (wrapped so it stays a ref);
        ``bundle``: one Train worker's resources (to find its orphaned placement group)."""
        if key in self.holders:
            return True
        if len(self.holders) >= self.n:
            self._reap()
        if len(self.holders) < self.n:
            from ray.util import placement_group_table

            before = {k for k, v in placement_group_table().items() if v["state"] != "REMOVED"}
            self.holders[key] = (token, bundle, before)
            return True
        return False

    def release(self, key: str) -> None:
        self.holders.pop(key, None)

    def reap(self) -> list[str]:
        """Reclaim dead holders now (the driver calls it when the sweep ends, so the last
        stopped trial's placement group does not outlive the sweep); removed PG ids."""
        self._reap()
        return list(self.removed)


def slots_actor(name: str, n: int):
    """Create (driver) or find (trials) the named slot actor of one sweep."""
    return TrainSlots.options(name=name, get_if_exists=True).remote(n)


class TrainSlot:
    """``with TrainSlot(name, key):`` — wait for a slot, hold it for the block."""

    def __init__(self, name: str, key: str, poll_s: float = 2.0, bundle: dict | None = None):
        self.actor = ray.get_actor(name)
        self.key, self.poll_s, self.bundle = key, poll_s, bundle

    def __enter__(self) -> TrainSlot:
        self.token = [ray.put(self.key)]  # owned by this process: dies with it
        while not ray.get(self.actor.acquire.remote(self.key, self.token, self.bundle)):
            time.sleep(self.poll_s)
        return self

    def __exit__(self, *exc) -> None:
        ray.get(self.actor.release.remote(self.key))
