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

import ray

from choirrec.config import Config, RayConfig, load_config


def setup_logging(level: str = "INFO") -> None:
    logging.basicConfig(level=level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")


def base_parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description,
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--config", help="YAML config (configs/*.yaml); flags override it")
    p.add_argument("--run-dir", dest="run_dir",
                   help="run directory: local path or pyarrow filesystem URI (config: run_dir)")
    p.add_argument("--ray-address", dest="ray__address",
                   help="Ray cluster address (config: ray.address; default $RAY_ADDRESS or local)")
    return p


def config_from_args(args: argparse.Namespace, mapping: dict[str, str]) -> Config:
    """Apply flags to the config: ``mapping`` maps argparse dest -> dotted config field."""
    overrides = {"run_dir": args.run_dir, "ray.address": args.ray__address}
    for dest, dotted in mapping.items():
        overrides[dotted] = getattr(args, dest)
    return load_config(args.config, overrides)


def connect(cfg: RayConfig) -> None:
    """Attach to the configured/ambient cluster, or start a local one sized to this machine."""
    if ray.is_initialized():
        return
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    address = cfg.address or os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address, log_to_driver=True)
    else:
        ray.init(num_cpus=cfg.num_cpus, include_dashboard=cfg.include_dashboard,
                 log_to_driver=True)
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
               force_flag: bool = True):
    """Parse flags into a Config, connect to Ray, and call ``run(cfg, force)``."""
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
    cfg = config_from_args(args, mapping)
    connect(cfg.ray)
    return run(cfg, bool(getattr(args, "force", False)))
