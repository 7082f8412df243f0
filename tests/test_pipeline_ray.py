"""End to end through Ray: every stage in order on a tiny world (a ``file://`` run directory),
a rerun that skips every stage, and the rolling-day paired comparison on top of it."""

import json

import numpy as np
import pytest

pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def tiny(ray_cluster, tmp_path_factory):
    from choirrec.config import (
        Config,
        DataConfig,
        EmbedConfig,
        GroupsConfig,
        PriorsConfig,
        ProfileConfig,
        SyntheticConfig,
        TrainConfig,
    )

    root = tmp_path_factory.mktemp("pipeline") / "run"
    cfg = Config(
        run_dir=f"file://{root}",
        data=DataConfig(synthetic=SyntheticConfig(users=1000, block_size=500)),
        profiles=ProfileConfig(users_per_shard=500),
        embed=EmbedConfig(embedder="behavioral", users_per_shard=500),
        groups=GroupsConfig(n_clusters=4),
        priors=PriorsConfig(num_partitions=2, min_group_size=5),
        train=TrainConfig(epochs=1, batch_size=256, seeds=(0,)))
    return cfg, root


@pytest.fixture(scope="module")
def first_run(tiny):
    from choirrec.pipeline import run_pipeline
    from choirrec.run_dir import RunDir

    cfg, root = tiny
    lines = []
    results = run_pipeline(cfg, RunDir(cfg.run_dir), progress=lines.append)
    return results, lines


def test_run_all_runs_every_stage_in_order_inside_the_run_dir(tiny, first_run):
    cfg, root = tiny
    results, lines = first_run
    assert [r.stage for r in results] == ["prepare", "profiles", "embeddings", "groups",
                                          "priors", "train base", "train choirrec", "evaluate"]
    assert all(r.status == "ran" for r in results) and len(lines) == len(results)
    assert "GAUC users" in results[0].figure and results[0].rows > 0
    assert "M=3 x K=4" in results[3].figure
    m = json.loads((root / "eval" / "choirrec" / "metrics.json").read_text())
    assert 0.3 < m["gauc"] < 1 and m["n_users_gauc"] > 0
    assert (root / "eval" / "comparison.csv").exists()
    assert [p.name for p in root.parent.iterdir()] == ["run"], \
        "a stage wrote outside the run directory"


def test_rerun_skips_every_current_stage(tiny, first_run):
    from choirrec.pipeline import format_results, run_pipeline
    from choirrec.run_dir import RunDir

    cfg, root = tiny
    again = run_pipeline(cfg, RunDir(str(root)))  # the plain-path form of the same run
    assert [r.status for r in again] == ["current"] * 8
    assert "total" in format_results(again)


def test_compare_pools_two_rolling_test_days_with_intervals(tiny, first_run):
    import dataclasses

    from choirrec.experiments.rolling_comparison import compare
    from choirrec.run_dir import RunDir

    cfg, root = tiny
    cfg = dataclasses.replace(cfg, compare=dataclasses.replace(cfg.compare, test_days=2,
                                                               n_boot=300))
    lines = []
    s = compare(cfg, RunDir(cfg.run_dir), progress=lines.append)
    days = s["test_days"]
    assert [d["holdout_days"] for d in days] == [0, 1]
    assert days[0]["test_day"] > days[1]["test_day"]  # the earlier day is the second fold
    fold1 = root / "folds" / "holdout_1"
    ds = json.loads((fold1 / "data" / "dataset.json").read_text())["split"]
    ds0 = json.loads((root / "data" / "dataset.json").read_text())["split"]
    assert ds["end"] == ds0["test_start"] and ds["test_start"] == ds0["valid_start"]
    on_disk = json.loads((root / "eval" / "compare" / "summary.json").read_text())
    overall = on_disk["lifts"]["choirrec"]["overall"]
    for k in ("lift", "ci_low", "ci_high", "p_value", "n_users"):
        assert k in overall
    assert overall["ci_low"] <= overall["lift"] <= overall["ci_high"]
    assert 0 < overall["p_value"] <= 1
    assert overall["n_units"] == sum(d["n_users_gauc"] for d in days)
    assert set(on_disk["lifts"]["choirrec"]) == {"overall", "low", *(
        f"level_{i}" for i in range(1, 6))}
    assert (root / "eval" / "compare" / "forest.png").read_bytes()[:4] == b"\x89PNG"
    # the day-0 units are exactly the run directory's own evaluation
    m = json.loads((root / "eval" / "choirrec" / "metrics.json").read_text())
    assert days[0]["n_users_gauc"] == m["n_users_gauc"]
    assert any("lift [CI]" in ln for ln in lines)
    assert np.isfinite(overall["lift"])


def test_sweep_over_k_and_lambda_writes_results_best_config_and_resumes(tiny, first_run):
    import csv
    import dataclasses

    from choirrec.config import load_config
    from choirrec.run_dir import RunDir
    from choirrec.tuning.sweep import run_sweep

    cfg, root = tiny
    cfg = dataclasses.replace(cfg, sweep=dataclasses.replace(
        cfg.sweep, k=(2, 4), lambdas=(0.0, 0.01), epochs=2))
    s = run_sweep(cfg, RunDir(cfg.run_dir))
    with open(root / "tune" / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert sorted((int(r["k"]), float(r["lambda_kd"])) for r in rows) == [
        (2, 0.0), (2, 0.01), (4, 0.0), (4, 0.01)]
    assert all(r["status"] == "ok" and 1 <= int(r["epochs"]) <= 2 for r in rows)
    assert any(int(r["epochs"]) == 2 for r in rows)  # ASHA keeps the leader to the end
    for r in rows:
        assert 0 <= float(r["valid_gauc"]) <= 1 and float(r["time_s"]) > 0
    best = load_config(str(root / "tune" / "best.yaml"))  # what run_all --config takes
    assert (best.groups.n_clusters, best.model.lambda_kd) == (s["best"]["k"],
                                                             s["best"]["lambda_kd"])
    assert best.data == cfg.data and best.train == cfg.train
    for png in ("gauc_vs_k.png", "gauc_vs_lambda.png"):
        assert (root / "tune" / "plots" / png).read_bytes()[:4] == b"\x89PNG"
    caches = sorted(p.name for p in (root / "tune" / "groups").iterdir())
    assert [c.split("-")[0] for c in caches] == ["k2", "k4"]
    k4 = json.loads((root / "tune" / "groups" / caches[1] / "groups" / "_MANIFEST.json")
                    .read_text())
    assert k4["n_clusters"] == 4
    # a rerun restores the finished experiment: no trial is trained again
    trained = sorted(p.name for p in root.glob("tune/groups/*/.ray_train/*"))
    again = run_sweep(cfg, RunDir(cfg.run_dir))
    assert sorted(p.name for p in root.glob("tune/groups/*/.ray_train/*")) == trained
    assert {r["trial_id"] for r in again["trials"]} == {r["trial_id"] for r in s["trials"]}


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_run_all_as_a_ray_job_on_a_started_head(tiny, first_run, tmp_path):
    """`ray job submit --working-dir . -- python -m pipelines.run_all ...` against a cluster
    of our own (`ray start --head --block`, own temp dir and ports; stopped by killing what we
    started, never `ray stop`). The job's run directory is a copy of the tiny run without the
    ChoirRec model and the evaluation, so the job trains (Ray Train) and scores (Ray Data) on
    the job cluster, and skips the stages that are current."""
    import os
    import shutil
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    from choirrec.config import to_yaml

    cfg, root = tiny
    run = tmp_path / "jobrun"
    shutil.copytree(root, run, ignore=shutil.ignore_patterns(".staging", ".tmp", ".ray_train",
                                                             "folds", "tune"))
    shutil.rmtree(run / "models" / "choirrec")
    shutil.rmtree(run / "eval")
    import dataclasses

    (tmp_path / "job.yaml").write_text(to_yaml(dataclasses.replace(cfg, run_dir=str(run))))
    repo = Path(__file__).resolve().parents[1]
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "RAY_AUTH_MODE": "disabled",
           "RAY_USAGE_STATS_ENABLED": "0"}
    env.pop("RAY_ADDRESS", None)
    gcs, dash = _free_port(), _free_port()
    # every per-node port of our own: the session's cluster already holds the defaults (its
    # dashboard agent's 52365 among them, and the job server needs the agent's HTTP port)
    ports = [f"--{name}={_free_port()}" for name in (
        "dashboard-agent-listen-port", "dashboard-agent-grpc-port", "metrics-export-port",
        "runtime-env-agent-port", "ray-client-server-port", "node-manager-port",
        "object-manager-port")]
    temp_dir = Path("/tmp") / f"rayjob-{os.getpid()}"
    head = subprocess.Popen(
        [str(bin_dir / "ray"), "start", "--head", "--block", f"--port={gcs}", "--num-cpus=2",
         "--include-dashboard=true", f"--dashboard-port={dash}", f"--temp-dir={temp_dir}",
         "--dashboard-host=127.0.0.1", *ports],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    address = f"http://127.0.0.1:{dash}"
    try:
        deadline = time.time() + 120
        while subprocess.run([str(bin_dir / "ray"), "job", "list", "--address", address],
                             env=env, capture_output=True).returncode != 0:
            assert time.time() < deadline, "the head's job server did not come up in 120 s"
            assert head.poll() is None, "ray start --head exited"
            time.sleep(2)
        while True:  # the job server answers before its agent takes jobs: retry that only
            job = subprocess.run(
                [str(bin_dir / "ray"), "job", "submit", "--address", address, "--working-dir",
                 ".", "--", "python", "-m", "pipelines.run_all", "--config",
                 str(tmp_path / "job.yaml"), "--run-dir", str(run)],
                cwd=repo, env=env, capture_output=True, text=True, timeout=600)
            out = job.stdout + job.stderr
            if "No available agent" not in out or time.time() > deadline:
                break
            time.sleep(3)
        assert job.returncode == 0, out[-3000:]
        assert "succeeded" in out.lower(), out[-2000:]
        lines = [ln for ln in out.splitlines() if ln.startswith("[")]
        status = {ln[1:15].strip(): ln[16:24].strip() for ln in lines}
        assert status["prepare"] == "current" and status["train base"] == "current"
        assert status["train choirrec"] == "ran" and status["evaluate"] == "ran"
        m = json.loads((run / "eval" / "choirrec" / "metrics.json").read_text())
        assert m["n_users_gauc"] > 0 and 0 < m["gauc"] < 1
        assert (run / "models" / "choirrec" / "seed_0" / "_MANIFEST.json").exists()
    finally:
        os.killpg(head.pid, signal.SIGTERM)
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
        shutil.rmtree(temp_dir, ignore_errors=True)
