"""The Table 2 ablations, each one named variant of the full ChoirRec configuration.

Eight are model switches (:class:`~choirrec.models.config.ModelConfig`); one, ``no_llm_embedding``,
changes the data: its groups and priors are rebuilt from the behavioural (category TF-IDF/SVD)
embedding instead of the semantic-profile embedding — the paper swaps in user-ID embeddings;
any non-semantic embedding tests the same claim — in the run directory's
``variants/behavioral/`` (see :mod:`choirrec.training.variants`).
"""

from __future__ import annotations

import dataclasses

from choirrec.models.config import ModelConfig

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
