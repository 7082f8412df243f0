"""Cold-Transformer baseline (Table 1): a transformer over fused positive and negative feedback.

Li et al., "Transform Cold-Start Users into Warm via Fused Behaviors in Large-Scale
Recommendation", SIGIR 2022 (doi:10.1145/3477495.3531797). A cold user's few positive
behaviours are complemented by their (more plentiful) negative feedback; both are fused into
one sequence, told apart by *label encoding* (a learned label embedding added to each token),
and a transformer turns the fused sequence into the user's context.

Ours: DIN's target attention is replaced by a transformer over
[candidate; purchases (positive); clicked-not-bought items (negative)]:
* positive feedback = the user's last ``hist_len`` purchases before the sample (as in base);
  negative feedback = the user's last ``hist_len`` first clicks before the sample whose item
  had not been bought before the sample's time (``neg_items`` from
  :class:`~choirrec.features.ClickHistory`; as of the sample, so no future purchase
  leaks in);
* token = item-tower embedding + label embedding (1 candidate, 2 positive, 3 negative) +
  recency embedding (slot within its own sub-sequence; 0 for the candidate);
* ``ct_layers`` (= 1) encoder layers, ``ct_heads`` (= 2) heads, feed-forward 2 × width,
  padding masked; the candidate token's output (a BST-style target token) takes the place of
  DIN's attention-pooled vector in the base model's tower (user id, attributes, candidate,
  two MLP layers).

Where ours simplifies the paper: negatives are clicks without a purchase (the CVR analogue of
the paper's exposures without a click — our logs have no impressions); no Embedding
Adaptation layer (the paper warms the user embedding with the fused-sequence context); and no
two-tower split — the candidate sits in the sequence, as in the CVR base model it is compared
with.
Hyperparameters: ``ModelConfig.ct_layers``, ``ct_heads`` and ``ct_max_len``.
"""

from __future__ import annotations

import torch
from torch import nn

from choirrec.models.base import AttributeEmbedding, ItemTower
from choirrec.models.config import ModelConfig
from choirrec.models.layers import MLP, embedding

TARGET, POSITIVE, NEGATIVE = 1, 2, 3  # label encoding ids (0 = padding)


class FusedBehaviorEncoder(nn.Module):
    """Transformer over [candidate; positives; negatives] with label + recency encodings."""

    def __init__(self, dim: int, max_len: int, layers: int, heads: int):
        super().__init__()
        self.label = embedding(4, dim)
        self.recency = embedding(max_len + 1, dim)
        layer = nn.TransformerEncoderLayer(dim, heads, dim_feedforward=2 * dim, dropout=0.0,
                                           batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)

    def forward(self, target: torch.Tensor, pos: torch.Tensor, pos_mask: torch.Tensor,
                neg: torch.Tensor, neg_mask: torch.Tensor) -> torch.Tensor:
        """target (B, D); pos / neg (B, L, D) right-aligned, masks True at real tokens."""
        b, length, _ = pos.shape
        slots = torch.arange(length, 0, -1, device=pos.device).expand(b, length)  # L … 1
        zero = torch.zeros(b, 1, dtype=torch.long, device=pos.device)
        labels = torch.cat([zero + TARGET, pos_mask.long() * POSITIVE,
                            neg_mask.long() * NEGATIVE], 1)
        recency = torch.cat([zero, slots * pos_mask, slots * neg_mask], 1)
        tokens = torch.cat([target.unsqueeze(1), pos, neg], 1)
        tokens = tokens + self.label(labels) + self.recency(recency)
        valid = torch.cat([zero == 0, pos_mask, neg_mask], 1)
        return self.encoder(tokens, src_key_padding_mask=~valid)[:, 0]


class ColdTransformerModel(nn.Module):
    """``cold_transformer``: the base tower with the fused-behaviour transformer for DIN."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.items = ItemTower(cfg)
        d = self.items.out_dim
        self.user = embedding(cfg.n_users + 1, cfg.dim)
        self.attrs = AttributeEmbedding(cfg.attr_cardinalities, cfg.dim)
        self.fused = FusedBehaviorEncoder(d, cfg.ct_max_len, cfg.ct_layers, cfg.ct_heads)
        self.layer1 = MLP(cfg.dim + self.attrs.out_dim + 2 * d, (cfg.hidden[0],))
        self.layer2 = MLP(cfg.hidden[0], (cfg.hidden[1],))
        self.out = nn.Linear(cfg.hidden[1], 1)

    def forward(self, b: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        if "neg_items" not in b:
            raise KeyError("cold_transformer needs the negative-feedback history (neg_items): "
                           "build the feature store with clicks (load_feature_store(..., "
                           "with_negatives=True), the default)")
        target = self.items(b["item_id"], b["category_id"])
        seq = self.fused(target,
                         self.items(b["hist_items"], b["hist_cats"]), b["hist_items"] > 0,
                         self.items(b["neg_items"], b["neg_cats"]), b["neg_items"] > 0)
        x = torch.cat([self.user(b["user_id"]), self.attrs(b["user_attrs"]), seq, target], -1)
        z = self.out(self.layer2(self.layer1(x))).squeeze(-1)
        return {"logit": z, "z_ind": z}
