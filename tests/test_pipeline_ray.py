"""End to end through Ray, as users run it: `ray job submit … python -m pipelines.run_all` on a
two-node cluster of our own, the run directory on ``s3://`` (a real S3 HTTP API on 127.0.0.1),
the worker node lost during profiles and during training; then, from this process on the
session's cluster, a rerun that skips every stage, the rolling-day paired comparison and the
k × λ sweep on the same S3 run directory — and nothing written anywhere else, credentials
included."""

import csv
import io

import numpy as np
import pyarrow.fs as pafs
import pytest

pytestmark = pytest.mark.timeout(900)
STAGES = ["prepare", "profiles", "embeddings", "groups", "priors", "train base",
          "train choirrec", "evaluate"]


@pytest.fixture(scope="module")
def tiny(ray_cluster, s3_store):
    from benchmarks.node_loss import job_config
    from choirrec.run_dir import RunDir

    bucket = s3_store.create_bucket("choirrec-pipeline").removeprefix("s3://")
    # 1,000 users, 2 profile shards, behavioural embeddings, K = 4, 2 epochs (Ray Train has a
    # checkpoint on S3 before the job's training is hit)
    cfg = job_config(f"s3://{bucket}/run?endpoint_override={s3_store.endpoint}", users=1000,
                     epochs=2, shards=2)
    return cfg, RunDir(cfg.run_dir)


def _files(run, *parts):
    sel = pafs.FileSelector(run.path(*parts), recursive=True, allow_not_found=True)
    return [i for i in run.fs.get_file_info(sel) if i.type == pafs.FileType.File]


def _bytes(run, *parts) -> bytes:
    with run.fs.open_input_stream(run.path(*parts)) as f:
        return f.read()


@pytest.fixture(scope="module")
def cluster_job(tiny, s3_store):
    """The tiny world's first run: a Ray job on a cluster of our own — a head that runs no
    work and a worker node, each a `ray start` (own temp dir, ports, label), reaching S3
    through the standard AWS variables — whose worker node is SIGKILLed while the profile
    actors run and again after Ray Train's first checkpoint (a replacement joins each time),
    then the same command again. benchmarks/node_loss.py runs it on a bigger world."""
    import shutil
    import tempfile
    from pathlib import Path

    from benchmarks.local_cluster import LocalCluster
    from benchmarks.node_loss import Scenario, fault_run

    cfg, run = tiny
    work = Path(tempfile.mkdtemp(prefix="crc-", dir="/tmp"))  # short: Ray's socket paths
    try:
        with LocalCluster(work / "cluster", env=s3_store.env()) as cluster:
            cluster.worker_cpus = 2
            cluster.start_head(num_cpus=0)
            cluster.add_node("worker1", num_cpus=2)
            sc = Scenario(cluster, s3_store, run.root.split("/")[0], work)
            out = fault_run(sc, cfg, "run")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out


def test_run_all_as_a_ray_job_on_two_nodes_survives_losing_a_node(cluster_job):
    out = cluster_job
    f, r = out["faults"], out["rerun"]
    tail = out["faults_logs_tail"]
    assert not f["missed_kills"], (f, tail)
    assert [k["during"] for k in f["kills"]] == ["profiles", "train"]
    assert "profiles" not in f["kills"][0]["committed_before"]
    assert f["kills"][1]["checkpointed_models"], f["kills"][1]
    if f["status"] == "SUCCEEDED":  # recovered: the rerun finds every stage current
        assert [ln[0] for ln in f["stage_lines"]] == STAGES, tail
        assert r["stages"] == {s: "current" for s in STAGES}, r
    else:  # or one clear line, and the rerun resumes from what was committed
        assert f["status"] == "FAILED" and len(f["error"]) == 1, tail
        assert all(r["stages"][s] == "current" for s in f["committed"]), r
    assert r["status"] == "SUCCEEDED" and set(r["committed"]) == set(STAGES), r
    # the killed model kept every epoch; "resumed_from" says which epoch its restarted
    # worker group restored from Ray Train's checkpoint on S3 (reported by the benchmark)
    assert len(out["train_resumed_from"]) == 2, out
    # the work ran on the worker nodes (the head has no CPU): Ray Data's and Ray Train's
    # actors on workers only; the head keeps the job supervisor and 0-CPU coordinators
    per = out["actors_per_node"]
    on_workers = {c for n, cs in per.items() if n.startswith("worker") for c in cs}
    assert {"MapWorker", "RayTrainWorker"} <= on_workers, per
    assert not {"MapWorker", "RayTrainWorker"} & set(per.get("head", {})), per
    assert "JobSupervisor" in per.get("head", {}), per
    # no stage kept state on a node: nothing but caches under any node's $HOME / $TMPDIR
    assert all(not f["state"] for f in out["node_local_files"].values()), out


def test_run_all_runs_every_stage_in_order_inside_the_run_dir(tiny, cluster_job, s3_store):
    cfg, run = tiny
    f = cluster_job["faults"]
    lines = f["stage_lines"]
    if f["status"] == "SUCCEEDED":
        assert [s for s, _, _ in lines] == STAGES and {st for _, st, _ in lines} == {"ran"}
        figures = {s: fig for s, _, fig in lines}
        assert "GAUC users" in figures["prepare"] and "M=3 x K=4" in figures["groups"]
    m = run.read_json("eval", "choirrec", "metrics.json")
    assert 0.3 < m["gauc"] < 1 and m["n_users_gauc"] > 0
    assert run.fs.get_file_info(run.path("eval", "comparison.csv")).type == pafs.FileType.File
    top = run.fs.get_file_info(pafs.FileSelector(run.root.split("/")[0]))
    assert [i.base_name for i in top] == ["run"], "a stage wrote outside the run directory"
    # Ray Train's checkpoints and both jobs' logs live in the run directory, not on a node
    assert any("/checkpoint_" in i.path for i in _files(run, ".ray_train"))
    logs = [i.base_name for i in _files(run, "logs")]
    assert sum(n.startswith("run_all-") for n in logs) == 2, logs
    # no credential anywhere in what the run wrote (configs, manifests, bundles, logs)
    secret = s3_store.env()["AWS_SECRET_ACCESS_KEY"].encode()
    key_id = s3_store.env()["AWS_ACCESS_KEY_ID"].encode()
    for info in _files(run):
        blob = _bytes(run, info.path[len(run.root) + 1:])
        assert secret not in blob and key_id not in blob, info.path


def test_rerun_skips_every_current_stage(tiny, cluster_job):
    from choirrec.pipeline import format_results, run_pipeline
    from choirrec.run_dir import RunDir

    cfg, run = tiny  # this process, the session's cluster, the endpoint in the URI
    again = run_pipeline(cfg, RunDir(run.uri))
    assert [r.status for r in again] == ["current"] * 8
    assert "total" in format_results(again)


def test_compare_pools_two_rolling_test_days_with_intervals(tiny, cluster_job):
    import dataclasses

    from choirrec.experiments.rolling_comparison import compare
    from choirrec.run_dir import RunDir

    cfg, run = tiny
    cfg = dataclasses.replace(cfg, compare=dataclasses.replace(cfg.compare, test_days=2,
                                                               n_boot=300))
    lines = []
    s = compare(cfg, RunDir(cfg.run_dir), progress=lines.append)
    days = s["test_days"]
    assert [d["holdout_days"] for d in days] == [0, 1]
    assert days[0]["test_day"] > days[1]["test_day"]  # the earlier day is the second fold
    ds = run.read_json("folds", "holdout_1", "data", "dataset.json")["split"]
    ds0 = run.read_json("data", "dataset.json")["split"]
    assert ds["end"] == ds0["test_start"] and ds["test_start"] == ds0["valid_start"]
    on_disk = run.read_json("eval", "compare", "summary.json")
    overall = on_disk["lifts"]["choirrec"]["overall"]
    for k in ("lift", "ci_low", "ci_high", "p_value", "n_users"):
        assert k in overall
    assert overall["ci_low"] <= overall["lift"] <= overall["ci_high"]
    assert 0 < overall["p_value"] <= 1
    assert overall["n_units"] == sum(d["n_users_gauc"] for d in days)
    assert set(on_disk["lifts"]["choirrec"]) == {"overall", "low", *(
        f"level_{i}" for i in range(1, 6))}
    assert _bytes(run, "eval", "compare", "forest.png")[:4] == b"\x89PNG"
    # the day-0 units are exactly the run directory's own evaluation
    m = run.read_json("eval", "choirrec", "metrics.json")
    assert days[0]["n_users_gauc"] == m["n_users_gauc"]
    assert any("lift [CI]" in ln for ln in lines)
    assert np.isfinite(overall["lift"])


def test_sweep_over_k_and_lambda_writes_results_best_config_and_resumes(tiny, cluster_job,
                                                                        tmp_path):
    import dataclasses

    from choirrec.config import load_config
    from choirrec.run_dir import RunDir
    from choirrec.tuning.sweep import run_sweep

    cfg, run = tiny
    # k = 4 is the run's own K: its groups and priors are copied, not rebuilt
    cfg = dataclasses.replace(cfg, sweep=dataclasses.replace(
        cfg.sweep, k=(2, 4), lambdas=(0.0, 0.01), epochs=2))
    s = run_sweep(cfg, RunDir(cfg.run_dir))
    rows = list(csv.DictReader(io.StringIO(_bytes(run, "tune", "results.csv").decode())))
    assert sorted((int(r["k"]), float(r["lambda_kd"])) for r in rows) == [
        (2, 0.0), (2, 0.01), (4, 0.0), (4, 0.01)]
    assert all(r["status"] == "ok" and 1 <= int(r["epochs"]) <= 2 for r in rows)
    assert any(int(r["epochs"]) == 2 for r in rows)  # ASHA keeps the leader to the end
    for r in rows:
        assert 0 <= float(r["valid_gauc"]) <= 1 and float(r["time_s"]) > 0
    (tmp_path / "best.yaml").write_bytes(_bytes(run, "tune", "best.yaml"))
    best = load_config(str(tmp_path / "best.yaml"))  # what run_all --config takes
    assert (best.groups.n_clusters, best.model.lambda_kd) == (s["best"]["k"],
                                                             s["best"]["lambda_kd"])
    assert best.data == cfg.data and best.train == cfg.train
    for png in ("gauc_vs_k.png", "gauc_vs_lambda.png"):
        assert _bytes(run, "tune", "plots", png)[:4] == b"\x89PNG"
    caches = sorted(i.base_name for i in run.fs.get_file_info(
        pafs.FileSelector(run.path("tune", "groups"))))
    assert [c.split("-")[0] for c in caches] == ["k2", "k4"]
    k4 = run.read_json("tune", "groups", caches[1], "groups", "_MANIFEST.json")
    assert k4["n_clusters"] == 4 and k4["fingerprint"] == run.manifest("groups")["fingerprint"]
    k2 = run.read_json("tune", "groups", caches[0], "groups", "_MANIFEST.json")
    assert k2["n_clusters"] == 2 and k2["fingerprint"] != k4["fingerprint"]

    def trained() -> list[str]:  # the Ray Train runs of the trials (run dirs on S3)
        return sorted({i.path.split("/.ray_train/")[1].split("/")[0]
                       for i in _files(run, "tune", "groups") if "/.ray_train/" in i.path})
    before = trained()
    assert before
    # a rerun restores the finished experiment: no trial is trained again
    again = run_sweep(cfg, RunDir(cfg.run_dir))
    assert trained() == before
    assert {r["trial_id"] for r in again["trials"]} == {r["trial_id"] for r in s["trials"]}

