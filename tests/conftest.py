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


@pytest.fixture(scope="session")
def embedded_world(ray_cluster, tmp_path_factory):
    """A 1,200-user world with data, template profiles and MiniLM embeddings (read-only:
    copy it with ``clone_run`` before running stages that write)."""
    from choirrec.config import DataConfig, EmbedConfig, ProfileConfig, SyntheticConfig
    from choirrec.data.prepare import prepare_data
    from choirrec.profiles.stage import build_profiles, embed_profiles
    from choirrec.run_dir import RunDir

    run = RunDir(str(tmp_path_factory.mktemp("world") / "run"))
    prepare_data(DataConfig(synthetic=SyntheticConfig(users=1200, block_size=500)), run)
    build_profiles(ProfileConfig(users_per_shard=600), run)
    embed_profiles(EmbedConfig(users_per_shard=600), run)
    return run


def clone_run(run, dest) -> RunDir:  # noqa: F821
    import shutil

    from choirrec.run_dir import RunDir

    shutil.copytree(run.root, dest, ignore=shutil.ignore_patterns(".staging", ".tmp"))
    return RunDir(str(dest))
