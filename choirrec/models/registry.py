"""Which models exist: model kinds and their classes, the Table 2 ablations, model names.

A model name is what ``models/<name>/`` and ``eval/<name>/`` are called: a kind (``base``,
``choirrec``, a Table 1 baseline) and, for ChoirRec, an optional Table 2 ablation
(``choirrec-no_group_id``). :func:`build_model` turns a kind and a
:class:`~choirrec.models.config.ModelConfig` into a fresh module.

Of the ablations, eight are model switches (:class:`~choirrec.models.config.ModelConfig`);
one, ``no_llm_embedding``, changes the data: its groups and priors are rebuilt from the
behavioural (category TF-IDF/SVD) embedding instead of the semantic-profile embedding — the
paper swaps in user-ID embeddings; any non-semantic embedding tests the same claim — in the
run directory's ``variants/behavioral/`` (see :mod:`choirrec.training.group_variants`).
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import TYPE_CHECKING

import torch

from choirrec.models.config import ModelConfig

if TYPE_CHECKING:
    from choirrec.features.store import FeatureStore

# name -> (paper's row label, ModelConfig overrides, group embedding variant or None)
ABLATIONS: dict[str, tuple[str, dict, str | None]] = {
    "no_llm_embedding": ("w/o LLM Emb.", {}, "behavioral"),
    "no_group_id": ("w/o ID Emb.", {"use_group_id": False}, None),
    "no_group_attrs": ("w/o Attr. Emb.", {"use_group_attrs": False}, None),
    "no_group_seq": ("w/o Seq. Emb.", {"use_group_seq": False}, None),
    "no_dual_channel": ("w/o Dual-Channel", {"dual_channel": False}, None),
    "no_gated_distillation": ("w/o Gated Distillation", {"gated_distillation": False}, None),
    "no_asymmetric_injection": ("w/o Asymmetric Injection",
                                {"asymmetric_injection": False}, None),
    "kl_loss": ("w/ KL Loss", {"distill_loss": "kl"}, None),
    "no_margin": ("w/o Margin", {"margin": 0.0}, None),
}
# base, ChoirRec, and the Table 1 baselines (choirrec.models.{poso,uie,melt,cold_transformer});
# a dash separates a model from its ablation, so no model name contains one
MODELS = ("base", "choirrec", "poso", "uie", "melt", "cold_transformer")


def check_model(model: str, ablation: str | None) -> None:
    """Fail early, naming the flag and the valid values."""
    if model not in MODELS:
        raise ValueError(f"--model {model!r}: unknown model; use one of {', '.join(MODELS)}")
    if ablation is not None:
        if model != "choirrec":
            raise ValueError(f"--ablation {ablation!r} applies to --model choirrec only")
        if ablation not in ABLATIONS:
            raise ValueError(f"--ablation {ablation!r}: unknown; use one of "
                             f"{', '.join(ABLATIONS)}")


def model_name(model: str, ablation: str | None) -> str:
    """The directory name under ``models/`` and ``eval/``: ``choirrec-no_group_id``."""
    check_model(model, ablation)
    return model if ablation is None else f"{model}-{ablation}"


def parse_model_name(name: str) -> tuple[str, str | None]:
    model, _, ablation = name.partition("-")
    check_model(model, ablation or None)
    return model, ablation or None


def apply_ablation(cfg: ModelConfig, ablation: str | None) -> ModelConfig:
    if ablation is None:
        return cfg
    return dataclasses.replace(cfg, **ABLATIONS[ablation][1])


def group_variant(ablation: str | None) -> str | None:
    return None if ablation is None else ABLATIONS[ablation][2]


# model kind -> (module, class); the Table 1 baselines are individual-only models like base
MODEL_CLASSES = {
    "base": ("choirrec.models.base", "DINModel"),
    "choirrec": ("choirrec.models.dual_channel", "ChoirRecModel"),
    "poso": ("choirrec.models.poso", "POSOModel"),
    "uie": ("choirrec.models.uie", "UIEModel"),
    "melt": ("choirrec.models.melt", "MELTModel"),
    "cold_transformer": ("choirrec.models.cold_transformer", "ColdTransformerModel"),
}


def build_model(kind: str, cfg: ModelConfig, store: FeatureStore | None = None
                ) -> torch.nn.Module:
    """A fresh model; with ``store`` its item tower also gets the item -> price-bucket table
    (a model read back from a bundle gets it from the saved weights instead)."""
    if kind not in MODEL_CLASSES:
        raise ValueError(f"model {kind!r}: use one of {', '.join(MODEL_CLASSES)}")
    module, cls = MODEL_CLASSES[kind]
    model = getattr(importlib.import_module(module), cls)(cfg)
    items = getattr(model, "items", None)
    if store is not None and store.item_price_bucket is not None and items is not None:
        items.set_item_prices(store.item_price_bucket)
    return model
