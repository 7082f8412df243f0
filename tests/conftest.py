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
# throwaway credentials for the S3 test server, set before the session's Ray cluster starts so
# its workers inherit them (the endpoint travels in each run directory's URI)
from benchmarks.s3_server import TEST_CREDENTIALS  # noqa: E402

for _k, _v in TEST_CREDENTIALS.items():
    os.environ.setdefault(_k, _v)


@pytest.fixture(scope="session")
def ray_cluster():
    """A local cluster of our own (never attach to a `ray start` cluster on the machine)."""
    import ray

    # the dashboard serves the State API that Ray Train's PlacementGroupCleaner polls: without it
    # a run whose controller died keeps its placement group (and CPUs) for the whole session
    ray.init(address="local", num_cpus=2, include_dashboard=True, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def s3_store(tmp_path_factory):
    """An S3 API on 127.0.0.1 (moto's server, its own process) with one bucket."""
    from benchmarks.s3_server import S3Server

    server = S3Server(log_path=str(tmp_path_factory.mktemp("s3") / "moto.log")).start()
    server.bucket = server.create_bucket("choirrec-test").removeprefix("s3://")
    yield server
    server.stop()


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
    from choirrec.profiles.embed_stage import embed_profiles
    from choirrec.profiles.stage import build_profiles
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


@pytest.fixture(scope="session")
def trained_run(embedded_world, tmp_path_factory):
    """The small world with groups, priors, a base model (1 worker, 1 epoch) and ChoirRec
    (2 DDP workers, 2 epochs, one worker hard-killed at epoch 1), seed 0 each.
    Returns (run, config, kill marker path)."""
    import dataclasses

    from choirrec.config import Config, GroupsConfig, PriorsConfig, TrainConfig
    from choirrec.grouping.stage import build_groups
    from choirrec.priors import build_priors
    from choirrec.training.stage import train_model

    run = clone_run(embedded_world, tmp_path_factory.mktemp("trained") / "run")
    build_groups(GroupsConfig(n_clusters=8), run)
    build_priors(PriorsConfig(num_partitions=4), run)
    cfg = Config(run_dir=run.uri, train=TrainConfig(epochs=1, batch_size=256, seeds=(0,)))
    train_model(cfg, run, model="base")
    marker = tmp_path_factory.mktemp("fail") / "killed"
    cfg2 = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, num_workers=2,
                                                              epochs=2))
    train_model(cfg2, run, model="choirrec",
                fit_extra={"fail_marker": str(marker), "fail_at_epoch": 1})
    return run, cfg, marker
