"""Training objective (eqs. 7-9, 11): BCE on the fused logit + λ · gated distillation.

Teacher = individual channel (detached), student = group channel.
L_margin = max(0, |σ(z_ind/T) − σ(z_grp/T)| − m)²                       (eq. 7)
g_qual   = 1[|S_u^buy| ≥ θ_act] · 1[|σ(z_ind) − 0.5| > θ_conf]          (hard gate)
L_KD     = mean(g_qual · α_distill · L_margin)                           (eq. 9)
L        = BCE(σ(z), y) + λ · L_KD                                        (eq. 11)

α_distill multiplies a loss it could trivially drive to zero by collapsing to 0. We therefore
use it *detached* as the weight, and train its head separately on what it is meant to
measure — whether the teacher is right (σ(z_ind) on the correct side of 0.5) — with a small
auxiliary BCE. It can then only move towards teacher reliability, never towards "switch
distillation off".
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from choirrec.models.config import ModelConfig


def margin_distill(z_ind: torch.Tensor, z_grp: torch.Tensor, temperature: float,
                   margin: float) -> torch.Tensor:
    gap = (torch.sigmoid(z_ind.detach() / temperature) - torch.sigmoid(z_grp / temperature)).abs()
    return torch.clamp(gap - margin, min=0.0) ** 2


def kl_distill(z_ind: torch.Tensor, z_grp: torch.Tensor, temperature: float) -> torch.Tensor:
    """Bernoulli KL(teacher || student) at temperature T (the "w/ KL Loss" ablation)."""
    pt = torch.sigmoid(z_ind.detach() / temperature).clamp(1e-6, 1 - 1e-6)
    ls = F.logsigmoid(z_grp / temperature)
    l1s = F.logsigmoid(-z_grp / temperature)
    kl = pt * (torch.log(pt) - ls) + (1 - pt) * (torch.log(1 - pt) - l1s)
    return temperature ** 2 * kl


def qualification_gate(z_ind: torch.Tensor, n_buy: torch.Tensor, cfg: ModelConfig
                       ) -> torch.Tensor:
    active = n_buy >= cfg.theta_act
    confident = (torch.sigmoid(z_ind.detach()) - 0.5).abs() > cfg.theta_conf
    return (active & confident).float()


def choirrec_loss(out: dict[str, torch.Tensor], b: dict[str, torch.Tensor], cfg: ModelConfig
                  ) -> tuple[torch.Tensor, dict[str, float]]:
    y = b["label"].float()
    total = F.binary_cross_entropy_with_logits(out["logit"], y)
    parts = {"bce": float(total.detach())}
    if "z_grp" not in out:  # a single-tower model: BCE alone
        return total, parts
    z_ind, z_grp = out["z_ind"], out["z_grp"]
    if cfg.gated_distillation:
        per = (margin_distill(z_ind, z_grp, cfg.temperature, cfg.margin)
               if cfg.distill_loss == "margin" else kl_distill(z_ind, z_grp, cfg.temperature))
        gate = qualification_gate(z_ind, b[cfg.n_buy_key], cfg)
        kd = (gate * out["alpha_distill"].detach() * per).mean()
        teacher_right = ((torch.sigmoid(z_ind.detach()) > 0.5).float() == y).float()
        aux = F.binary_cross_entropy(out["alpha_distill"].clamp(1e-6, 1 - 1e-6), teacher_right)
        total = total + cfg.lambda_kd * kd + cfg.reliability_aux_weight * aux
        parts.update(kd=float(kd.detach()), reliability_aux=float(aux.detach()),
                     gate_rate=float(gate.mean()))
    if cfg.channel_aux_weight > 0:  # independent of distillation (its own switch)
        ch = (F.binary_cross_entropy_with_logits(z_ind, y)
              + F.binary_cross_entropy_with_logits(z_grp, y))
        total = total + cfg.channel_aux_weight * ch
        parts["channel_aux"] = float(ch.detach())
    return total, parts
