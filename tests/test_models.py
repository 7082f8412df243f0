"""The base and ChoirRec models: equations and switches, on random batches."""

import dataclasses

import pytest
import torch

from choirrec.models.base import DINModel
from choirrec.models.config import ModelConfig
from choirrec.models.dual_channel import ChoirRecModel
from choirrec.models.losses import choirrec_loss, margin_distill, qualification_gate

CFG = ModelConfig(n_users=50, n_items=100, n_categories=10, attr_cardinalities=(3, 5),
                  n_levels=3, n_clusters=8)


def batch(b=32, seed=0, n_buy=None):
    g = torch.Generator().manual_seed(seed)
    r = lambda hi, *s: torch.randint(0, hi, s, generator=g)  # noqa: E731
    return {"user_id": r(51, b), "item_id": r(101, b), "category_id": r(11, b),
            "user_attrs": torch.stack([r(4, b), r(6, b)], 1),
            "hist_items": r(101, b, 6), "hist_cats": r(11, b, 6),
            "group_codes": r(8, b, 3), "group_attrs": torch.stack([r(4, b), r(6, b)], 1),
            "group_seq_items": r(101, b, 5), "group_seq_cats": r(11, b, 5),
            "activity": torch.rand(b, 3, generator=g),
            "n_buy": torch.full((b,), 10.0) if n_buy is None else n_buy,
            "label": r(2, b)}


def test_base_model_is_din():
    m = DINModel(CFG)
    out = m(batch())
    assert out["logit"].shape == (32,)
    loss, parts = choirrec_loss(out, batch(), CFG)
    loss.backward()
    assert set(parts) == {"bce"}


def test_fusion_and_heads():
    torch.manual_seed(0)
    out = ChoirRecModel(CFG)(batch())
    a = out["alpha_fusion"]
    assert torch.allclose(out["logit"], (1 - a) * out["z_ind"] + a * out["z_grp"])  # eq. 10
    assert torch.all((a > 0) & (a < 1)) and out["alpha_distill"].shape == (32,)


def test_the_reliability_network_reads_the_configured_activity_counts():
    torch.manual_seed(0)
    b = batch()
    b["activity_static"] = b["activity"] + 5.0  # counts that ran past the sample
    b["n_buy_static"] = torch.zeros(32)
    m = ChoirRecModel(CFG)
    static = ChoirRecModel(dataclasses.replace(CFG, activity_as_of_sample=False))
    static.load_state_dict(m.state_dict())
    a, a_static = m(b)["alpha_fusion"], static(b)["alpha_fusion"]
    assert not torch.allclose(a, a_static)
    b2 = dict(b, activity_static=b["activity"])  # same counts -> same gate
    assert torch.allclose(static(b2)["alpha_fusion"], a)
    # θ_act reads the same choice: static n_buy 0 disqualifies every sample
    _, parts = choirrec_loss(static(b), b, static.cfg)
    assert parts["gate_rate"] == 0.0


def test_asymmetric_injection_does_not_train_the_group_channel():
    torch.manual_seed(0)
    m = ChoirRecModel(CFG)
    m(batch())["z_ind"].sum().backward()
    assert m.inject[0].weight.grad.abs().sum() > 0  # the injection MLP learns
    for p in list(m.grp_layer1.parameters()) + list(m.group.gid.parameters()):
        assert p.grad is None or torch.all(p.grad == 0)  # eq. 6: stop-gradient
    m.zero_grad()
    m(batch())["z_grp"].sum().backward()
    assert m.grp_layer1[0].weight.grad.abs().sum() > 0


def test_margin_loss_matches_eq7_by_hand():
    zi, zg = torch.tensor([2.0, 0.0, -1.0]), torch.tensor([0.0, 0.1, -1.0])
    t, m = 2.0, 0.05
    want = [max(0.0, abs(torch.sigmoid(a / t) - torch.sigmoid(b / t)).item() - m) ** 2
            for a, b in zip(zi, zg, strict=True)]
    assert torch.allclose(margin_distill(zi, zg, t, m), torch.tensor(want))
    assert margin_distill(zi, zg, t, 1.0).sum() == 0  # inside the margin: no loss


def test_gates_and_detached_reliability_weight():
    cfg = dataclasses.replace(CFG, theta_act=5, theta_conf=0.2)
    z = torch.tensor([3.0, 0.1, 3.0])
    assert qualification_gate(z, torch.tensor([9.0, 9.0, 1.0]), cfg).tolist() == [1.0, 0.0, 0.0]
    # inactive users: no distillation at all
    torch.manual_seed(0)
    out = ChoirRecModel(cfg)(batch(n_buy=torch.zeros(32)))
    _, parts = choirrec_loss(out, batch(), cfg)
    assert parts["kd"] == 0.0 and parts["gate_rate"] == 0.0
    # α_distill only learns from the auxiliary reliability target, never from L_KD
    a = torch.full((3,), 0.5, requires_grad=True)
    fake = {"logit": torch.zeros(3), "z_ind": torch.tensor([3.0, -3.0, 3.0]),
            "z_grp": torch.zeros(3, requires_grad=True), "alpha_fusion": torch.zeros(3),
            "alpha_distill": a}
    b = {"label": torch.tensor([1, 0, 1]), "n_buy": torch.full((3,), 9.0)}
    loss, parts = choirrec_loss(fake, b, dataclasses.replace(cfg, reliability_aux_weight=0.0,
                                                              lambda_kd=1.0))
    loss.backward()
    assert parts["kd"] > 0
    assert a.grad is None or torch.all(a.grad == 0)
    assert fake["z_grp"].grad.abs().sum() > 0  # the student is pulled towards the teacher


@pytest.mark.parametrize("alpha0", [0.1, 0.5])
def test_fusion_gate_starts_at_its_configured_opening(alpha0):
    """α_fusion starts near ``fusion_init_alpha`` for every user (the head's bias), so the
    individual channel leads at first and the gate opens where the group channel helps."""
    torch.manual_seed(0)
    a = ChoirRecModel(dataclasses.replace(CFG, fusion_init_alpha=alpha0))(batch())["alpha_fusion"]
    assert abs(float(a.mean()) - alpha0) < 0.05
    assert float(a.std()) < 0.05


@pytest.mark.parametrize("field,value", [("fusion_init_alpha", 0.0),
                                         ("fusion_init_alpha", 1.0),
                                         ("channel_aux_weight", -0.1)])
def test_bad_fusion_settings_are_named(field, value):
    with pytest.raises(ValueError, match=field):
        ChoirRecModel(dataclasses.replace(CFG, **{field: value}))


def test_channel_auxiliary_losses_train_each_channel_alone():
    torch.manual_seed(0)
    cfg = dataclasses.replace(CFG, channel_aux_weight=0.5, gated_distillation=True)
    b = batch()
    m = ChoirRecModel(cfg)
    out = m(b)
    loss, parts = choirrec_loss(out, b, cfg)
    plain, _ = choirrec_loss(out, b, dataclasses.replace(cfg, channel_aux_weight=0.0))
    y = b["label"].float()
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    want = bce(out["z_ind"], y) + bce(out["z_grp"], y)
    assert abs(parts["channel_aux"] - float(want)) < 1e-6
    assert torch.allclose(loss, plain + 0.5 * want)
    # z_grp's own BCE reaches the group channel even where α_fusion gives it no weight
    m.zero_grad()
    out = m(b)
    out["logit"] = out["z_ind"]  # as if α_fusion were 0 everywhere
    choirrec_loss(out, b, dataclasses.replace(cfg, lambda_kd=0.0))[0].backward()
    assert m.grp_out.weight.grad.abs().sum() > 0
    # the switch is its own: it stays on in the "w/o Gated Distillation" ablation
    no_kd = dataclasses.replace(cfg, gated_distillation=False)
    loss, parts = choirrec_loss(out, b, no_kd)
    assert "kd" not in parts and abs(parts["channel_aux"] - float(want)) < 1e-6
    assert torch.allclose(loss, bce(out["logit"], y) + 0.5 * want)


@pytest.mark.parametrize("ablation", [
    {}, {"use_group_id": False}, {"use_group_attrs": False}, {"use_group_seq": False},
    {"dual_channel": False}, {"gated_distillation": False}, {"asymmetric_injection": False},
    {"distill_loss": "kl"}, {"margin": 0.0},
])
def test_every_ablation_trains(ablation):
    torch.manual_seed(0)
    cfg = dataclasses.replace(CFG, **ablation)
    m = ChoirRecModel(cfg)
    opt = torch.optim.Adagrad(m.parameters(), lr=0.01)
    losses = []
    b = batch(64)
    for _ in range(30):
        opt.zero_grad()
        loss, _ = choirrec_loss(m(b), b, cfg)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]  # it fits a fixed batch
    if not cfg.dual_channel:
        assert "z_grp" not in m(b)


def test_reliability_input_norm_standardises_the_gate_inputs():
    """With the norm, the gate sees standardised activity: in training an affine change of
    the raw counts leaves α unchanged; scoring uses the running statistics, and a batch of
    one sample works in both modes."""
    torch.manual_seed(0)
    m = ChoirRecModel(dataclasses.replace(CFG, reliability_input_norm=True))
    b = batch()
    a = m(b)["alpha_fusion"]
    shifted = dict(b, activity=b["activity"] * 4.0 + 3.0)
    assert torch.allclose(m(shifted)["alpha_fusion"], a, atol=1e-5)
    plain = ChoirRecModel(CFG)
    plain.load_state_dict({k: v for k, v in m.state_dict().items()
                           if not k.startswith("reliability_norm.")})
    assert not torch.allclose(plain(shifted)["alpha_fusion"], plain(b)["alpha_fusion"])
    rm = m.reliability_norm.running_mean.clone()
    assert float(rm.abs().sum()) > 0  # training batches updated the running statistics
    one = {k: v[:1] for k, v in b.items()}
    assert m(one)["alpha_fusion"].shape == (1,)  # training mode, one sample: running stats
    assert torch.equal(m.reliability_norm.running_mean, rm)  # and leaves them alone
    m.eval()
    single = m(one)["alpha_fusion"]
    assert torch.allclose(single, m(b)["alpha_fusion"][:1])  # per-sample when scoring
