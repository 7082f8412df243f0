"""Ray Train: data-parallel training of one model, streamed from the ``samples`` artifact.

* Samples are read with Ray Data and split across workers (``get_dataset_shard``); each worker
  iterates its shard with ``iter_torch_batches`` and a local shuffle buffer, joining features
  batch by batch through :func:`choirrec.features.batches.collate`.
* The :class:`~choirrec.features.FeatureStore` is built once by the driver and put
  in the object store; every worker on a node maps the same numpy buffers (zero-copy).
* Every epoch: metrics (loss parts, samples/s, validation AUC/GAUC/low-activity GAUC from
  rank 0) are reported with a checkpoint (model + optimiser + scheduler + history).
* Failures: ``FailureConfig(max_failures)`` restarts the worker group, which resumes from the
  last checkpoint; a rerun of the same job (same run directory, same fingerprint ⇒ same
  ``RunConfig(name, storage_path)``) resumes a run whose driver died.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import re
import tempfile
import time
from dataclasses import dataclass
from typing import Any

import ray
import torch

from choirrec.config import TrainConfig
from choirrec.features.batches import SAMPLE_COLUMNS, collate
from choirrec.features.store import FeatureStore
from choirrec.models.bundle import unwrap
from choirrec.models.config import ModelConfig
from choirrec.models.registry import build_model
from choirrec.resources import read_parquet
from choirrec.run_dir import RunDir
from choirrec.training.loop import optimizer, predict_batches, run_epoch, valid_metrics

log = logging.getLogger(__name__)
STATE = "state.pt"  # tensors and plain numbers only: loaded with weights_only=True
HISTORY = "history.json"  # the per-epoch metrics, as JSON beside the weights


@dataclass
class FitResult:
    model: torch.nn.Module
    history: list[dict[str, float]]
    checkpoint_path: str


def _maybe_fail(config: dict, epoch: int, rank: int, step: int) -> None:
    """Test hook: hard-kill one worker process once, mid-epoch (after a few steps, and a
    pause so the controller has registered the previous epoch's checkpoint)."""
    marker = config.get("fail_marker")
    if (marker and epoch == config.get("fail_at_epoch") and rank == 0 and step == 3
            and not os.path.exists(marker)):
        open(marker, "w").close()
        time.sleep(float(config.get("fail_delay_s", 5.0)))
        os._exit(1)  # a real process death, not an exception


def save_state(d: str, state: dict[str, Any], history: list[dict[str, Any]]) -> None:
    """A checkpoint directory: ``state.pt`` (weights, optimiser and scheduler state, epoch)
    and ``history.json``. Nothing in it needs pickled Python objects to load, so a checkpoint
    on shared storage is read with ``torch.load(weights_only=True)``."""
    torch.save({**state, "epoch": int(state["epoch"])}, os.path.join(d, STATE))
    with open(os.path.join(d, HISTORY), "w") as f:
        json.dump([{k: _plain(v) for k, v in h.items()} for h in history], f)


def load_state(d: str) -> dict[str, Any]:
    """The checkpoint in directory ``d`` (see :func:`save_state`), history included."""
    path = os.path.join(d, STATE)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - an unsafe or older checkpoint
        found = re.search(r"Unsupported global: GLOBAL (\S+)", str(err))
        why = f"it holds a pickled {found.group(1)}" if found else str(err).splitlines()[0]
        raise RuntimeError(
            f"Ray Train checkpoint {path} does not load with weights_only=True ({why}). "
            "It was written by an older choirrec (with pickled Python objects) or is not ours: "
            f"delete the run's directory under <run>/.ray_train/ and rerun to retrain that "
            "model from scratch") from err
    if "history" in state:  # written before history.json: plain floats inside state.pt
        return state
    history = os.path.join(d, HISTORY)
    if not os.path.exists(history):
        raise RuntimeError(f"Ray Train checkpoint {d} has no {HISTORY}: it is incomplete. "
                           "Delete the run's directory under <run>/.ray_train/ and rerun")
    with open(history) as f:
        state["history"] = json.load(f)
    return state


def _plain(v: Any) -> Any:
    """A metric value as a JSON number/string (numpy scalars and tensors included)."""
    if hasattr(v, "item"):
        v = v.item()
    return v if isinstance(v, (int, float, str, bool)) or v is None else str(v)


def train_loop_per_worker(config: dict[str, Any]) -> None:
    import ray.train
    import ray.train.torch

    tc: TrainConfig = config["train"]
    mc: ModelConfig = config["model_config"]
    store: FeatureStore = ray.get(config["store_ref"])
    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    torch.manual_seed(config["seed"])
    # world workers share a node here; on a cluster each node runs fewer of them
    torch.set_num_threads(tc.torch_threads or max(1, (os.cpu_count() or 1) // world))
    model = build_model(config["kind"], mc, store)
    steps_per_epoch = math.ceil(config["n_train"] / tc.batch_size)
    opt, sched = optimizer(model, tc, tc.epochs * steps_per_epoch)
    start, history = 0, []
    ckpt = ray.train.get_checkpoint()
    if ckpt is not None:
        with ckpt.as_directory() as d:
            state = load_state(d)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        start, history = state["epoch"] + 1, state["history"]
    model = ray.train.torch.prepare_model(model)
    shard = ray.train.get_dataset_shard("train")
    to_tensors = collate(store)
    per_worker = max(1, tc.batch_size // world)
    for epoch in range(start, tc.epochs):
        t0 = time.perf_counter()
        batches = shard.iter_torch_batches(
            batch_size=per_worker, collate_fn=to_tensors,
            local_shuffle_buffer_size=tc.shuffle_buffer or None,
            local_shuffle_seed=config["seed"] * 1000 + epoch)
        if config.get("fail_marker"):
            batches = (b for i, b in enumerate(batches)
                       if _maybe_fail(config, epoch, rank, i) is None)
        m = run_epoch(model, mc, opt, sched, batches)
        m["samples_per_s"] = m["samples"] * world / max(time.perf_counter() - t0, 1e-9)
        m.update(epoch=epoch, lr=sched.get_last_lr()[0], resumed_from=start)
        if rank == 0 and tc.validate_each_epoch:
            valid = ray.train.get_dataset_shard("valid").iter_torch_batches(
                batch_size=8192, collate_fn=to_tensors)
            m.update(valid_metrics(predict_batches(unwrap(model), valid), store))
        history.append(m)
        with tempfile.TemporaryDirectory() as d:
            checkpoint = None
            if rank == 0:
                save_state(d, {"model": unwrap(model).state_dict(),
                               "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                               "epoch": epoch}, history)
                checkpoint = ray.train.Checkpoint.from_directory(d)
            ray.train.report(m, checkpoint=checkpoint)


def worker_resources(tc: TrainConfig) -> dict[str, float]:
    """One Ray Train worker's resources (also the bundle of the run's placement group)."""
    return {"CPU": float(tc.cpus_per_worker), **({"GPU": 1.0} if tc.use_gpu else {})}


def fit(run: RunDir, store: FeatureStore, kind: str, mc: ModelConfig, tc: TrainConfig,
        seed: int, name: str, extra: dict[str, Any] | None = None,
        callbacks: list | None = None) -> FitResult:
    """Train ``kind`` on ``run``'s train samples with Ray Train; return the final model.

    ``name`` must identify the run's inputs and settings (the caller passes a fingerprint):
    it is the Ray Train run name, so an identical rerun resumes from its checkpoints.
    ``callbacks``: Ray Train user callbacks (a sweep passes Tune's ``TuneReportCallback``).
    """
    from ray.train import CheckpointConfig, DataConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    n_train = run.dataset("data", "samples", "train").count_rows()
    if n_train == 0:
        raise ValueError(f"{run.uri}: data/samples/train is empty; nothing to train on "
                         "(check the data stage's split and the dataset's date range)")
    # the worker logs one line per epoch; Data's per-iterator bars would drown it
    ray.data.DataContext.get_current().enable_progress_bars = False
    datasets = {"train": read_parquet(run, "data", "samples", "train", columns=SAMPLE_COLUMNS)}
    if tc.validate_each_epoch and run.dataset("data", "samples", "valid").count_rows() == 0:
        log.warning("data/samples/valid is empty: no per-epoch validation metrics")
        tc = dataclasses.replace(tc, validate_each_epoch=False)
    if tc.validate_each_epoch:
        datasets["valid"] = read_parquet(run, "data", "samples", "valid", columns=SAMPLE_COLUMNS)
    resources = worker_resources(tc)
    storage = run.path(".ray_train")
    run.fs.create_dir(storage, recursive=True)
    trainer = TorchTrainer(
        train_loop_per_worker,
        train_loop_config={"train": tc, "model_config": mc, "kind": kind, "seed": seed,
                           "store_ref": ray.put(store), "n_train": n_train, **(extra or {})},
        scaling_config=ScalingConfig(num_workers=tc.num_workers, use_gpu=tc.use_gpu,
                                     resources_per_worker=resources),
        run_config=RunConfig(
            name=name, storage_path=storage, storage_filesystem=run.fs,
            failure_config=FailureConfig(max_failures=tc.max_failures),
            checkpoint_config=CheckpointConfig(num_to_keep=2), callbacks=callbacks),
        datasets=datasets, dataset_config=DataConfig(datasets_to_split=["train"]))
    result = trainer.fit()
    if result.checkpoint is None:
        raise RuntimeError(f"Ray Train run {name} ended without a checkpoint: {result.error}")
    with result.checkpoint.as_directory() as d:
        state = load_state(d)
    model = build_model(kind, mc)
    model.load_state_dict(state["model"])
    return FitResult(model, state["history"], result.checkpoint.path)
