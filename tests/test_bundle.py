"""A model bundle rebuilds the same module: same outputs after a round trip."""

import dataclasses
import json
from types import SimpleNamespace

import numpy as np
import pyarrow.fs as pafs
import pytest
import torch

from choirrec.training.bundle import read_bundle, read_spec, unwrap, write_bundle
from choirrec.training.loop import build_model
from tests.test_models import CFG, batch


def test_round_trip_gives_identical_scores(tmp_path):
    torch.manual_seed(0)
    cfg = dataclasses.replace(CFG, margin=0.0)
    model = build_model("choirrec", cfg).eval()
    fs = pafs.LocalFileSystem()
    write_bundle(fs, str(tmp_path / "m"), model, "choirrec", cfg, {"seed": 7})
    loaded, spec = read_bundle(fs, str(tmp_path / "m"))
    b = batch(16)
    with torch.no_grad():
        assert torch.equal(model(b)["logit"], loaded(b)["logit"])
    assert spec["kind"] == "choirrec" and spec["seed"] == 7
    assert read_spec(fs, str(tmp_path / "m"))["model_config"]["margin"] == 0.0
    assert not loaded.training


def test_unwrap_strips_a_wrapper():
    inner = torch.nn.Linear(2, 1)
    wrapper = torch.nn.Module()
    wrapper.module = inner
    assert unwrap(wrapper) is inner and unwrap(inner) is inner


def test_price_buckets_travel_with_the_weights(tmp_path):
    """The item -> price-bucket table is set from the store at build time, changes scores,
    and comes back from the bundle without the store."""
    torch.manual_seed(0)
    cfg = dataclasses.replace(CFG, n_price_buckets=10)
    buckets = np.r_[0, np.arange(100) % 10 + 1]
    store = SimpleNamespace(item_price_bucket=buckets)
    model = build_model("choirrec", cfg, store).eval()
    assert model.items.item_price_bucket.tolist() == buckets.tolist()
    fs = pafs.LocalFileSystem()
    write_bundle(fs, str(tmp_path / "m"), model, "choirrec", cfg)
    loaded, _ = read_bundle(fs, str(tmp_path / "m"))
    b = batch(16)
    with torch.no_grad():
        assert torch.equal(model(b)["logit"], loaded(b)["logit"])
        unpriced = build_model("choirrec", cfg).eval()
        unpriced.load_state_dict(model.state_dict())
        unpriced.items.item_price_bucket.zero_()  # every item in the 'no price' bucket
        assert not torch.equal(model(b)["logit"], unpriced(b)["logit"])
    with pytest.raises(ValueError, match="price buckets for 3 items"):
        model.items.set_item_prices(np.zeros(4, np.int64))


def _load_as_written_before(tmp_path, kind: str, cfg, field: str):
    """Write a bundle, drop ``field`` from its spec as versions before that field did, and
    read it back."""
    fs = pafs.LocalFileSystem()
    write_bundle(fs, str(tmp_path / "m"), build_model(kind, cfg), kind, cfg)
    spec_path = tmp_path / "m" / "model.json"
    spec = json.loads(spec_path.read_text())
    del spec["model_config"][field]
    spec_path.write_text(json.dumps(spec))
    loaded, _ = read_bundle(fs, str(tmp_path / "m"))
    return loaded


def test_a_bundle_written_before_attention_pooling_keeps_sum_pooling(tmp_path):
    loaded = _load_as_written_before(tmp_path, "base", CFG, "attention_pooling")
    assert loaded.cfg.attention_pooling == "sum" and loaded.ind.att.pooling == "sum"
    assert CFG.attention_pooling == "mean"


def test_a_bundle_written_before_group_attention_hidden_keeps_its_attention_size(tmp_path):
    # older ChoirRec bundles scored S_G with attention_hidden; loading one must rebuild that
    # MLP, not today's smaller default (the weights would not fit it)
    old = dataclasses.replace(CFG, group_attention_hidden=None)
    loaded = _load_as_written_before(tmp_path, "choirrec", old, "group_attention_hidden")
    assert loaded.cfg.group_attention_hidden is None
    assert loaded.group.att.score[0].out_features == CFG.attention_hidden[0]
    new = build_model("choirrec", CFG).group.att.score[0].out_features
    assert new == CFG.group_attention_hidden[0] != CFG.attention_hidden[0]


def test_a_bundle_written_before_point_in_time_activity_reads_the_static_counts(tmp_path):
    loaded = _load_as_written_before(tmp_path, "choirrec", CFG, "activity_as_of_sample")
    assert loaded.cfg.activity_as_of_sample is False
    assert (loaded.cfg.activity_key, loaded.cfg.n_buy_key) == ("activity_static", "n_buy_static")
    assert CFG.activity_as_of_sample and CFG.activity_key == "activity"


def test_a_bundle_written_before_reliability_input_norm_loads_without_the_norm(tmp_path):
    old = dataclasses.replace(CFG, reliability_input_norm=False)
    loaded = _load_as_written_before(tmp_path, "choirrec", old, "reliability_input_norm")
    assert loaded.cfg.reliability_input_norm is False and loaded.reliability_norm is None
    normed = dataclasses.replace(CFG, reliability_input_norm=True)
    fs = pafs.LocalFileSystem()
    write_bundle(fs, str(tmp_path / "n"), build_model("choirrec", normed), "choirrec", normed)
    back, _ = read_bundle(fs, str(tmp_path / "n"))
    assert back.reliability_norm is not None and not back.training  # running stats when scoring
