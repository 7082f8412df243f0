"""The k × λ sweep (§5.5, Fig. 6) on Ray Tune: one trial = one ChoirRec training run.

* Groups and priors for every k are built first, once, by the driver
  (:mod:`~choirrec.tuning.group_cache`); trials only train.
* Each trial is a *driver function trainable* that launches Ray Train (the same
  :func:`~choirrec.training.ray_trainer.fit` as ``pipelines.train``) with ``TuneReportCallback``
  — ``Tuner(TorchTrainer)`` is refused by Ray 2.60 — so a trial scales to many workers on a
  cluster exactly like a training job. The trial itself asks for a sliver of a CPU
  (``cpus_per_trial``) and ``max_concurrent_trials`` bounds how many Ray Train runs share the
  cluster: on 2 CPUs one at a time, so Tune, Train and Data can never wait on each other.
  A named slot actor enforces that cap even for trials restarted by ``Tuner.restore``
  (:mod:`~choirrec.tuning.slots`).
* Selection uses validation metrics only (``valid_gauc_low`` by default, reported every
  epoch); ASHA stops trials that fall behind at an epoch boundary; Optuna can sample the grid.
* Resumable: the experiment lives in ``<run>/tune/ray_tune/<name>``; a rerun restores it
  (``Tuner.restore``) and finished trials are not rerun, while an interrupted trial resumes its
  Ray Train run from the last epoch checkpoint (its run name is deterministic).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Any

import ray

from choirrec.config import Config
from choirrec.models.config import fingerprint_fields
from choirrec.run_dir import RunDir, fingerprint

log = logging.getLogger(__name__)
METRICS = ("valid_gauc_low", "valid_gauc", "valid_auc", "loss", "epoch")


def trial_config(cfg: Config) -> tuple[Config, int]:
    """(config every trial trains with, epochs): one worker, the sweep's epochs and seed."""
    sc = cfg.sweep
    epochs = sc.epochs or cfg.train.epochs
    tc = dataclasses.replace(cfg.train, epochs=epochs, seeds=(sc.seed,), validate_each_epoch=True)
    return dataclasses.replace(cfg, train=tc), epochs


def experiment_name(cfg: Config, emb_fp: str) -> str:
    sc = cfg.sweep
    if sc.name:
        return sc.name
    tc, _ = trial_config(cfg)
    key = fingerprint("sweep-v1", emb_fp, sorted(sc.k), sorted(sc.lambdas), sc.metric,
                      sc.search, sc.num_samples, sc.seed, dataclasses.asdict(tc.train),
                      fingerprint_fields(cfg.model), dataclasses.asdict(cfg.groups),
                      dataclasses.asdict(cfg.priors))
    return f"sweep-{key[:12]}"


def train_trial(config: dict[str, Any], cfg: Config, k_runs: dict[int, str],
                experiment: str) -> None:
    """One trial: train ChoirRec with (k, λ) on Ray Train; metrics flow to Tune per epoch."""
    from ray.tune.integration.ray_train import TuneReportCallback

    from choirrec.features.loader import load_feature_store
    from choirrec.training.loop import model_config
    from choirrec.training.ray_trainer import fit, worker_resources
    from choirrec.tuning.slots import TrainSlot

    k, lam = int(config["k"]), float(config["lambda_kd"])
    run = RunDir(k_runs[k])
    tcfg, _ = trial_config(cfg)
    store = load_feature_store(run, tcfg.train.hist_len, with_priors=True)
    mc = model_config(store, run, dataclasses.replace(cfg.model, lambda_kd=lam))
    name = f"trial-k{k}-lam{lam:g}-{fingerprint(experiment, k, lam)[:10]}"
    with TrainSlot(slots_name(experiment), name, bundle=worker_resources(tcfg.train)):
        fit(run, store, "choirrec", mc, tcfg.train, cfg.sweep.seed, name=name,
            callbacks=[TuneReportCallback()])


def slots_name(experiment: str) -> str:
    return f"choirrec-train-slots-{experiment}"


def _search_space(cfg: Config):
    from ray import tune

    sc = cfg.sweep
    if sc.search == "grid":
        return {"k": tune.grid_search(list(sc.k)),
                "lambda_kd": tune.grid_search(list(sc.lambdas))}, None, 1
    if sc.search == "optuna":
        try:
            from ray.tune.search.optuna import OptunaSearch
        except ImportError as e:  # optuna missing
            raise ImportError("sweep.search=optuna needs optuna: pip install 'choirrec[tune]'"
                              ) from e
        algo = OptunaSearch(metric=sc.metric, mode="max", seed=sc.seed)
        return {"k": tune.choice(list(sc.k)), "lambda_kd": tune.choice(list(sc.lambdas))}, \
            algo, sc.num_samples
    raise ValueError(f"sweep.search must be grid or optuna, got {sc.search!r}")


def run_sweep(cfg: Config, run: RunDir) -> dict:
    """Build every k's groups, run (or resume) the sweep, write ``tune/`` outputs."""
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler

    from choirrec.tuning.group_cache import groups_run
    from choirrec.tuning.report import write_outputs

    sc = cfg.sweep
    if not sc.k or not sc.lambdas:
        raise ValueError("sweep.k and sweep.lambdas need at least one value each "
                         "(--k 32,64 --lambda 0,0.005)")
    if any(lam < 0 for lam in sc.lambdas):
        raise ValueError(f"--lambda values must be >= 0, got {list(sc.lambdas)}")
    if sc.cpus_per_trial <= 0:
        raise ValueError("sweep.cpus_per_trial must be > 0 (Ray Tune refuses 0)")
    emb = run.require("embeddings", "run `python -m pipelines.run_all` (or embed) first")
    run.require("data", "run `python -m pipelines.prepare_data` first")
    t0 = time.perf_counter()
    k_runs = {}
    for k in sc.k:
        t = time.perf_counter()
        # absolute: a trial runs in its own working directory, where a relative path is wrong
        k_runs[int(k)] = groups_run(run, cfg, int(k)).portable_uri
        log.info("sweep: groups and priors for k=%d ready in %.1f s", k, time.perf_counter() - t)
    _, epochs = trial_config(cfg)
    name = experiment_name(cfg, emb["fingerprint"])
    storage = run.path("tune", "ray_tune")
    run.fs.create_dir(storage, recursive=True)
    trainable = tune.with_resources(
        tune.with_parameters(train_trial, cfg=cfg, k_runs=k_runs, experiment=name),
        {"CPU": sc.cpus_per_trial})
    path = f"{storage}/{name}"
    if tune.Tuner.can_restore(path, storage_filesystem=run.fs):
        log.info("sweep: resuming %s (finished trials are kept)", path)
        tuner = tune.Tuner.restore(path, trainable, resume_errored=True,
                                   storage_filesystem=run.fs)
    else:
        space, algo, num_samples = _search_space(cfg)
        # max_t one past the last epoch: a trial that survives every rung ends by returning
        # from fit() (Ray Train shuts its workers down), never by Tune stopping it at max_t
        scheduler = ASHAScheduler(time_attr="training_iteration", max_t=max(1, epochs) + 1,
                                  grace_period=max(1, min(sc.asha_grace_epochs, epochs)),
                                  reduction_factor=max(2, sc.asha_reduction_factor))
        tuner = tune.Tuner(
            trainable, param_space=space,
            tune_config=tune.TuneConfig(metric=sc.metric, mode="max", scheduler=scheduler,
                                        search_alg=algo, num_samples=num_samples,
                                        max_concurrent_trials=sc.max_concurrent_trials,
                                        # a stopped trial's actor must die: its Ray Train run
                                        # and its train slot go with it (no reuse)
                                        reuse_actors=False),
            run_config=tune.RunConfig(name=name, storage_path=storage,
                                      storage_filesystem=run.fs, verbose=1))
    from choirrec.tuning.slots import slots_actor

    slots = slots_actor(slots_name(name), sc.max_concurrent_trials)  # owned by this driver
    try:
        grid = tuner.fit()
    finally:
        removed = ray.get(slots.reap.remote())
        if removed:
            log.info("removed %d placement group(s) left by stopped trials", len(removed))
        ray.kill(slots)
    summary = write_outputs(run, cfg, grid, epochs, name, time.perf_counter() - t0)
    return summary
