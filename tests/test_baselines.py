"""The Table 1 baselines (POSO, UIE, MELT, Cold-Transformer): shapes, their defining
mechanism, learning a planted signal; the negative-feedback history; the Table 1 rendering."""

import math

import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs
import pytest
import torch

from choirrec.config import TrainConfig
from choirrec.experiments.table1 import TABLE1, check_models, format_table1, table1_rows
from choirrec.features import build_feature_store, uses_priors
from choirrec.metrics import auc
from choirrec.models.bundle import read_bundle, write_bundle
from choirrec.models.config import ModelConfig
from choirrec.models.registry import MODELS, build_model, model_name, parse_model_name
from choirrec.models.uie import CentroidMemory
from choirrec.training.loop import predict, train
from tests.planted import planted_samples, planted_tables

BASELINES = ["poso", "uie", "melt", "cold_transformer"]
CFG = ModelConfig(n_users=12, n_items=30, n_categories=6, attr_cardinalities=(3, 4),
                  hidden=(32, 16), uie_clusters=4, melt_long=3)


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny models: one intra-op thread is faster, and far faster on a busy machine."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def batch(n=8, length=5, seed=0, hist_len=None):
    """A random batch; ``hist_len`` rows' visible purchase counts (right-aligned)."""
    g = torch.Generator().manual_seed(seed)
    hist = torch.randint(1, 31, (n, length), generator=g)
    if hist_len is not None:
        keep = torch.arange(length)[None, :] >= length - torch.as_tensor(hist_len)[:, None]
        hist = hist * keep
    return {"user_id": torch.randint(1, 13, (n,), generator=g),
            "item_id": torch.randint(1, 31, (n,), generator=g),
            "category_id": torch.randint(1, 7, (n,), generator=g),
            "user_attrs": torch.stack([torch.randint(0, 4, (n,), generator=g),
                                       torch.randint(0, 5, (n,), generator=g)], 1),
            "hist_items": hist, "hist_cats": (hist % 6 + 1) * (hist > 0),
            "neg_items": torch.randint(0, 31, (n, length), generator=g),
            "neg_cats": torch.randint(1, 7, (n, length), generator=g),
            "activity": torch.rand(n, 3, generator=g) * 4,
            "n_buy": torch.randint(0, 10, (n,), generator=g).float(),
            "label": torch.randint(0, 2, (n,), generator=g).float()}


@pytest.mark.parametrize("kind", BASELINES)
def test_each_baseline_builds_runs_and_every_parameter_gets_a_gradient(kind):
    torch.manual_seed(0)
    model = build_model(kind, CFG).train()
    out = model(batch())
    assert out["logit"].shape == (8,) and torch.isfinite(out["logit"]).all()
    loss = torch.nn.functional.binary_cross_entropy_with_logits(out["logit"], batch()["label"])
    (loss + out.get("aux_loss", 0.0)).backward()
    # DDP (find_unused_parameters=False) needs every parameter in the graph
    assert all(p.grad is not None for p in model.parameters())


@pytest.mark.parametrize("kind", BASELINES)
def test_bundle_round_trip(kind, tmp_path):
    torch.manual_seed(0)
    model = build_model(kind, CFG)
    model(batch())  # one training-mode pass (UIE: seeds and moves its memory)
    model.eval()
    fs = pafs.LocalFileSystem()
    write_bundle(fs, str(tmp_path / "m"), model, kind, CFG)
    loaded, spec = read_bundle(fs, str(tmp_path / "m"))
    with torch.no_grad():
        assert torch.equal(model(batch(seed=3))["logit"], loaded(batch(seed=3))["logit"])
    assert spec["kind"] == kind


def test_names_registry_and_feature_view():
    assert set(BASELINES) < set(MODELS) and not any("-" in m for m in MODELS)
    assert parse_model_name("cold_transformer") == ("cold_transformer", None)
    with pytest.raises(ValueError, match="--model choirrec only"):
        model_name("poso", "no_group_id")
    with pytest.raises(ValueError, match="use one of"):
        build_model("din", CFG)
    # only ChoirRec sees group priors / attribute completion
    assert [m for m in MODELS if uses_priors(m)] == ["choirrec"]
    assert list(TABLE1) == ["base", "poso", "cold_transformer", "melt", "uie", "choirrec"]
    assert check_models([]) == list(TABLE1)
    with pytest.raises(ValueError, match="--models"):
        check_models(["poso", "din"])


# -- POSO ---------------------------------------------------------------------------------

def test_poso_gate_lies_in_0_c_and_is_one_at_zero_logits():
    torch.manual_seed(0)
    model = build_model("poso", CFG)
    x = torch.tensor([[0.0, 0.0, 0.0], [50.0, -50.0, 1.0], [-80.0, 80.0, 0.0]])
    for gate, width in ((model.gate1, 32), (model.gate2, 16)):
        g = gate(x)
        assert g.shape == (3, width) and (g >= 0).all() and (g <= 2.0).all()
        torch.nn.init.zeros_(gate.net[-1].weight)
        torch.nn.init.zeros_(gate.net[-1].bias)
        assert torch.allclose(gate(x), torch.ones(3, width))  # C·σ(0) = 2 · 0.5


def test_poso_gate_personalises_by_activity():
    torch.manual_seed(0)
    model = build_model("poso", CFG).eval()
    b = batch()
    with torch.no_grad():
        z = model(b)["logit"]
        b["activity"] = b["activity"] + 3.0  # same user, items, history; another activity
        assert not torch.allclose(z, model(b)["logit"])


# -- UIE ----------------------------------------------------------------------------------

def test_uie_memory_ema_update_by_hand():
    mem = CentroidMemory(2, 2, decay=0.9)
    mem.centroids.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    mem.initialised.fill_(True)
    reps = torch.tensor([[0.8, 0.6], [0.6, 0.8], [1.0, 0.0]])
    out = mem.train()(reps)
    # rows 0 and 2 -> centroid 0, row 1 -> centroid 1
    c0 = 0.9 * torch.tensor([1.0, 0.0]) + 0.1 * torch.tensor([0.9, 0.3])  # mean of rows 0, 2
    c1 = 0.9 * torch.tensor([0.0, 1.0]) + 0.1 * torch.tensor([0.6, 0.8])
    assert torch.allclose(mem.centroids, torch.stack([c0, c1]))
    assert torch.allclose(out, torch.stack([c0, c1, c0]))  # the retrieved (updated) centroids
    before = mem.centroids.clone()
    mem.eval()(reps + 5)
    assert torch.equal(mem.centroids, before)  # no update outside training


def test_uie_memory_is_seeded_from_the_first_training_batch():
    torch.manual_seed(0)
    mem = CentroidMemory(3, 2, decay=1.0)  # d = 1: seeded, then never moved
    reps = torch.nn.functional.normalize(torch.randn(10, 2), dim=-1)
    mem.eval()(reps)
    assert not bool(mem.initialised)  # evaluation never seeds
    mem.train()(reps)
    assert bool(mem.initialised)
    assert all(torch.isclose(reps, c).all(-1).any() for c in mem.centroids)


def test_uie_memory_moves_toward_the_user_reps():
    torch.manual_seed(0)
    model = build_model("uie", CFG)
    b = batch(32)
    model.train()(b)
    reps = torch.nn.functional.normalize(model.user_rep(b), dim=-1).detach()
    mem = model.memory
    start = mem.centroids.clone()
    for _ in range(300):
        mem(reps)  # the same users again and again: each centroid converges on its users' mean
    idx = mem.assign(reps)
    moved = 0
    for k in idx.unique():
        target = reps[idx == k].mean(0)
        assert (mem.centroids[k] - target).norm() < 0.1 * (start[k] - target).norm() + 1e-6
        moved += int(not torch.equal(start[k], mem.centroids[k]))
    assert moved > 0
    assert not any(buf.requires_grad for buf in mem.buffers())


# -- MELT ---------------------------------------------------------------------------------

def test_melt_loss_applies_to_long_histories_only():
    torch.manual_seed(0)
    model = build_model("melt", CFG).train()  # melt_long = 3, histories of length 5
    short = batch(6, hist_len=[0, 1, 2, 2, 1, 0])
    assert float(model(short)["aux_loss"].detach()) == 0.0
    mixed = batch(6, hist_len=[0, 1, 2, 5, 4, 3])
    torch.manual_seed(1)
    aux = model(mixed)["aux_loss"]
    assert float(aux.detach()) > 0
    # changing a short row's history does not change the loss (same random truncations)
    other = {k: v.clone() for k, v in mixed.items()}
    other["hist_items"][1, -1] = 7
    torch.manual_seed(1)
    assert torch.equal(model(other)["aux_loss"], aux)
    # the transfer loss trains the transfer module only
    model.zero_grad()
    aux.backward()
    grads = {n for n, p in model.named_parameters() if p.grad is not None and p.grad.abs().sum()}
    assert grads and all(n.startswith("transfer.") for n in grads)
    assert "aux_loss" not in model.eval()(mixed)


def test_melt_transfers_short_rows_and_leaves_long_rows_alone():
    torch.manual_seed(0)
    model = build_model("melt", CFG).eval()
    b = batch(4, hist_len=[1, 2, 3, 5])
    with torch.no_grad():
        z = model(b)["logit"]
        torch.nn.init.normal_(model.transfer[-1].bias, std=1.0)
        z2 = model(b)["logit"]
    changed = ~torch.isclose(z, z2)
    assert changed[:2].all() and not changed[2:].any()


# -- Cold-Transformer ---------------------------------------------------------------------

def test_cold_transformer_label_encoding_tells_positive_from_negative():
    torch.manual_seed(0)
    model = build_model("cold_transformer", CFG).eval()
    b = batch(6)
    b["neg_items"] = b["neg_items"].clamp(min=1)
    swapped = dict(b, hist_items=b["neg_items"], hist_cats=b["neg_cats"],
                   neg_items=b["hist_items"], neg_cats=b["hist_cats"])
    with torch.no_grad():
        torch.nn.init.normal_(model.fused.label.weight)  # trained-size label embeddings
        z, zs = model(b)["logit"], model(swapped)["logit"]
        assert not torch.allclose(z, zs, atol=1e-4)  # purchases ≠ clicks without purchase
        lab = model.fused.label.weight
        lab[3] = lab[2]  # one label for both: the swap is a mere permutation of the tokens
        assert torch.allclose(model(b)["logit"], model(swapped)["logit"], atol=1e-5)


def test_cold_transformer_needs_negatives():
    model = build_model("cold_transformer", CFG)
    b = batch()
    del b["neg_items"]
    with pytest.raises(KeyError, match="neg_items"):
        model(b)


# -- the negative-feedback history in the feature store ------------------------------------

def test_negatives_are_clicks_not_bought_as_of_the_sample():
    users = pa.table({"user_id": pa.array([10, 20], pa.int64())})
    act = pa.table({"user_id": pa.array([10, 20], pa.int64()), "n_buy": pa.array([2, 0]),
                    "n_click": pa.array([5, 1]), "attr_fill_rate": [0.0, 0.0],
                    "low_activity": [False, True]})
    items = pa.table({"item_id": pa.array([1, 2, 3, 4, 5], pa.int64()),
                      "category_id": pa.array([7, 7, 8, 9, 9], pa.int64())})
    cols = ["user_id", "item_id", "category_id", "ts"]
    buys = pa.table(dict(zip(cols, [pa.array(v, pa.int64()) for v in (
        [10, 10], [2, 3], [7, 8], [150, 500])], strict=True)))
    # user 10 clicks 1 @100, 2 @110 (bought @150), 3 @120 (bought @500), 4 @130, 1 again @140
    clicks = pa.table(dict(zip(cols, [pa.array(v, pa.int64()) for v in (
        [10, 10, 10, 10, 10, 20], [1, 2, 3, 4, 1, 5], [7, 7, 8, 9, 7, 9],
        [100, 110, 120, 130, 140, 300])], strict=True)))
    s = build_feature_store(users, act, items, buys, None, None, None, hist_len=4,
                            clicks=clicks)
    b = s.batch(np.array([10, 10, 10, 20, 20]), np.array([5, 5, 5, 1, 1]),
                np.array([9, 9, 9, 7, 7]), np.array([125, 200, 600, 300, 301]))
    # @125: clicks on 1, 2, 3 before; none bought yet -> all negative
    assert b["neg_items"][0].tolist() == [0, 1, 2, 3]
    # @200: item 2 was bought @150 -> masked (it is a purchase now); 3's purchase is later
    assert b["neg_items"][1].tolist() == [1, 0, 3, 4]
    # @600: 3 bought too; the repeated click on 1 counts once (first click per item)
    assert b["neg_items"][2].tolist() == [1, 0, 0, 4]
    assert b["neg_cats"][2].tolist() == [1, 0, 0, 3]
    assert b["hist_items"][2].tolist() == [0, 0, 2, 3]
    # the sample's own click time is not *before* it
    assert b["neg_items"][3].tolist() == [0, 0, 0, 0] and b["neg_items"][4].tolist()[-1] == 5
    # without clicks the batch is what it always was
    plain = build_feature_store(users, act, items, buys, None, None, None, hist_len=4)
    pb = plain.batch(np.array([10]), np.array([5]), np.array([9]), np.array([600]))
    assert "neg_items" not in pb and pb["hist_items"].tolist() == [[0, 0, 2, 3]]


# -- learning a planted signal -------------------------------------------------------------

def planted(n_users=60, n_items=40, n=3000, seed=0):
    """Label = the item is one of the 'good' items (plus 10% label noise); with clicks."""
    rng = np.random.default_rng(seed)
    users, act, items = planted_tables(rng, n_users, n_items)

    def events(k):
        it = rng.integers(0, n_items, k)
        return pa.table({"user_id": pa.array(rng.integers(0, n_users, k), pa.int64()),
                         "item_id": pa.array(it, pa.int64()),
                         "category_id": pa.array(it % 5, pa.int64()),
                         "ts": pa.array(rng.integers(0, 1000, k), pa.int64())})

    store = build_feature_store(users, act, items, events(600), None, None, None, hist_len=12,
                                clicks=events(1500))
    samples = planted_samples(rng, n_users, n_items, n)
    cfg = ModelConfig(n_users=n_users, n_items=n_items, n_categories=5, n_clusters=2,
                      uie_clusters=8)
    return store, samples, cfg


@pytest.mark.parametrize("kind", BASELINES)
def test_each_baseline_learns_a_planted_signal(kind):
    store, samples, cfg = planted()
    torch.manual_seed(0)
    model = build_model(kind, cfg)
    hist = train(model, cfg, TrainConfig(epochs=6, batch_size=128, lr_start=0.05, lr_end=0.01),
                 samples, store)
    assert hist[-1]["loss"] < hist[0]["loss"]
    assert hist[-1]["samples"] == samples.num_rows
    if kind == "melt":  # the loop adds the model's own objective and reports it
        assert hist[-1]["aux_loss"] >= 0 and hist[-1]["loss"] >= hist[-1]["bce"]
    pred = predict(model, samples, store)
    # the planted rule alone scores 0.9 (10% noise); chance is 0.5
    assert auc(samples.column("label").to_numpy(), pred["score"]) > 0.85


# -- Table 1 rendering ----------------------------------------------------------------------

def _m(auc_low, auc_all, gauc_low, gauc_all, seeds=(0.0, 0.0)):
    keys = ("auc_low", "auc", "gauc_low", "gauc")
    vals = dict(zip(keys, (auc_low, auc_all, gauc_low, gauc_all), strict=True))
    per = {str(i): {k: v + d for k, v in vals.items()} for i, d in enumerate(seeds)}
    out = {k: float(np.mean([p[k] for p in per.values()])) for k in keys}
    out.update({f"{k}_std": float(np.std([p[k] for p in per.values()], ddof=1)) for k in keys})
    return {**out, "n_seeds": len(seeds), "per_seed": per}


def test_table1_rows_and_markdown_mark_the_best_and_second_best():
    metrics = {"base": _m(0.60, 0.70, 0.55, 0.65), "poso": _m(0.62, 0.69, 0.56, 0.66),
               "uie": _m(0.61, 0.71, 0.56, 0.64), "choirrec": _m(0.63, 0.72, 0.57, 0.67,
                                                                 seeds=(-0.01, 0.01))}
    rows = table1_rows(metrics)
    assert [r["label"] for r in rows] == ["Base Model", "POSO", "UIE", "ChoirRec (Ours)"]
    r = rows[3]
    assert r["gauc_low"] == pytest.approx(0.57) and r["gauc_low_std"] == pytest.approx(
        np.std([0.56, 0.58], ddof=1))
    assert r["gauc_lift_pct"] == pytest.approx((0.67 / 0.65 - 1) * 100)
    assert rows[0]["gauc_lift_pct"] == 0.0
    md = format_table1(rows).splitlines()
    assert md[0] == ("| Model | AUC Low-Act. | AUC Overall | GAUC Low-Act. | GAUC Overall |")
    body = {line.split(" | ")[0].lstrip("| "): line.split(" | ")[1:] for line in md[2:6]}
    assert body["ChoirRec (Ours)"][0] == "**0.6300** ± 0.0141"
    assert body["POSO"][0].startswith("<u>0.6200</u>")
    assert body["Base Model"][0].startswith("0.6000")
    # GAUC low: POSO and UIE tie for second place -> both underlined
    assert body["POSO"][2].startswith("<u>0.5600</u>") and body["UIE"][2].startswith("<u>")
    assert body["UIE"][1].startswith("<u>0.7100</u>")
    assert "best in bold" in md[-1]


def test_table1_without_the_base_model_has_no_lifts():
    rows = table1_rows({"poso": _m(0.6, 0.7, 0.5, 0.6)})
    assert math.isnan(rows[0]["gauc_lift_pct"])
    assert "**0.6000**" in format_table1(rows)
