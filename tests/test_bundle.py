"""A model bundle rebuilds the same module: same outputs after a round trip."""

import dataclasses

import pyarrow.fs as pafs
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
