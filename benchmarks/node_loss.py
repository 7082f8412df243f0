"""A node lost mid-run: ``run_all`` as a Ray job on a two-node cluster, run directory on S3.

The cluster is the production shape in miniature: a head that runs no work (``--num-cpus 0``)
and a worker node with the CPUs, each its own `ray start` on 127.0.0.1 (benchmarks/
local_cluster.py); the run directory is ``s3://`` on an S3 API server (benchmarks/
s3_server.py), reached through the standard ``AWS_*`` variables of every node. While the job
runs, the worker node's raylet is SIGKILLed during the profiles stage and again during
training (after Ray Train's first checkpoint); a replacement node joins a few seconds later,
as a cluster's autoscaler would start one. Then the same ``ray job submit`` command runs
again, which must find every stage current (or resume the ones a failed job left).

Reports: where the work ran (actors per node), what was committed at each kill, the job's
outcome and time, the epochs Ray Train resumed from, files written on the worker nodes
outside the run directory, and (``--baseline``) the same job on an unharmed cluster, to
give the time the faults cost.

    python -m benchmarks.node_loss --users 1000 --epochs 3 --baseline
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import tempfile
import time
import uuid
from pathlib import Path

import pyarrow.fs as pafs

from benchmarks.local_cluster import ROOT, LocalCluster
from benchmarks.s3_server import TEST_CREDENTIALS, S3Server
from choirrec.config import (
    Config,
    DataConfig,
    EmbedConfig,
    GroupsConfig,
    PriorsConfig,
    ProfileConfig,
    SyntheticConfig,
    TrainConfig,
    to_yaml,
)
from choirrec.pipeline import stage_plan
from choirrec.run_dir import RunDir

STAGES = ["prepare", "profiles", "embeddings", "groups", "priors", "train base",
          "train choirrec", "evaluate"]


def job_config(run_dir: str, users: int, epochs: int, shards: int) -> Config:
    """A small world whose stages each take long enough on 2 cores to be hit by a kill."""
    return Config(
        run_dir=run_dir,
        data=DataConfig(synthetic=SyntheticConfig(users=users, block_size=max(100, users // 2))),
        profiles=ProfileConfig(users_per_shard=max(50, users // shards)),
        embed=EmbedConfig(embedder="behavioral", users_per_shard=max(50, users // 2)),
        groups=GroupsConfig(n_clusters=4),
        priors=PriorsConfig(num_partitions=2, min_group_size=5),
        train=TrainConfig(epochs=epochs, batch_size=256, seeds=(0,)))


def _checkpointed_untrained(run: RunDir) -> list[str]:
    """Models with a Ray Train checkpoint on storage but no committed bundle yet: training
    is under way and a restart would restore from that checkpoint."""
    sel = pafs.FileSelector(run.path(".ray_train"), recursive=True, allow_not_found=True)
    names = {i.path.split("/.ray_train/")[1].split("/")[0] for i in run.fs.get_file_info(sel)
             if "/checkpoint_" in i.path and i.path.endswith("state.pt")}
    models = {n.split("-seed")[0] for n in names}
    return sorted(m for m in models if run.manifest(f"models/{m}/seed_0") is None)


def _profile_actors_alive(cluster: LocalCluster) -> bool:
    return any(a.get("state") == "ALIVE" and "ProfileShardWorker" in (a.get("class_name") or "")
               for a in cluster.state("actors"))


def _committed(run: RunDir, cfg: Config) -> list[str]:
    """The pipeline's stages (``choirrec.pipeline.stage_plan``) whose outputs all committed."""
    models = tuple(cfg.eval.models) or ("base", "choirrec")
    return [label for label, dirs, _ in stage_plan(cfg, models)
            if all(run.manifest(d) is not None for d in dirs)]


def _staged_shards(run: RunDir, stage: str) -> int:
    sel = pafs.FileSelector(run.path(".staging"), recursive=True, allow_not_found=True)
    return sum(1 for i in run.fs.get_file_info(sel)
               if f"/{stage}-" in i.path and i.path.endswith(".parquet"))


def stage_lines(logs: str) -> list[list[str]]:
    """run_all's progress lines ``[stage] status seconds rows figure``, in order, as
    ``[stage, status, the rest]``."""
    out = []
    for ln in logs.splitlines():
        if ln.startswith("[") and "]" in ln:
            stage, rest = ln[1:].split("]", 1)
            if stage.strip() in STAGES and rest.split():
                out.append([stage.strip(), rest.split()[0], rest.strip()])
    return out


def actors_per_node(cluster: LocalCluster) -> dict[str, dict[str, int]]:
    """{node name: {actor class: count}} over the cluster's actors, dead ones included."""
    names = {n["node_id"]: (n.get("labels") or {}).get("choirrec.node", "?")
             for n in cluster.state("nodes")}
    per: dict[str, dict[str, int]] = {}
    for a in cluster.state("actors"):
        node = names.get(a.get("node_id") or "", "?")
        cls = (a.get("class_name") or "?").split("(")[0]
        per.setdefault(node, {}).setdefault(cls, 0)
        per[node][cls] += 1
    return per


# what a node may keep: caches rebuilt on demand (matplotlib's font list, model caches) and
# Ray's own lock files in $TMPDIR; anything else would be state a lost node takes with it
CACHES = (".cache/", "tmp/_ray_lockfiles/")


def node_local_files(cluster: LocalCluster) -> dict[str, dict[str, list[str]]]:
    """Files each node's processes (the job driver on the head, stage work on the workers)
    wrote under the node's own $HOME / $TMPDIR (Ray's session directory is elsewhere):
    ``state`` (should be empty: a stage that kept state on a node would show here) and
    ``caches``."""
    out = {}
    for name, node in cluster.nodes.items():
        files = sorted(str(p.relative_to(node.home)) for p in Path(node.home).rglob("*")
                       if p.is_file())
        out[name] = {"state": [f for f in files if not f.startswith(CACHES)],
                     "caches": [f for f in files if f.startswith(CACHES)]}
    return out


class Scenario:
    """Jobs on ``cluster`` with their run directories under ``s3://bucket/``; the S3 server
    and the cluster are the caller's."""

    def __init__(self, cluster: LocalCluster, s3: S3Server, bucket: str, work: Path):
        self.cluster, self.s3, self.bucket, self.work = cluster, s3, bucket, work
        self.replacements = 0
        self.victim = "worker1"

    def client_run(self, prefix: str) -> RunDir:
        """The job's run directory as this process reads it (the endpoint in its URI; the
        job's nodes find it through ``AWS_ENDPOINT_URL``)."""
        return RunDir(f"s3://{self.bucket}/{prefix}?endpoint_override={self.s3.endpoint}")

    def seed(self, prefix: str, source: RunDir, stages: tuple[str, ...]) -> None:
        """Start ``prefix`` with ``source``'s committed ``stages`` (same config: they stay
        current), so a job spends its time on the stages under test."""
        dest = self.client_run(prefix)
        for st in stages:
            dest.copy_stage_from(source, st)

    def replace_node(self) -> dict:
        """Kill the current worker's raylet, then start a replacement of the same shape."""
        t = time.monotonic()
        pid = self.cluster.kill_node(self.victim)
        self.replacements += 1
        new = f"worker{self.replacements + 1}"
        self.cluster.add_node(new, num_cpus=self.cluster.worker_cpus)
        ev = {"killed": self.victim, "raylet_pid": pid, "replacement": new,
              "replacement_ready_s": round(time.monotonic() - t, 1)}
        self.victim = new
        return ev

    def run(self, cfg: Config, prefix: str, kills: tuple[str, ...] = (),
            timeout_s: float = 1500) -> dict:
        """Submit ``run_all`` for ``cfg`` on ``s3://bucket/prefix``; kill the worker node
        during each stage named in ``kills`` ("profiles", "train")."""
        cfg = dataclasses.replace(cfg, run_dir=f"s3://{self.bucket}/{prefix}")
        cfg_path = self.work / f"{prefix}.yaml"
        cfg_path.write_text(to_yaml(cfg))
        run = self.client_run(prefix)
        sid = f"{prefix}-{uuid.uuid4().hex[:6]}"
        t0 = time.monotonic()
        sub = self.cluster.submit(["python", "-m", "pipelines.run_all", "--config",
                                   str(cfg_path)], sid, working_dir=True)
        if sub.returncode != 0:
            raise RuntimeError(f"ray job submit failed: {sub.stdout[-2000:]}{sub.stderr[-2000:]}")
        events, pending = [], list(kills)
        while True:
            status = self.cluster.job_status(sid)
            if status in ("SUCCEEDED", "FAILED", "STOPPED"):
                break
            if time.monotonic() - t0 > timeout_s:
                raise TimeoutError(f"job {sid} still {status} after {timeout_s} s")
            if pending:
                committed = _committed(run, cfg)
                training = pending[0] == "train" and _checkpointed_untrained(run)
                hit = training or (pending[0] == "profiles" and "profiles" not in committed
                                   and _profile_actors_alive(self.cluster))
                if hit:
                    ev = {"during": pending.pop(0), "at_s": round(time.monotonic() - t0, 1),
                          "committed_before": committed,
                          "checkpointed_models": training or [],
                          "profile_shards_done": _staged_shards(run, "profiles")}
                    ev.update(self.replace_node())
                    events.append(ev)
                    continue
            time.sleep(0.3)
        logs = self.cluster.job_logs(sid)
        errors = [ln for ln in logs.splitlines() if ln.startswith("error:")]
        return {"submission_id": sid, "status": status,
                "seconds": round(time.monotonic() - t0, 1), "kills": events,
                "missed_kills": pending, "stage_lines": stage_lines(logs),
                "stages": {st: status for st, status, _ in stage_lines(logs)}, "error": errors,
                "committed": _committed(run, cfg), "logs_tail": logs[-3000:]}


def fault_run(sc: Scenario, cfg: Config, prefix: str) -> dict:
    """The faulty job, then the same command again (it resumes, or finds all current)."""
    first = sc.run(cfg, prefix, kills=("profiles", "train"))
    again = sc.run(cfg, prefix)
    out = {"faults": {k: v for k, v in first.items() if k != "logs_tail"},
           "rerun": {k: again[k] for k in ("status", "seconds", "stages", "committed",
                                           "error")},
           "faults_logs_tail": first["logs_tail"]}
    run = sc.client_run(prefix)
    hit = [k for k in first["kills"] if k["during"] == "train"]
    if hit and hit[0]["checkpointed_models"]:
        model = hit[0]["checkpointed_models"][0]
        if run.manifest(f"models/{model}/seed_0") is not None:
            out["train_killed_model"] = model
            out["train_resumed_from"] = train_resumes(run, model)
    out["nodes"] = {(n.get("labels") or {}).get("choirrec.node", "?"):
                    {"ip": n.get("node_ip"), "state": n.get("state")}
                    for n in sc.cluster.state("nodes")}
    out["actors_per_node"] = actors_per_node(sc.cluster)
    out["node_local_files"] = node_local_files(sc.cluster)
    return out


def train_resumes(run: RunDir, model: str = "base") -> list[int]:
    """Per epoch of the kept model, the epoch its worker group started from (0: fresh)."""
    spec = run.read_json("models", model, "seed_0", "model.json")
    return [int(h.get("resumed_from", 0)) for h in spec.get("history", [])]


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--users", type=int, default=1000)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--shards", type=int, default=4, help="profile shards (resume granularity)")
    p.add_argument("--worker-cpus", type=float, default=2)
    p.add_argument("--baseline", action="store_true", help="also run once without faults")
    p.add_argument("--out", help="write the JSON here too")
    a = p.parse_args(argv)
    os.environ.update(TEST_CREDENTIALS)  # this process reads the run directories too
    work = Path(tempfile.mkdtemp(prefix="crc-", dir="/tmp"))  # short: Ray's socket paths
    cfg = job_config("", a.users, a.epochs, a.shards)
    out: dict = {"users": a.users, "epochs": a.epochs, "shards": a.shards,
                 "worker_cpus": a.worker_cpus}
    with S3Server(log_path=str(work / "moto.log")) as s3:
        bucket = s3.create_bucket("choirrec-node-loss").removeprefix("s3://")
        with LocalCluster(work / "cluster", env=s3.env()) as cluster:
            cluster.worker_cpus = a.worker_cpus
            cluster.start_head(num_cpus=0)
            cluster.add_node("worker1", num_cpus=a.worker_cpus)
            sc = Scenario(cluster, s3, bucket, work)
            if a.baseline:
                base = sc.run(cfg, "clean")
                out["clean"] = {k: base[k] for k in ("status", "seconds", "stages")}
            out.update(fault_run(sc, cfg, "faults"))
    if a.baseline:
        f, r = out["faults"], out["rerun"]
        spent = f["seconds"] + (r["seconds"] if f["status"] != "SUCCEEDED" else 0)
        out["time_lost_s"] = round(spent - out["clean"]["seconds"], 1)
    out.pop("faults_logs_tail", None)
    print(json.dumps(out, indent=2, default=str))
    print(f"\n{'job':<8}{'status':<11}{'seconds':>8}  stages")
    for k in ("clean", "faults", "rerun"):
        if k in out:
            print(f"{k:<8}{out[k]['status']:<11}{out[k]['seconds']:>8}  "
                  + " ".join(f"{s.split()[-1]}={v}" for s, v in out[k]["stages"].items()))
    for ev in out["faults"]["kills"]:
        print(f"killed {ev['killed']} during {ev['during']} at {ev['at_s']} s "
              f"(committed: {', '.join(ev['committed_before']) or 'none'}); "
              f"{ev['replacement']} ready in {ev['replacement_ready_s']} s")
    if a.out:
        Path(a.out).write_text(json.dumps(out, indent=2, default=str))
    return out


if __name__ == "__main__":
    os.chdir(ROOT)
    main()
