"""Training throughput (samples/s) of ChoirRec vs the DIN base model on this machine.

    python -m benchmarks.train_throughput --run-dir runs/demo            # after `make demo`
    python -m benchmarks.train_throughput --run-dir runs/demo --ray      # + Ray Train, 1 epoch

In-process: the framework-free loop (feature join + forward + backward + Adagrad) over the
same ``--batches`` shuffled batches of the train split, after ``--warmup`` batches, repeated
``--repeats`` times with base and choirrec alternating, so the drift of a shared machine
hits both (rates: median; cost ratio: median of the per-repeat ratios). ``--ray``: one
epoch through Ray Train (1 worker), which adds Ray Data streaming and reporting.
Target: choirrec costs <= 2x base per sample. Prints one JSON object and a
table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
import torch

from choirrec.config import TrainConfig
from choirrec.features import collate, load_feature_store
from choirrec.models.registry import build_model
from choirrec.run_dir import RunDir
from choirrec.training.loop import model_config, optimizer, run_epoch, table_batches
from pipelines.cli import int_list


def trimmed_group_seq(join, length: int):
    """The same batch join, with the group sequences cut to their first ``length`` positions."""
    def fn(cols):
        b = join(cols)
        for k in ("group_seq_items", "group_seq_cats"):
            b[k] = b[k][:, :length].contiguous()
        return b
    return fn


def _setup(run: RunDir, kind: str, group_seq_length: int,
           group_attention_hidden: list[int] | None) -> tuple:
    store = load_feature_store(run, with_priors=kind != "base")
    over = {"group_attention_hidden": tuple(group_attention_hidden)} \
        if group_attention_hidden else {}
    cfg = model_config(store, run, **over)
    to_tensors = collate(store)
    if group_seq_length and kind != "base":  # what-if: the cost of shorter group sequences
        to_tensors = trimmed_group_seq(to_tensors, group_seq_length)
    return store, cfg, to_tensors


def _time_once(samples, setup: tuple, kind: str, batch_size: int, n_batches: int,
               warmup: int, r: int) -> float:
    store, cfg, to_tensors = setup
    torch.manual_seed(r)
    model = build_model(kind, cfg, store)
    opt, sched = optimizer(model, TrainConfig(), n_batches + warmup)
    it = table_batches(samples, batch_size, np.random.default_rng(r))
    run_epoch(model, cfg, opt, sched, (to_tensors(next(it)) for _ in range(warmup)))
    t = time.perf_counter()
    m = run_epoch(model, cfg, opt, sched, (to_tensors(next(it)) for _ in range(n_batches)))
    return m["samples"] / (time.perf_counter() - t)


def in_process(run: RunDir, batch_size: int, n_batches: int, warmup: int, repeats: int,
               group_seq_length: int = 0, group_attention_hidden: list[int] | None = None
               ) -> dict[str, list[float]]:
    """samples/s per repeat for base and choirrec, timed alternately (base, choirrec, base,
    ...) on the same batches, so drift of this shared machine hits both models alike; the
    cost ratio is the median of the per-repeat ratios."""
    samples = run.read_table("data", "samples", "train")
    kinds = ("base", "choirrec")
    setups = {k: _setup(run, k, group_seq_length, group_attention_hidden) for k in kinds}
    rates: dict[str, list[float]] = {k: [] for k in kinds}
    for r in range(repeats):
        for k in kinds:
            rates[k].append(_time_once(samples, setups[k], k, batch_size, n_batches, warmup, r))
    return rates


def ray_train(run: RunDir, kind: str, batch_size: int, torch_threads: int = 0) -> float:
    from choirrec.training.ray_trainer import fit

    store = load_feature_store(run, with_priors=kind != "base")
    tc = TrainConfig(epochs=1, batch_size=batch_size, validate_each_epoch=False,
                     torch_threads=torch_threads)
    res = fit(run, store, kind, model_config(store, run), tc, seed=0,
              name=f"bench-{kind}-{time.time_ns()}")
    return float(res.history[-1]["samples_per_s"])


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run-dir", default="runs/demo", help="a run with data, groups and priors")
    p.add_argument("--batch-size", type=int, default=TrainConfig.batch_size)
    p.add_argument("--batches", type=int, default=100)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    p.add_argument("--group-seq-length", type=int, default=0,
                   help="in-process what-if: trim ChoirRec's group sequences to N positions "
                        "(0: as built by the priors stage)")
    p.add_argument("--group-attention-hidden", type=int_list, default=None,
                   help="in-process what-if: ChoirRec's group attention MLP sizes, e.g. "
                        "64,32 (default: ModelConfig.group_attention_hidden)")
    p.add_argument("--ray", action="store_true", help="also time one Ray Train epoch")
    p.add_argument("--ray-only", action="store_true", help="skip the in-process timing")
    p.add_argument("--worker-threads", type=int, default=0,
                   help="torch threads in the Ray Train worker (0: cores / workers)")
    a = p.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    run = RunDir(a.run_dir)
    run.require("priors", "run `make demo` (or the pipelines up to build_priors) first")
    out: dict = {"run_dir": a.run_dir, "batch_size": a.batch_size, "batches": a.batches,
                 "group_seq_length": a.group_seq_length or "as built",
                 "group_attention_hidden": a.group_attention_hidden or "default",
                 "torch_threads": torch.get_num_threads(), "samples_per_s": {}}
    if not a.ray_only:
        rates = in_process(run, a.batch_size, a.batches, a.warmup, a.repeats,
                           a.group_seq_length, a.group_attention_hidden)
        out["samples_per_s"] = {k: statistics.median(v) for k, v in rates.items()}
        out["samples_per_s_per_repeat"] = rates
        out["cost_ratio_choirrec_vs_base"] = statistics.median(
            b / c for b, c in zip(rates["base"], rates["choirrec"], strict=True))
    if a.ray or a.ray_only:
        import ray

        ray.init(include_dashboard=False, log_to_driver=False)
        out["ray_train_samples_per_s"] = {k: ray_train(run, k, a.batch_size, a.worker_threads)
                                          for k in ("base", "choirrec")}
        r = out["ray_train_samples_per_s"]
        out["ray_train_cost_ratio"] = r["base"] / r["choirrec"]
    if a.ray_only:
        print(json.dumps(out, indent=2))
        return out
    sps = out["samples_per_s"]
    print(json.dumps(out, indent=2))
    print(f"\n{'model':<10}{'in-process samples/s':>22}" + (
        f"{'Ray Train samples/s':>22}" if a.ray else ""))
    for k in ("base", "choirrec"):
        line = f"{k:<10}{sps[k]:>22,.0f}"
        if a.ray:
            line += f"{out['ray_train_samples_per_s'][k]:>22,.0f}"
        print(line)
    print(f"choirrec costs {out['cost_ratio_choirrec_vs_base']:.2f}x base per sample "
          "(median of per-repeat ratios; target <= 2x)")
    return out


if __name__ == "__main__":
    main()
