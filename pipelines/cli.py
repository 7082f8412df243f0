"""What every pipeline entrypoint shares: logging, config loading, connecting to Ray.

Entrypoints stay thin: parse flags -> dotted config overrides -> call one library function.
They run the same way locally (``python -m pipelines.X``) and as Ray jobs
(``ray job submit --working-dir . -- python -m pipelines.X ...``), where Ray sets
``RAY_ADDRESS`` and :func:`connect` attaches to the job's cluster.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable
from typing import TypeVar

import ray

from choirrec.config import Config, RayConfig, load_config
from pipelines.console import log_path, publish_log, quiet_ray, route_logs, setup_logging

T = TypeVar("T")
DEBUG_ENV = "CHOIRREC_DEBUG"


def error_line(err: BaseException) -> str:
    """One line for a failure: the original exception's type and message, without Ray's
    wrapping (a failed remote task carries the worker's traceback in its message)."""
    cause = getattr(err, "cause", None)  # ray.exceptions.RayTaskError
    if isinstance(cause, BaseException):
        err = cause
    lines = [x.strip() for x in str(err).splitlines() if x.strip()]
    if any(x.startswith("Traceback") for x in lines):
        lines = lines[-1:]  # the raising line of a formatted traceback
    text = " ".join(lines) or "(no message)"
    return f"{type(err).__name__}: {text[:1000]}"


def run_cleanly(fn: Callable[[], T], debug: bool = False) -> T:
    """``fn()``; an exception becomes one line on stderr and exit status 1. The traceback
    only with ``--debug`` or ``CHOIRREC_DEBUG=1`` (then the exception propagates)."""
    try:
        return fn()
    except Exception as err:  # noqa: BLE001 - every failure is reported the same way
        if debug or os.environ.get(DEBUG_ENV, "") not in ("", "0"):
            raise
        print(f"error: {error_line(err)}  (--debug or {DEBUG_ENV}=1 shows the traceback)",
              file=sys.stderr, flush=True)
        raise SystemExit(1) from None


def base_parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description,
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--config", help="YAML config (configs/*.yaml); flags override it")
    p.add_argument("--run-dir", dest="run_dir",
                   help="run directory: local path or pyarrow filesystem URI (config: run_dir)")
    p.add_argument("--storage-endpoint", dest="storage__endpoint_url",
                   help="S3-compatible endpoint for an s3:// run directory "
                        "(config: storage.endpoint_url; default $AWS_ENDPOINT_URL or AWS)")
    p.add_argument("--ray-address", dest="ray__address",
                   help="Ray cluster address (config: ray.address; default $RAY_ADDRESS or local)")
    p.add_argument("--verbose", dest="ray__verbose", action="store_const", const=True,
                   help="Ray's own log lines on the console too (config: ray.verbose)")
    p.add_argument("--debug", action="store_true",
                   help=f"show the traceback of a failure (also {DEBUG_ENV}=1)")
    return p


def config_from_args(args: argparse.Namespace, mapping: dict[str, str]) -> Config:
    """Apply flags to the config: ``mapping`` maps argparse dest -> dotted config field."""
    overrides = {"run_dir": args.run_dir, "ray.address": args.ray__address,
                 "storage.endpoint_url": getattr(args, "storage__endpoint_url", None),
                 "ray.verbose": getattr(args, "ray__verbose", None)}
    for dest, dotted in mapping.items():
        overrides[dotted] = getattr(args, dest)
    return load_config(args.config, overrides)


def connect(cfg: RayConfig) -> None:
    """Attach to the configured/ambient cluster, or start a local one sized to this machine."""
    if ray.is_initialized():
        return
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    address = cfg.address or os.environ.get("RAY_ADDRESS")
    # workers' output reaches this console only with --verbose (it is in Ray's session logs)
    if address:
        ray.init(address=address, log_to_driver=cfg.verbose)
    else:
        ray.init(num_cpus=cfg.num_cpus, include_dashboard=cfg.include_dashboard,
                 log_to_driver=cfg.verbose)
    quiet_ray(cfg.verbose)  # ray.init may have (re)installed Ray's console handlers
    logging.getLogger(__name__).info("Ray: %s", ray.cluster_resources())


def int_list(text: str) -> list[int]:
    """``"0,1,2"`` -> ``[0, 1, 2]`` (for flags such as ``--seeds``)."""
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError as e:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}") from e


def seed_list(text: str) -> list[int]:
    """``"3"`` -> ``[0, 1, 2]`` (N seeds); ``"0,2"`` or ``"5,"`` -> exactly those seeds."""
    if "," in text:
        return int_list(text)
    try:
        n = int(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"expected a seed count N or a comma list, got "
                                         f"{text!r}") from e
    if n < 1:
        raise argparse.ArgumentTypeError(f"--seeds N needs N >= 1, got {n}")
    return list(range(n))


def str_list(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


def boolean(text: str) -> bool:
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true/false, got {text!r}")


def flag(name: str, field: str, help: str, type=None, choices=None) -> dict:
    """A CLI flag bound to a dotted config field (``--users`` -> ``data.synthetic.users``)."""
    return {"name": name, "field": field, "help": f"{help} ({field})", "type": type,
            "choices": choices}


def stage_main(doc: str, flags: list[dict], run, argv: list[str] | None = None,
               force_flag: bool = True, own_progress: bool = False):
    """Parse flags into a Config, connect to Ray, and call ``run(cfg, force)``.

    Every record goes to the entry point's log file; the console shows the library's INFO
    lines unless ``own_progress`` (the entry point prints its own), and Ray's only with
    ``--verbose``. A failure is one line and exit status 1 (:func:`run_cleanly`)."""
    caller = sys._getframe(1).f_globals.get("__name__", "choirrec")
    entry = (os.path.basename(sys.argv[0]).removesuffix(".py") if caller == "__main__"
             else caller.rsplit(".", 1)[-1])
    p = base_parser(doc.strip().splitlines()[0])
    mapping = {}
    for f in flags:
        dest = f["name"].lstrip("-").replace("-", "_")
        kw = {"type": f["type"]} if f["type"] else {}
        if f["choices"]:
            kw["choices"] = f["choices"]
        p.add_argument(f["name"], dest=dest, help=f["help"], **kw)
        mapping[dest] = f["field"]
    if force_flag:
        p.add_argument("--force", action="store_true", help="recompute even if current")
    args = p.parse_args(argv)
    setup_logging()

    def go():
        cfg = config_from_args(args, mapping)
        path = log_path(cfg.run_dir, entry)
        route_logs(path, cfg.ray.verbose, library_info_on_console=not own_progress)
        print(f"{entry}: full log in {path}", file=sys.stderr, flush=True)
        try:
            connect(cfg.ray)
            return run(cfg, bool(getattr(args, "force", False)))
        finally:
            moved = publish_log(path, cfg.run_dir)
            if moved:
                print(f"{entry}: log moved to {moved}", file=sys.stderr, flush=True)
    return run_cleanly(go, args.debug)
