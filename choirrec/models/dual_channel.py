"""ChoirRec's group-aware multi-granularity module (§4.4), with every Table 2 switch.

Individual channel: as the base model. Group channel: fused group-ID embedding (eq. 5),
group attributes, DIN attention over the group behaviour sequence, the shared candidate
representation -> two MLP layers -> z_grp.
Asymmetric injection (eq. 6): h_fuse = W2·ReLU(W1[sg(h_mid^grp); h_mid^ind] + b1) + b2 is added
to the individual channel's first-layer output; sg = stop-gradient, so nothing flows back into
the group channel. A reliability network on activity features has two heads: α_fusion
(eq. 10: z = (1 - α)·z_ind + α·z_grp) and α_distill (eq. 9). The α_fusion head starts
mostly closed (``fusion_init_alpha``, 0.1): with an unbiased head (0.5) the two channels
competed from the first step, the weaker group logit took 0.4-0.7 of the weight and ChoirRec
trailed the base model; starting closed, the individual channel learns first and the gate
opens where the group logit helps (docs/models.md has the measurements).
"""

from __future__ import annotations

import torch
from torch import nn

from choirrec.models.base import AttributeEmbedding, IndividualChannel, ItemTower
from choirrec.models.config import ModelConfig
from choirrec.models.group_id_fusion import HierarchicalGroupIdFusion
from choirrec.models.layers import MLP, TargetAttention


class GroupFeatures(nn.Module):
    """The group priors as one vector: [e_G; e_P_G; attention over S_G] (each switchable)."""

    def __init__(self, cfg: ModelConfig, items: ItemTower):
        super().__init__()
        self.cfg, self.items = cfg, items
        self.gid = HierarchicalGroupIdFusion(cfg.n_levels, cfg.n_clusters, cfg.dim, cfg.dim) \
            if cfg.use_group_id else None
        self.attrs = AttributeEmbedding(cfg.attr_cardinalities, cfg.dim) \
            if cfg.use_group_attrs else None
        hidden = cfg.attention_hidden if cfg.group_attention_hidden is None \
            else cfg.group_attention_hidden
        self.att = TargetAttention(items.out_dim, tuple(hidden), cfg.attention_pooling) \
            if cfg.use_group_seq else None
        self.out_dim = ((cfg.dim if self.gid else 0) + (self.attrs.out_dim if self.attrs else 0)
                        + (items.out_dim if self.att else 0))

    def forward(self, b: dict[str, torch.Tensor], target: torch.Tensor) -> torch.Tensor:
        parts = []
        if self.gid is not None:
            parts.append(self.gid(b["group_codes"]))
        if self.attrs is not None:
            parts.append(self.attrs(b["group_attrs"]))
        if self.att is not None:
            seq = self.items(b["group_seq_items"], b["group_seq_cats"])
            parts.append(self.att(seq, target, b["group_seq_items"] > 0))
        return torch.cat(parts, -1) if parts else target.new_zeros((target.shape[0], 0))


class ActivityNorm(nn.BatchNorm1d):
    """Standardises the activity features for the reliability network, no affine part (the
    MLP after it has its own). Batch statistics in training, running ones when scoring, so a
    served request is normalised exactly as evaluation does; a training batch of one sample
    (an epoch's last) uses the running statistics instead of failing."""

    def __init__(self, n_features: int):
        super().__init__(n_features, affine=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and x.shape[0] < 2:
            return nn.functional.batch_norm(x, self.running_mean, self.running_var,
                                            training=False, eps=self.eps)
        return super().forward(x)


class ChoirRecModel(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.items = ItemTower(cfg)
        self.group = GroupFeatures(cfg, self.items)
        if not cfg.dual_channel:  # w/o Dual-Channel: one tower sees everything
            self.ind = IndividualChannel(cfg, self.items, extra_in=self.group.out_dim)
            return
        self.ind = IndividualChannel(cfg, self.items)
        h1, h2 = cfg.hidden
        self.grp_layer1 = MLP(self.group.out_dim + self.items.out_dim, (h1,))
        self.grp_layer2 = MLP(h1, (h2,))
        self.grp_out = nn.Linear(h2, 1)
        self.inject = MLP(2 * h1, (h1,), h1) if cfg.asymmetric_injection else None
        self.reliability = MLP(cfg.n_activity_features, (16,), 2)
        self.reliability_norm = (ActivityNorm(cfg.n_activity_features)
                                 if cfg.reliability_input_norm else None)
        if not 0.0 < cfg.fusion_init_alpha < 1.0:
            raise ValueError(f"model.fusion_init_alpha={cfg.fusion_init_alpha}: α_fusion is a "
                             "sigmoid, so its starting value must lie strictly in (0, 1); "
                             "0.1 is the default")
        if cfg.channel_aux_weight < 0:
            raise ValueError(f"model.channel_aux_weight={cfg.channel_aux_weight}: a loss "
                             "weight must be >= 0 (0 turns the per-channel BCE off)")
        with torch.no_grad():  # the gate starts mostly closed: see ModelConfig.fusion_init_alpha
            self.reliability[-1].bias[0] = float(torch.logit(torch.tensor(cfg.fusion_init_alpha)))

    def forward(self, b: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        target = self.items(b["item_id"], b["category_id"])
        g = self.group(b, target)
        if not self.cfg.dual_channel:
            x = torch.cat([self.ind.features(b, target), g], -1)
            z = self.ind.out(self.ind.layer2(self.ind.layer1(x))).squeeze(-1)
            return {"logit": z, "z_ind": z}
        h_ind = self.ind.layer1(self.ind.features(b, target))
        h_grp = self.grp_layer1(torch.cat([g, target], -1))
        if self.inject is not None:  # eq. 6, stop-gradient on the group side
            h_ind = h_ind + self.inject(torch.cat([h_grp.detach(), h_ind], -1))
        z_ind = self.ind.out(self.ind.layer2(h_ind)).squeeze(-1)
        z_grp = self.grp_out(self.grp_layer2(h_grp)).squeeze(-1)
        act = b[self.cfg.activity_key]
        if self.reliability_norm is not None:
            act = self.reliability_norm(act)
        heads = torch.sigmoid(self.reliability(act))
        a_fusion, a_distill = heads[:, 0], heads[:, 1]
        z = (1 - a_fusion) * z_ind + a_fusion * z_grp  # eq. 10
        return {"logit": z, "z_ind": z_ind, "z_grp": z_grp, "alpha_fusion": a_fusion,
                "alpha_distill": a_distill}
