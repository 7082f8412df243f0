"""The training stage: ``models/<name>/seed_<s>/`` (model.pt, model.json), one per seed.

``<name>`` is ``base``, ``choirrec``, ``choirrec-<ablation>`` or a Table 1 baseline (``poso``,
``uie``, ``melt``, ``cold_transformer``). Each seed is its own fingerprinted stage (data +
groups + priors + model and training settings + seed), so a rerun skips seeds already trained
and retrains only what changed.
"""

from __future__ import annotations

import dataclasses
import logging
import time

from choirrec.config import Config
from choirrec.features.loader import load_feature_store, uses_negatives, uses_priors
from choirrec.models.bundle import write_bundle
from choirrec.models.config import fingerprint_fields
from choirrec.models.registry import apply_ablation, group_variant, model_name
from choirrec.run_dir import RunDir, fingerprint
from choirrec.training.loop import model_config
from choirrec.training.ray_trainer import fit

log = logging.getLogger(__name__)
CODE_VERSION = "train-v1"
_RUN_ONLY = ("model", "ablation", "seeds", "force")  # fields that do not change one model


def feature_run(run: RunDir, cfg: Config, ablation: str | None) -> tuple[RunDir, str]:
    """(run directory holding the groups/priors this variant uses, its path relative to run)."""
    variant = group_variant(ablation)
    if variant is None:
        run.require("priors", "run `python -m pipelines.build_priors` first")
        return run, "."
    from choirrec.training.group_variants import group_variant_run

    return group_variant_run(run, cfg, variant), f"variants/{variant}"


def train_model(cfg: Config, run: RunDir, model: str | None = None, ablation: str | None = None,
                seeds: tuple[int, ...] | None = None, force: bool = False,
                fit_extra: dict | None = None) -> dict[int, dict]:
    """Train one model (per seed) on Ray Train; returns each seed's manifest.

    ``fit_extra`` is merged into the worker config (tests use it to kill a worker)."""
    model = model or cfg.train.model
    ablation = ablation if ablation is not None else cfg.train.ablation
    seeds = tuple(seeds if seeds is not None else cfg.train.seeds)
    name = model_name(model, ablation)
    data_m = run.require("data", "run `python -m pipelines.prepare_data` first")
    frun, frel = feature_run(run, cfg, ablation)
    prior_fp = frun.manifest("priors")["fingerprint"] if uses_priors(model) else None
    tc = cfg.train
    # an individual-only model's feature view is part of its identity (no priors, no completion)
    view = [] if uses_priors(model) else ["no-priors-no-completion"]
    settings = {k: v for k, v in dataclasses.asdict(tc).items() if k not in _RUN_ONLY}
    out, store, mc = {}, None, None
    for seed in seeds:
        stage = f"models/{name}/seed_{seed}"
        fp = fingerprint(CODE_VERSION, name, data_m["fingerprint"], prior_fp,
                         fingerprint_fields(cfg.model), settings, seed, *view)
        if not (force or tc.force) and run.is_current(stage, fp):
            log.info("%s is current; skipping", stage)
            out[seed] = run.manifest(stage)
            continue
        if store is None:
            t = time.perf_counter()
            store = load_feature_store(frun, tc.hist_len, with_priors=uses_priors(model),
                                       with_negatives=uses_negatives(model))
            mc = apply_ablation(model_config(store, frun, cfg.model), ablation)
            log.info("feature store: %d users, %d items, %d purchases (%.1f s)",
                     store.user_vocab.size, store.item_vocab.size, store.hist_keys.size,
                     time.perf_counter() - t)
        log.info("training %s seed %d: %d epochs, %d worker(s)", name, seed, tc.epochs,
                 tc.num_workers)
        t = time.perf_counter()
        res = fit(run, store, model, mc, tc, seed, name=f"{name}-seed{seed}-{fp[:12]}",
                  extra=fit_extra)
        last = res.history[-1]
        info = {"model": model, "ablation": ablation, "seed": seed, "epochs": len(res.history),
                "train_seconds": round(time.perf_counter() - t, 1),
                "samples_per_s": round(float(last["samples_per_s"]), 1),
                **{k: float(last[k]) for k in ("loss", "valid_auc", "valid_gauc",
                                                "valid_gauc_low") if k in last}}
        with run.stage(stage, fp, info) as w:
            write_bundle(run.fs, w.path(), res.model, model, mc, {
                "name": name, "ablation": ablation, "seed": seed, "feature_run": frel,
                "uses_priors": uses_priors(model),
                "train_config": dataclasses.asdict(tc), "history": res.history,
                "trained_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "data_fingerprint": data_m["fingerprint"], "priors_fingerprint": prior_fp})
        log.info("%s seed %d: loss %.4f, valid GAUC %.4f (low %.4f), %.0f samples/s", name,
                 seed, last["loss"], last.get("valid_gauc", float("nan")),
                 last.get("valid_gauc_low", float("nan")), last["samples_per_s"])
        out[seed] = run.manifest(stage)
    return out
