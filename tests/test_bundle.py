"""A model bundle rebuilds the same module: same outputs after a round trip."""

import dataclasses
import json
from types import SimpleNamespace

import numpy as np
import pyarrow.fs as pafs
import pytest
import torch

from choirrec.models.bundle import read_bundle, read_spec, unwrap, write_bundle
from choirrec.models.registry import build_model
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


def _as_written_with_extra(tmp_path, kind: str, cfg, extra: dict) -> tuple:
    """A bundle whose spec has the old free-form ``extra`` dict instead of typed fields."""
    from choirrec.models.config import BASELINE_FIELDS

    fs = pafs.LocalFileSystem()
    model = build_model(kind, cfg)
    write_bundle(fs, str(tmp_path / "m"), model, kind, cfg)
    spec_path = tmp_path / "m" / "model.json"
    spec = json.loads(spec_path.read_text())
    for k in BASELINE_FIELDS:
        del spec["model_config"][k]
    spec["model_config"]["extra"] = extra
    spec_path.write_text(json.dumps(spec))
    return model, fs


def test_a_bundle_with_the_old_extra_dict_loads_into_typed_fields(tmp_path):
    cfg = dataclasses.replace(CFG, uie_clusters=8, uie_decay=0.9)
    torch.manual_seed(0)
    model, fs = _as_written_with_extra(tmp_path, "uie", cfg,
                                       {"uie_clusters": 8, "uie_decay": 0.9})
    loaded, _ = read_bundle(fs, str(tmp_path / "m"))
    assert (loaded.cfg.uie_clusters, loaded.cfg.uie_decay) == (8, 0.9)
    b = batch(16)
    with torch.no_grad():
        assert torch.equal(model.eval()(b)["logit"], loaded(b)["logit"])
    # an empty extra (every bundle of the other models) gives the defaults
    _as_written_with_extra(tmp_path, "base", CFG, {})
    assert read_bundle(fs, str(tmp_path / "m"))[0].cfg.uie_clusters == 64


def test_an_unknown_key_in_the_old_extra_dict_is_named(tmp_path):
    _, fs = _as_written_with_extra(tmp_path, "base", CFG, {"poso_cc": 3.0})
    with pytest.raises(ValueError, match=r"model_config.extra holds \['poso_cc'\].*poso_c"):
        read_bundle(fs, str(tmp_path / "m"))


def test_fingerprints_see_baseline_settings_as_the_old_extra_dict():
    """Stage fingerprints of models trained before the typed fields must not change."""
    from choirrec.models.config import BASELINE_FIELDS, ModelConfig, fingerprint_fields

    old_layout = {k: v for k, v in dataclasses.asdict(ModelConfig()).items()
                  if k not in BASELINE_FIELDS}
    assert fingerprint_fields(ModelConfig()) == {**old_layout, "extra": {}}
    changed = fingerprint_fields(ModelConfig(poso_c=3.0, margin=0.1))
    assert changed["extra"] == {"poso_c": 3.0} and changed["margin"] == 0.1
    assert not set(BASELINE_FIELDS) & set(changed)
