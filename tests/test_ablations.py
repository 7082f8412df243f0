"""Ablation names, their switches, and the flag errors users see."""

import pytest

from choirrec.models.config import ModelConfig
from choirrec.models.registry import (
    ABLATIONS,
    apply_ablation,
    group_variant,
    model_name,
    parse_model_name,
)


def test_every_table2_row_is_a_variant():
    labels = {v[0] for v in ABLATIONS.values()}
    assert labels == {"w/o LLM Emb.", "w/o ID Emb.", "w/o Attr. Emb.", "w/o Seq. Emb.",
                      "w/o Dual-Channel", "w/o Gated Distillation", "w/o Asymmetric Injection",
                      "w/ KL Loss", "w/o Margin"}


@pytest.mark.parametrize("name", list(ABLATIONS))
def test_each_variant_changes_exactly_its_switch(name):
    full = ModelConfig()
    cfg = apply_ablation(full, name)
    changed = {k for k in vars(full) if getattr(cfg, k) != getattr(full, k)}
    assert changed == set(ABLATIONS[name][1])
    assert parse_model_name(model_name("choirrec", name)) == ("choirrec", name)


def test_the_llm_embedding_ablation_regroups():
    assert group_variant("no_llm_embedding") == "behavioral"
    assert group_variant("no_group_id") is None and group_variant(None) is None


def test_bad_names_are_clear_errors():
    with pytest.raises(ValueError, match="--model 'din'"):
        model_name("din", None)
    with pytest.raises(ValueError, match="--model choirrec only"):
        model_name("base", "no_group_id")
    with pytest.raises(ValueError, match="no_group_id"):
        model_name("choirrec", "no_groupid")
