"""Closed-loop load on the Serve endpoint vs the same model called in-process.

    python -m benchmarks.serve_load --run-dir runs/demo              # after `make demo`
    python -m benchmarks.serve_load --run-dir runs/demo --concurrency 1,8,32 --seconds 20
    python -m benchmarks.serve_load --run-dir runs/demo --fast-ingress --num-replicas 2
    python -m benchmarks.serve_load --run-dir runs/demo --concurrency 32 --seconds 60 \
        --num-replicas 2 --faults kill-replica,reconfigure

Starts the app (``serve.app:build``) on a local cluster, then for each concurrency level runs
an asyncio/aiohttp client **in a separate process** on loopback: N clients, each sending its
next request as soon as the last one answered, for ``--seconds``. Requests are known test
users with ``--candidates`` candidates each. The in-process reference scores the same
requests with :class:`choirrec.serving.scorer.Scorer` directly (no HTTP, no Serve), one at a
time; the difference of the medians is Serve's per-request overhead. Prints JSON and a table.

``--fast-ingress`` starts the local cluster with Ray 2.60's ``RAY_SERVE_THROUGHPUT_OPTIMIZED=1``
and ``RAY_SERVE_ENABLE_HA_PROXY=1`` (HAProxy in front of the replicas instead of the Python
HTTP proxy; needs the ``haproxy`` binary, e.g. ``apt-get install haproxy``): the Python proxy
is the ceiling on 2 cores (docs/serving.md).

``--faults kill-replica,reconfigure`` then runs ``--fault-concurrency`` clients once per fault:
a third of the way in, one replica process is SIGKILLed (Serve restarts it) or the other
model is rolled out through ``reconfigure``; it reports the failed requests and the time from
the fault to the last failure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import numpy as np


def _pct(lat: list[float]) -> dict[str, float]:
    a = np.asarray(lat) * 1000 if lat else np.zeros(1)
    return {"p50_ms": float(np.percentile(a, 50)), "p95_ms": float(np.percentile(a, 95)),
            "p99_ms": float(np.percentile(a, 99))}


async def _client_main(url: str, payloads: list[dict], concurrency: int, seconds: float) -> dict:
    import aiohttp

    lat: list[float] = []
    errors = server_errors = 0
    # (start, status, end) in seconds since the client started; status 0 = no answer
    timeline: list[tuple[float, int, float]] = []
    start, start_epoch = time.perf_counter(), time.time()
    deadline = start + seconds

    async def worker(k: int, session: aiohttp.ClientSession) -> None:
        nonlocal errors, server_errors
        i = k
        while time.perf_counter() < deadline:
            t = time.perf_counter()
            try:
                async with session.post(url, json=payloads[i % len(payloads)]) as r:
                    await r.read()
                    status = r.status
            except (aiohttp.ClientError, asyncio.TimeoutError):
                status = 0
            timeline.append((round(t - start, 3), status, round(time.perf_counter() - start, 3)))
            if status != 200:
                errors += 1
                server_errors += status >= 500 or status == 0
                await asyncio.sleep(0.05)  # a failing server is retried, not hammered
                continue
            lat.append(time.perf_counter() - t)
            i += concurrency

    conn = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=conn,
                                     timeout=aiohttp.ClientTimeout(total=60)) as s:
        t0 = time.perf_counter()
        await asyncio.gather(*(worker(k, s) for k in range(concurrency)))
        wall = time.perf_counter() - t0
    return {"concurrency": concurrency, "requests": len(lat), "errors": errors,
            "server_errors": server_errors, "qps": len(lat) / wall, **_pct(lat),
            "timeline": sorted(timeline), "start_epoch": start_epoch}


def fault_summary(timeline: list[tuple], fault_at: float) -> dict:
    """What clients saw of a fault: requests that failed after it, the time from the fault
    to the last failure (0 when nothing failed), and ``stall_s``, the longest any request
    sent in flight at or after the fault waited (Serve queues requests while a replica
    restarts, so an outage shows as waiting more than as failures)."""
    after = [(t, st, end) for t, st, *rest in timeline for end in [rest[0] if rest else t]
             if end >= fault_at]  # answered (or failed) at or after the fault
    failed = [end for _, st, end in after if st != 200]  # in flight at the fault included
    return {"fault_at_s": fault_at, "failed_requests": len(failed),
            "answered_after_fault": sum(1 for _, st, _ in after if st == 200),
            "recovery_s": round(max(failed) - fault_at, 3) if failed else 0.0,
            "stall_s": round(max((end - t for t, _, end in after), default=0.0), 3)}


def _replica_pids(app: str = "choirrec") -> list[int]:
    from ray.util.state import list_actors

    return [a.pid for a in list_actors(filters=[("state", "=", "ALIVE")], limit=1000)
            if a.class_name.startswith(f"ServeReplica:{app}:")]


def run_fault(fault: str, url: str, payload_file: str, app_args: dict,
              concurrency: int, seconds: float) -> dict:
    """Load from a client process while one fault happens a third of the way in:
    ``kill-replica`` SIGKILLs one replica process (Serve restarts it), ``reconfigure`` rolls
    the other model out through ``reconfigure``."""
    import signal

    from ray import serve

    from serve.app import build

    cmd = [sys.executable, "-m", "benchmarks.serve_load", "--client", url, "--concurrency",
           str(concurrency), "--seconds", str(seconds), "--payload-file", payload_file]
    client = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    time.sleep(seconds / 3)
    fault_epoch = time.time()
    if fault == "kill-replica":
        pid = _replica_pids()[0]
        os.kill(pid, signal.SIGKILL)
        detail = {"killed_pid": pid}
    else:
        other = "base" if app_args["model"] != "base" else "choirrec"
        serve.run(build({**app_args, "model": other}), name="choirrec", route_prefix="/")
        detail = {"rolled_to": other}
    out, _ = client.communicate(timeout=seconds + 120)
    res = json.loads(out.strip().splitlines()[-1])
    fault_at = round(fault_epoch - res["start_epoch"], 3)  # in the client's clock
    return {"fault": fault, **detail, "concurrency": concurrency, "seconds": seconds,
            **fault_summary(res["timeline"], fault_at),
            **{k: res[k] for k in ("requests", "errors", "server_errors", "qps", "p99_ms")}}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _payloads(run, n: int, n_candidates: int, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    users = np.unique(run.read_table("data", "samples", "test").column("user_id").to_numpy())
    items = run.read_table("data", "items")
    it, ct = items.column("item_id").to_numpy(), items.column("category_id").to_numpy()
    out = []
    for u in rng.choice(users, n, replace=len(users) < n):
        pick = rng.integers(0, it.size, n_candidates)
        out.append({"user_id": int(u), "candidates": [
            {"item_id": int(it[j]), "category_id": int(ct[j])} for j in pick]})
    return out


def _enable_fast_ingress() -> None:
    """Set the Serve env vars before ``ray.init`` starts the local cluster (its processes
    inherit them); on an existing cluster they must be set where ``ray start`` ran."""
    if shutil.which("haproxy") is None:
        raise SystemExit("--fast-ingress needs the haproxy binary on PATH. Fix: "
                         "apt-get install haproxy (or run without --fast-ingress)")
    if os.environ.get("RAY_ADDRESS"):
        print("note: RAY_ADDRESS is set; --fast-ingress only takes effect if that cluster was "
              "started with RAY_SERVE_ENABLE_HA_PROXY=1 RAY_SERVE_THROUGHPUT_OPTIMIZED=1",
              file=sys.stderr)
    os.environ["RAY_SERVE_THROUGHPUT_OPTIMIZED"] = "1"
    os.environ["RAY_SERVE_ENABLE_HA_PROXY"] = "1"


def in_process(run, payloads: list[dict], model: str, seconds: float) -> dict:
    from choirrec.serving.schemas import ScoreRequest
    from choirrec.serving.scorer import Scorer, load_model, model_uri

    scorer = Scorer(load_model(run, model_uri(run, model)))
    reqs = [ScoreRequest.model_validate(p) for p in payloads]
    lat = []
    deadline = time.perf_counter() + seconds
    i = 0
    while time.perf_counter() < deadline:
        t = time.perf_counter()
        scorer.score([reqs[i % len(reqs)]])
        lat.append(time.perf_counter() - t)
        i += 1
    return {"requests": len(lat), "qps": len(lat) / sum(lat), **_pct(lat)}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run-dir", default="runs/demo")
    p.add_argument("--model", default="choirrec")
    p.add_argument("--concurrency", default="1,8,32")
    p.add_argument("--seconds", type=float, default=15.0)
    p.add_argument("--candidates", type=int, default=100)
    p.add_argument("--requests", type=int, default=500, help="distinct request payloads")
    p.add_argument("--max-batch-size", type=int, default=32)
    p.add_argument("--batch-wait-timeout-s", type=float, default=0.002)
    p.add_argument("--num-replicas", type=int, default=1)
    p.add_argument("--fast-ingress", action="store_true",
                   help="HAProxy ingress + Serve's throughput-optimized mode (needs haproxy)")
    p.add_argument("--faults", default="",
                   help="also run, at --fault-concurrency clients: kill-replica,reconfigure")
    p.add_argument("--fault-concurrency", type=int, default=8)
    p.add_argument("--client", help=argparse.SUPPRESS)  # internal: run as the load process
    p.add_argument("--payload-file", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.client:
        with open(a.payload_file) as f:
            payloads = json.load(f)
        res = asyncio.run(_client_main(a.client, payloads, int(a.concurrency), a.seconds))
        print(json.dumps(res))
        return res

    import ray
    from ray import serve

    from choirrec.run_dir import RunDir
    from serve.app import build

    run = RunDir(a.run_dir if "://" in a.run_dir else os.path.abspath(a.run_dir))
    payloads = _payloads(run, a.requests, a.candidates)
    ref = in_process(run, payloads, a.model, min(a.seconds, 10.0))
    if a.fast_ingress:
        _enable_fast_ingress()
    ray.init(include_dashboard=bool(a.faults), log_to_driver=False)  # state API: replica pids
    port = _free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    app_args = {"run_dir": run.uri, "model": a.model, "max_batch_size": a.max_batch_size,
                "batch_wait_timeout_s": a.batch_wait_timeout_s, "num_replicas": a.num_replicas}
    serve.run(build(app_args), name="choirrec", route_prefix="/")
    url = f"http://127.0.0.1:{port}/v1/score"
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(payloads, f)
    rows = []
    try:
        for c in [int(x) for x in a.concurrency.split(",")]:
            def cmd(secs: float, c: int = c) -> list[str]:
                return [sys.executable, "-m", "benchmarks.serve_load", "--client", url,
                        "--concurrency", str(c), "--seconds", str(secs),
                        "--payload-file", f.name]

            subprocess.run(cmd(2.0), check=True, capture_output=True)  # warm-up
            out = subprocess.run(cmd(a.seconds), check=True, capture_output=True, text=True)
            row = json.loads(out.stdout.strip().splitlines()[-1])
            row.pop("timeline"), row.pop("start_epoch")
            rows.append(row)
        faults = [run_fault(fault, url, f.name, app_args, a.fault_concurrency, a.seconds)
                  for fault in a.faults.split(",") if fault]
    finally:
        serve.shutdown()
        ray.shutdown()
        os.unlink(f.name)
    result = {"run_dir": a.run_dir, "model": a.model, "candidates": a.candidates,
              "max_batch_size": a.max_batch_size, "batch_wait_timeout_s": a.batch_wait_timeout_s,
              "num_replicas": a.num_replicas,
              "fast_ingress": a.fast_ingress, "in_process": ref, "serve": rows,
              "faults": faults,
              "serve_overhead_ms_p50": rows[0]["p50_ms"] - ref["p50_ms"]
              if rows and rows[0]["concurrency"] == 1 else None}
    print(json.dumps(result, indent=2))
    print(f"\n{'clients':>8}{'QPS':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'errors':>8}")
    print(f"{'in-proc':>8}{ref['qps']:>9.1f}{ref['p50_ms']:>9.1f}{ref['p95_ms']:>9.1f}"
          f"{ref['p99_ms']:>9.1f}{0:>8}")
    for r in rows:
        print(f"{r['concurrency']:>8}{r['qps']:>9.1f}{r['p50_ms']:>9.1f}{r['p95_ms']:>9.1f}"
              f"{r['p99_ms']:>9.1f}{r['errors']:>8}")
    if result["serve_overhead_ms_p50"] is not None:
        print(f"Serve's per-request overhead (p50, 1 client): "
              f"{result['serve_overhead_ms_p50']:.1f} ms")
    for r in faults:
        print(f"fault {r['fault']} at {r['fault_at_s']:.0f} s under {r['concurrency']} clients: "
              f"{r['failed_requests']} failed requests (last {r['recovery_s']:.1f} s after), "
              f"longest wait {r['stall_s']:.1f} s; "
              f"{r['requests']} answered, {r['server_errors']} 5xx/no answer")
    return result


if __name__ == "__main__":
    main()
