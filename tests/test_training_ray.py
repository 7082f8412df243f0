"""Ray Train end to end on the small embedded world: DDP on 2 workers, a killed worker is
recovered from the last checkpoint, evaluation writes the documented outputs, and the Ray
Data scores equal the in-process model's scores."""

import json
from pathlib import Path

import numpy as np
import pytest

from choirrec.evaluation.stage import evaluate
from choirrec.features import load_feature_store
from choirrec.models.bundle import read_bundle
from choirrec.training.loop import predict
from choirrec.training.stage import train_model

pytestmark = [pytest.mark.ray, pytest.mark.timeout(900)]  # includes the trained_run fixture


@pytest.fixture(scope="module")
def trained(trained_run):
    return trained_run


def test_killed_worker_resumes_from_last_checkpoint(trained):
    run, _, marker = trained
    assert marker.exists()  # the worker really died once
    spec = json.loads(Path(run.path("models", "choirrec", "seed_0", "model.json")).read_text())
    hist = spec["history"]
    assert [h["epoch"] for h in hist] == [0, 1]
    assert hist[0]["resumed_from"] == 0 and hist[1]["resumed_from"] == 1  # epoch 0 not redone
    assert all(np.isfinite(h["loss"]) and h["samples"] > 0 for h in hist)
    assert 0 < hist[1]["valid_auc"] < 1
    assert run.manifest("models/choirrec/seed_0")["epochs"] == 2


def test_retraining_is_skipped_when_current(trained):
    run, cfg, _ = trained
    before = run.manifest("models/base/seed_0")["created_at"]
    train_model(cfg, run, model="base")
    assert run.manifest("models/base/seed_0")["created_at"] == before


def test_evaluate_writes_metrics_comparison_and_plots(trained):
    run, cfg, _ = trained
    results = evaluate(cfg, run)
    keys = {"auc", "gauc", "auc_low", "gauc_low", "n_users_gauc"} | {
        f"gauc_level_{i}" for i in range(1, 6)}
    alpha = {f"alpha_fusion_level_{i}" for i in range(1, 6)}
    base = run.read_json("eval", "base", "metrics.json")
    choir = run.read_json("eval", "choirrec", "metrics.json")
    assert keys <= set(base) and not alpha & set(base)
    assert keys | alpha <= set(choir)
    assert results["base"]["gauc"] == base["gauc"]
    csv = Path(run.path("eval", "comparison.csv")).read_text().splitlines()
    assert csv[0].startswith("model,") and len(csv) == 3
    for png in ("gauc_lift_by_level.png", "alpha_fusion_by_level.png"):
        assert Path(run.path("eval", "plots", png)).read_bytes()[:4] == b"\x89PNG"
    # Ray Data actor scores == the in-process model's scores
    pred = run.read_table("eval", "choirrec", "predictions")
    model, _ = read_bundle(run.fs, run.path("models", "choirrec", "seed_0"))
    store = load_feature_store(run)
    test = run.read_table("data", "samples", "test").sort_by([("user_id", "ascending"),
                                                               ("item_id", "ascending")])
    local = predict(model, test, store)
    np.testing.assert_allclose(pred.column("score").to_numpy(), local["score"], atol=1e-6)
