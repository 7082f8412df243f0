"""A short Serve smoke test over real HTTP: start the app, score a known and an unknown user,
stop. ``make demo`` ends with it.

    python -m serve.smoke --run-dir runs/demo [--model choirrec] [--port 8000]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import time
import urllib.request


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _post(url: str, body: dict) -> tuple[dict, float]:
    req = urllib.request.Request(url, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    t = time.perf_counter()
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.loads(r.read()), (time.perf_counter() - t) * 1000


def known_request(run_dir: str, n: int = 5) -> dict:
    """The first test-day user with their first ``n`` candidates."""
    from choirrec.run_dir import RunDir

    test = RunDir(run_dir).read_table("data", "samples", "test").slice(0, 200)
    uid = int(test.column("user_id")[0].as_py())
    rows = [r for r in test.to_pylist() if r["user_id"] == uid][:n]
    return {"user_id": uid, "candidates": [{"item_id": r["item_id"],
                                            "category_id": r["category_id"]} for r in rows]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run-dir", default="runs/demo")
    p.add_argument("--model", default="choirrec")
    p.add_argument("--port", type=int, default=0, help="HTTP port (0: a free one)")
    p.add_argument("--verbose", action="store_true", help="Ray's own log lines on the console")
    p.add_argument("--debug", action="store_true", help="show the traceback of a failure")
    args = p.parse_args(argv)

    from pipelines.cli import run_cleanly

    return run_cleanly(lambda: _smoke(args), args.debug)


def _smoke(args: argparse.Namespace) -> int:
    import ray
    from ray import serve

    from pipelines.cli import connect, setup_logging
    from serve.app import build

    setup_logging("WARNING")
    from choirrec.config import RayConfig
    from pipelines.console import log_path, route_logs

    route_logs(log_path(args.run_dir, "serve_smoke"), args.verbose,
               library_info_on_console=False)
    attached = bool(os.environ.get("RAY_ADDRESS"))
    connect(RayConfig(verbose=args.verbose))
    port = args.port or _free_port()
    url = f"http://127.0.0.1:{port}"
    t = time.perf_counter()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    serve.run(build({"run_dir": args.run_dir, "model": args.model}), name="choirrec-smoke",
              route_prefix="/")
    print(f"serve smoke: {args.model} from {args.run_dir} up at {url} in "
          f"{time.perf_counter() - t:.1f} s", flush=True)
    try:
        known = known_request(args.run_dir)
        r, ms = _post(f"{url}/v1/score", known)
        print(f"  known user {known['user_id']}: scores {[round(s, 4) for s in r['scores']]} "
              f"group {r['group']} cold_start={r['cold_start']} ({ms:.0f} ms)", flush=True)
        unknown = {"user_id": 10**15, "candidates": known["candidates"],
                   "user": {"profile": "A woman aged 25-29 in a tier-2 city who buys infant "
                                       "formula, diapers and skincare serum."}}
        r2, ms2 = _post(f"{url}/v1/score", unknown)
        print(f"  unknown user (profile text): scores {[round(s, 4) for s in r2['scores']]} "
              f"group {r2['group']} via {r2['group_source']} cold_start={r2['cold_start']} "
              f"({ms2:.0f} ms)", flush=True)
        ok = (not r["cold_start"] and r2["cold_start"]
              and len(r["scores"]) == len(known["candidates"]))
    finally:
        if attached:  # a cluster of someone else's: leave it as we found it (no Serve)
            serve.shutdown()
        else:  # our own local cluster stops with us; deleting the app first keeps the
            serve.delete("choirrec-smoke")  # raylet from reporting a killed controller task
        ray.shutdown()
    print("serve smoke: " + ("ok" if ok else "FAILED"), flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
