"""A multi-node Ray cluster on one machine: a head and worker nodes, each a `ray start` of
its own (own temp dir, ports, resources and node label), for tests and benchmarks.

Every node runs ``ray start --block`` as a child of this process, so stopping the cluster
stops exactly what it started (``ray stop`` would end every Ray process on the machine,
including a test session's own cluster). :meth:`LocalCluster.kill_node` SIGKILLs one node's
raylet — by the pid this process started it under — the way a lost machine looks to Ray.

    from benchmarks.local_cluster import LocalCluster
    with LocalCluster("/tmp/crc", env=...) as c:
        c.start_head(num_cpus=1)
        c.add_node("worker", num_cpus=2)
        c.submit(["python", "-m", "pipelines.run_all", ...])
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.s3_server import free_port

RAY_BIN = str(Path(sys.executable).with_name("ray"))
ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Node:
    name: str
    proc: subprocess.Popen
    temp_dir: str
    home: str  # the node's $HOME and $TMPDIR live under it: node-local writes land here
    labels: dict[str, str] = field(default_factory=dict)

    def raylet_pid(self) -> int | None:
        """The node's raylet: the process named raylet in this node's session (each node's
        `ray start` was started in a session of its own)."""
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                if (os.getsid(int(entry.name)) == self.proc.pid
                        and (entry / "comm").read_text().strip() == "raylet"):
                    return int(entry.name)
            except (OSError, ProcessLookupError):
                continue
        return None


class LocalCluster:
    """Ray nodes on loopback addresses; ``env`` is added to every node's environment
    (storage endpoint and credentials, ``PYTHONPATH``)."""

    def __init__(self, root: str | Path, env: dict[str, str] | None = None):
        self.root = Path(root)
        self.env = dict(env or {})
        self.nodes: dict[str, Node] = {}
        self.worker_cpus: float = 1  # the shape a replacement node gets
        self.gcs_port = free_port()
        self.dashboard_port = free_port()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.gcs_port}"

    @property
    def dashboard(self) -> str:
        return f"http://127.0.0.1:{self.dashboard_port}"

    def _node_env(self, name: str) -> tuple[dict[str, str], str]:
        home = self.root / name / "home"
        (home / "tmp").mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.env, "RAY_AUTH_MODE": "disabled",
               "RAY_USAGE_STATS_ENABLED": "0", "HOME": str(home), "TMPDIR": str(home / "tmp"),
               "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
               "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT),
                                                           os.environ.get("PYTHONPATH")]))}
        env.pop("RAY_ADDRESS", None)
        return env, str(home)

    def _start(self, name: str, args: list[str], num_cpus: float,
               labels: dict[str, str] | None, resources: dict[str, float] | None) -> Node:
        temp_dir = str(self.root / name / "ray")
        env, home = self._node_env(name)
        labels = {"choirrec.node": name, **(labels or {})}
        cmd = [RAY_BIN, "start", "--block", "--node-ip-address", "127.0.0.1",
               "--num-cpus", str(num_cpus), "--temp-dir", temp_dir,
               "--labels", ",".join(f"{k}={v}" for k, v in labels.items()),
               "--resources", json.dumps({f"node:{name}": 1.0, **(resources or {})}),
               "--node-manager-port", str(free_port()),
               "--object-manager-port", str(free_port()),
               "--runtime-env-agent-port", str(free_port()),
               "--dashboard-agent-grpc-port", str(free_port()),
               "--dashboard-agent-listen-port", str(free_port()),
               "--metrics-export-port", str(free_port()), *args]
        with open(self.root / f"{name}.log", "ab") as log:  # the child keeps its own fd
            proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        node = Node(name, proc, temp_dir, home, labels)
        self.nodes[name] = node
        return node

    def start_head(self, num_cpus: float = 1, labels: dict[str, str] | None = None,
                   resources: dict[str, float] | None = None, timeout_s: float = 90) -> Node:
        node = self._start("head", ["--head", "--port", str(self.gcs_port),
                                    "--dashboard-port", str(self.dashboard_port),
                                    "--include-dashboard", "true",
                                    "--ray-client-server-port", str(free_port())],
                           num_cpus, labels, resources)
        self.wait_nodes(1, timeout_s)
        return node

    def add_node(self, name: str, num_cpus: float = 1, labels: dict[str, str] | None = None,
                 resources: dict[str, float] | None = None, timeout_s: float = 90) -> Node:
        alive = len(self.alive_nodes())
        node = self._start(name, ["--address", self.address], num_cpus, labels, resources)
        self.wait_nodes(alive + 1, timeout_s)
        return node

    def api(self, path: str, timeout: float = 30) -> dict | list | None:
        """GET the head's dashboard REST API (jobs, state); None while it is not up. HTTP
        instead of the `ray` CLI: each CLI call costs a second of CPU to import Ray."""
        try:
            with urllib.request.urlopen(f"{self.dashboard}{path}", timeout=timeout) as r:
                return json.loads(r.read())
        except (OSError, json.JSONDecodeError):
            return None

    def state(self, kind: str) -> list[dict]:
        """Ray's State API listing (``nodes``, ``actors``, ``tasks``), dead entries included."""
        body = self.api(f"/api/v0/{kind}?limit=10000&detail=1") or {}
        return ((body.get("data") or {}).get("result") or {}).get("result") or []

    def alive_nodes(self) -> list[dict]:
        """The cluster's alive nodes (GCS view): node id, labels, resources."""
        return [n for n in self.state("nodes") if n.get("state") == "ALIVE"]

    def wait_nodes(self, n: int, timeout_s: float = 90) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for node in self.nodes.values():
                if node.proc.poll() is not None and node.name == "head":
                    raise RuntimeError(f"ray head exited; see {self.root / 'head.log'}")
            if len(self.alive_nodes()) >= n:
                return
            time.sleep(1)
        raise TimeoutError(f"{n} Ray node(s) not alive after {timeout_s} s "
                           f"(logs in {self.root})")

    def kill_node(self, name: str) -> int:
        """A lost machine: SIGKILL the node's raylet (by pid), then every other process of the
        node (its workers, its `ray start`) the same way; nothing drains. Returns the pid."""
        node = self.nodes[name]
        pid = node.raylet_pid()
        if pid is None:
            raise RuntimeError(f"node {name}: no raylet process found")
        os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(node.proc.pid, signal.SIGKILL)
        node.proc.wait()
        return pid

    def ray(self, args: list[str], check: bool = True,
            timeout: float = 120) -> subprocess.CompletedProcess:
        env, _ = self._node_env("client")
        env["RAY_ADDRESS"] = self.dashboard if args[:1] == ["job"] else self.address
        return subprocess.run([RAY_BIN, *args], env=env, capture_output=True, text=True,
                              check=check, timeout=timeout, cwd=ROOT)

    def submit(self, entrypoint: list[str], submission_id: str, wait: bool = False,
               working_dir: bool = False, timeout: float = 1800) -> subprocess.CompletedProcess:
        """``ray job submit`` the entrypoint from this repository (``--working-dir .`` as a
        user would, or the nodes' ``PYTHONPATH``). The job server answers before its agent
        takes jobs: "No available agent" is retried for a minute."""
        args = ["job", "submit", "--submission-id", submission_id]
        if working_dir:
            args += ["--working-dir", "."]
        if not wait:
            args.append("--no-wait")
        deadline = time.monotonic() + 60
        while True:
            out = self.ray([*args, "--", *entrypoint], check=False, timeout=timeout)
            if "No available agent" not in out.stdout + out.stderr or \
                    time.monotonic() > deadline:
                return out
            time.sleep(3)

    def job_status(self, submission_id: str) -> str:
        return (self.api(f"/api/jobs/{submission_id}") or {}).get("status", "UNKNOWN")

    def job_logs(self, submission_id: str) -> str:
        return (self.api(f"/api/jobs/{submission_id}/logs") or {}).get("logs", "")

    def _stop(self, node: Node) -> None:
        if node.proc.poll() is None:
            node.proc.send_signal(signal.SIGTERM)
            try:
                node.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(node.proc.pid, signal.SIGKILL)
                node.proc.wait()
        # anything of the node's still alive (a worker whose raylet died first)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(node.proc.pid, signal.SIGKILL)

    def stop(self) -> None:
        for name in [n for n in self.nodes if n != "head"] + ["head"]:
            if name in self.nodes:
                self._stop(self.nodes[name])

    def __enter__(self) -> LocalCluster:
        self.root.mkdir(parents=True, exist_ok=True)
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
