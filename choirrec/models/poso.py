"""POSO baseline (Table 1): the base DIN model with activity-personalised gates on its MLP layers.

Dai et al., "POSO: Personalized Cold Start Modules for Large-scale Recommender Systems",
arXiv:2108.04690 (2021). POSO fights the domination of the shared network by active users by
letting a personalisation code x_pc (here: the user's activity features) scale every hidden
unit of a layer — a soft mixture of per-activity sub-networks:

    ĥ = C · σ(W2 · ReLU(W1 · x_pc)) ⊙ φ(W · x),   C = 2   (so an "average" gate is ≈ 1)

Where ours simplifies the paper:
* POSO is applied to the two MLP layers of the base model (the paper's "PMLP"); the paper
  also personalises multi-head attention ("PMHA") and gates per sub-module in MMoE — our
  DIN attention is left as in the base model.
* x_pc = the store's activity features (log1p purchases, log1p clicks, attribute fill rate)
  of the training window, used as an input without gradient (it is a raw feature); the paper
  uses a user-type indicator (new / returning / active) and activity counts.
* One gate network per layer (W1: 3 → ``poso_gate_hidden`` = 16, W2: 16 → layer width).

Hyperparameters: ``ModelConfig.poso_c`` and ``ModelConfig.poso_gate_hidden``.
"""

from __future__ import annotations

import torch
from torch import nn

from choirrec.models.base import IndividualChannel, ItemTower
from choirrec.models.config import ModelConfig
from choirrec.models.layers import MLP


class POSOGate(nn.Module):
    """g(x_pc) = C · σ(W2 · ReLU(W1 · x_pc)) in [0, C], one value per hidden unit."""

    def __init__(self, n_features: int, hidden: int, width: int, c: float):
        super().__init__()
        self.c = c
        self.net = MLP(n_features, (hidden,), width)

    def forward(self, x_pc: torch.Tensor) -> torch.Tensor:
        return self.c * torch.sigmoid(self.net(x_pc))


class POSOModel(nn.Module):
    """``poso``: DIN base model, each MLP layer's output multiplied by its POSO gate."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        c = cfg.poso_c
        hidden = cfg.poso_gate_hidden
        self.items = ItemTower(cfg)
        self.ind = IndividualChannel(cfg, self.items)
        self.gate1 = POSOGate(cfg.n_activity_features, hidden, cfg.hidden[0], c)
        self.gate2 = POSOGate(cfg.n_activity_features, hidden, cfg.hidden[1], c)

    def forward(self, b: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        target = self.items(b["item_id"], b["category_id"])
        x_pc = b[self.cfg.activity_key].detach()
        h = self.gate1(x_pc) * self.ind.layer1(self.ind.features(b, target))  # φ = ReLU
        h = self.gate2(x_pc) * self.ind.layer2(h)
        z = self.ind.out(h).squeeze(-1)
        return {"logit": z, "z_ind": z}
