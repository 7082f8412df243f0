"""Shared fixtures: one local Ray cluster per test session, paths to the shared data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
TAOBAO_HEAD = SHARED_DATA / "taobao_userbehavior" / "head_84k"
CHOIRREC_REF = SHARED_DATA / "choirrec_reference"

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")


@pytest.fixture(scope="session")
def ray_cluster():
    """A local cluster of our own (never attach to a `ray start` cluster on the machine)."""
    import ray

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def require(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"shared data not present: {path}")
    return path
