"""The framework-free loop learns a planted signal; the LR schedule follows §5.1."""

import numpy as np
import pyarrow as pa
import pytest
import torch

from choirrec.config import TrainConfig
from choirrec.features import build_feature_store
from choirrec.metrics import auc
from choirrec.models.config import ModelConfig
from choirrec.models.registry import build_model
from choirrec.training.loop import optimizer, predict, train
from tests.planted import planted_samples, planted_tables


def planted(n_users=60, n_items=40, n=3000, seed=0):
    """Label = the item is one of the 'good' items (plus 10% label noise)."""
    rng = np.random.default_rng(seed)
    users, act, items = planted_tables(rng, n_users, n_items)
    buys = pa.table({"user_id": pa.array(rng.integers(0, n_users, 200), pa.int64()),
                     "item_id": pa.array(rng.integers(0, n_items, 200), pa.int64()),
                     "category_id": pa.array(rng.integers(0, 5, 200), pa.int64()),
                     "ts": pa.array(rng.integers(0, 1000, 200), pa.int64())})
    store = build_feature_store(users, act, items, buys, None, None, None, hist_len=5)
    samples = planted_samples(rng, n_users, n_items, n)
    cfg = ModelConfig(n_users=n_users, n_items=n_items, n_categories=5, n_clusters=2)
    return store, samples, cfg


@pytest.mark.parametrize("kind", ["base", "choirrec"])
def test_both_models_learn_a_planted_signal(kind):
    store, samples, cfg = planted()
    torch.manual_seed(0)
    model = build_model(kind, cfg)
    hist = train(model, cfg, TrainConfig(epochs=8, batch_size=128, lr_start=0.05, lr_end=0.01),
                 samples, store)
    assert hist[-1]["loss"] < hist[0]["loss"]
    assert hist[-1]["samples"] == samples.num_rows
    pred = predict(model, samples, store)
    # the planted rule alone scores 0.9 (10% noise); chance is 0.5
    assert auc(samples.column("label").to_numpy(), pred["score"]) > 0.85
    if kind == "choirrec":
        assert ((pred["alpha_fusion"] > 0) & (pred["alpha_fusion"] < 1)).all()
        assert "kd" in hist[-1] and 0 <= hist[-1]["gate_rate"] <= 1


def test_learning_rate_decays_geometrically_from_start_to_end():
    model = torch.nn.Linear(2, 1)
    opt, sched = optimizer(model, TrainConfig(lr_start=0.01, lr_end=0.001), total_steps=11)
    lrs = []
    for _ in range(11):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[0] == pytest.approx(0.01) and lrs[-1] == pytest.approx(0.001)
    assert np.allclose(np.diff(np.log(lrs)), np.log(0.1) / 10)


def test_checkpoint_state_loads_with_weights_only(tmp_path):
    """Ray Train checkpoints hold tensors and plain numbers (history as JSON), so resuming
    never unpickles arbitrary objects; an old pickled checkpoint fails with what to do."""
    import numpy as np
    import torch

    from choirrec.training.ray_trainer import HISTORY, STATE, load_state, save_state

    model = torch.nn.Linear(3, 1)
    opt = torch.optim.Adagrad(model.parameters(), lr=0.1)
    model(torch.ones(2, 3)).sum().backward()
    opt.step()
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, 0.9)
    history = [{"loss": np.float64(0.5), "epoch": np.int64(0), "samples": 10,
                "valid_gauc": float("nan")}]
    save_state(str(tmp_path), {"model": model.state_dict(), "optimizer": opt.state_dict(),
                               "scheduler": sched.state_dict(), "epoch": np.int64(0)}, history)
    back = load_state(str(tmp_path))
    assert torch.equal(back["model"]["weight"], model.weight) and back["epoch"] == 0
    assert back["history"][0]["loss"] == 0.5 and back["history"][0]["samples"] == 10
    (tmp_path / HISTORY).unlink()
    torch.save({"model": model.state_dict(), "epoch": 0, "history": [{"loss": 0.5}]},
               tmp_path / STATE)  # older versions: the history (plain floats) inside
    assert load_state(str(tmp_path))["history"] == [{"loss": 0.5}]
    torch.save({"model": model.state_dict(), "epoch": 0, "history": history},
               tmp_path / STATE)  # ... or with numpy scalars pickled inside
    with pytest.raises(RuntimeError, match=r"weights_only=True.*\.ray_train"):
        load_state(str(tmp_path))
    torch.save({"model": model.state_dict(), "epoch": 0}, tmp_path / STATE)
    with pytest.raises(RuntimeError, match="no history.json"):
        load_state(str(tmp_path))
