"""The sweep's cluster-wide cap on Ray Train runs: holds while the holder is busy, frees the
slot of a holder that died."""

import time

import pytest

pytestmark = pytest.mark.timeout(300)


def test_slots_serialise_busy_holders_and_reclaim_dead_ones(ray_cluster):
    import ray
    from ray.util.placement_group import placement_group, remove_placement_group

    from choirrec.tuning.slots import TrainSlot, slots_actor

    slots = slots_actor("test-train-slots", 1)

    @ray.remote(num_cpus=0.05)
    class Trial:
        def run(self, key: str, hold_s: float) -> float:
            t0 = time.time()
            with TrainSlot("test-train-slots", key, poll_s=0.1):
                waited = time.time() - t0
                time.sleep(hold_s)  # busy, like a trial training: it must keep its slot
            return waited

        def grab(self, key: str) -> str:
            """Take the slot, then reserve a worker-shaped group as Ray Train would."""
            from ray.util.placement_group import placement_group

            self.slot = TrainSlot("test-train-slots", key, poll_s=0.1,
                                  bundle={"CPU": 0.05}).__enter__()
            self.pg = placement_group([{"CPU": 0.05}])
            ray.get(self.pg.ready())
            return self.pg.id.hex()

    a, b = Trial.remote(), Trial.remote()
    first = a.run.remote("a", 12.0)
    time.sleep(1.0)
    waited = ray.get(b.run.remote("b", 0.0))
    ray.get(first)
    assert waited > 10  # b could not start while a trained (12 s > the 10 s liveness timeout)
    from ray.util import placement_group_table

    keep = placement_group([{"CPU": 0.05}])  # same shape, made before c's grant: not c's
    ray.get(keep.ready())
    c = Trial.remote()
    pg = ray.get(c.grab.remote("c"))
    ray.kill(c)  # e.g. ASHA stopped the trial while it held the slot
    # a placement group made by an actor lives as long as the job: the dead trial's stays
    assert placement_group_table()[pg]["state"] == "CREATED"
    assert ray.get(Trial.remote().run.remote("d", 0.0)) < 30
    assert placement_group_table()[pg]["state"] == "REMOVED"  # reclaimed with the slot
    assert placement_group_table()[keep.id.hex()]["state"] == "CREATED"
    assert ray.get(slots.reap.remote()) == [pg]
    remove_placement_group(keep)
    ray.kill(slots)
