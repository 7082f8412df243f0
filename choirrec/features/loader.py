"""A run directory's feature store, and which features each model kind is allowed to read.

Training, evaluation, online scoring, tuning and the benchmarks all build the store the same
way from ``data/`` (+ ``priors/``), so a model is always scored on the features it was
trained on.
"""

from __future__ import annotations

import pyarrow.compute as pc

from choirrec.features.store import FeatureStore, build_feature_store
from choirrec.run_dir import RunDir


def uses_priors(model: str) -> bool:
    """Whether a model sees group priors (group features and attribute completion): only
    ChoirRec; base and the Table 1 baselines are individual-only models."""
    return model == "choirrec"


def uses_negatives(model: str) -> bool:
    """Whether a model reads the clicked-not-bought history (only the Cold-Transformer)."""
    return model == "cold_transformer"


def load_feature_store(run: RunDir, hist_len: int = 20, with_priors: bool = True,
                       with_negatives: bool = False) -> FeatureStore:
    """Assemble the feature store from a run directory's data/ (+ priors/ if present).

    ``with_priors=False`` is the base model's view: no group features and no group attribute
    completion (§4.3.2 is part of ChoirRec, so the baseline must not get it for free).
    ``with_negatives`` adds the clicked-not-bought history (``neg_items``): only the
    Cold-Transformer baseline reads it, so it is off by default — every other model (and the
    Serve lookup) would pay for the click index and a second window per batch for nothing.
    """
    events = run.dataset("data", "events")
    cols = ["user_id", "item_id", "category_id", "ts"]
    buys = events.to_table(columns=cols, filter=pc.field("behavior") == "buy")
    is_pv = pc.field("behavior") == "pv"
    clicks = events.to_table(columns=cols, filter=is_pv) if with_negatives else None
    # every model gets point-in-time click counts (activity features): two int64 columns
    click_times = None if with_negatives else events.to_table(columns=["user_id", "ts"],
                                                               filter=is_pv)
    has_priors = with_priors and run.manifest("priors") is not None
    m = int(run.manifest("groups")["n_stages"]) if has_priors else 3
    return build_feature_store(
        run.read_table("data", "users"), run.read_table("data", "user_activity"),
        run.read_table("data", "items"), buys,
        run.read_table("priors", "user_groups") if has_priors else None,
        run.read_table("priors", "group_attributes") if has_priors else None,
        run.read_table("priors", "group_sequences") if has_priors else None,
        hist_len=hist_len, n_levels=m, clicks=clicks,
        click_times=click_times)
