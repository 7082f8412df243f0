"""The individual channel and the DIN base model (the baseline every figure is relative to).

Inputs (a dict of tensors, one row per sample):
  user_id (B), item_id (B), category_id (B), user_attrs (B, A) ids (0 = missing),
  hist_items / hist_cats (B, L) the user's training-window purchases before the sample (0 = pad),
  activity (B, F) activity features (log counts, attribute fill rate).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from choirrec.models.config import ModelConfig
from choirrec.models.layers import MLP, TargetAttention, embedding


class ItemTower(nn.Module):
    """The item representation, shared by both channels (§4.4.1): item id, category and,
    when the data has prices, the item's price-tier bucket.

    The price bucket is looked up from the item index through a buffer filled once from the
    feature store (:meth:`set_item_prices`) and saved with the weights, so candidates,
    purchase histories and group sequences all carry it without a per-batch input. Without
    it an item's price position is learnable only through its own id embedding (~25 clicks
    per item on the embedded world), and price fit is a third of that world's conversion
    signal (benchmarks/signal_headroom.py).
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.item = embedding(cfg.n_items + 1, cfg.dim)
        self.cat = embedding(cfg.n_categories + 1, cfg.dim)
        self.has_price = cfg.use_item_price and cfg.n_price_buckets > 0
        if self.has_price:
            self.price = embedding(cfg.n_price_buckets + 1, cfg.dim)
            self.register_buffer("item_price_bucket",
                                 torch.zeros(cfg.n_items + 1, dtype=torch.long))
        self.out_dim = (3 if self.has_price else 2) * cfg.dim

    def set_item_prices(self, buckets: np.ndarray) -> None:
        """Fill the item -> price-bucket table (``FeatureStore.item_price_bucket``)."""
        if self.has_price:
            if buckets.shape != self.item_price_bucket.shape:
                raise ValueError(f"price buckets for {buckets.shape[0] - 1} items; the model "
                                 f"has {self.item_price_bucket.shape[0] - 1}")
            self.item_price_bucket.copy_(torch.from_numpy(buckets))

    def forward(self, items: torch.Tensor, cats: torch.Tensor) -> torch.Tensor:
        parts = [self.item(items), self.cat(cats)]
        if self.has_price:
            parts.append(self.price(self.item_price_bucket[items]))
        return torch.cat(parts, dim=-1)


class AttributeEmbedding(nn.Module):
    def __init__(self, cardinalities: tuple[int, ...], dim: int):
        super().__init__()
        self.tables = nn.ModuleList(embedding(c + 1, dim) for c in cardinalities)
        self.out_dim = dim * len(cardinalities)

    def forward(self, attrs: torch.Tensor) -> torch.Tensor:
        if not self.tables:
            return attrs.new_zeros((attrs.shape[0], 0), dtype=torch.float32)
        return torch.cat([t(attrs[:, i]) for i, t in enumerate(self.tables)], dim=-1)


class IndividualChannel(nn.Module):
    """User id + attributes + DIN attention over purchases + candidate -> two MLP layers."""

    def __init__(self, cfg: ModelConfig, items: ItemTower, extra_in: int = 0):
        super().__init__()
        self.items = items
        self.user = embedding(cfg.n_users + 1, cfg.dim)
        self.attrs = AttributeEmbedding(cfg.attr_cardinalities, cfg.dim)
        self.att = TargetAttention(items.out_dim, cfg.attention_hidden, cfg.attention_pooling)
        d_in = cfg.dim + self.attrs.out_dim + 2 * items.out_dim + extra_in
        self.layer1 = MLP(d_in, (cfg.hidden[0],))
        self.layer2 = MLP(cfg.hidden[0], (cfg.hidden[1],))
        self.out = nn.Linear(cfg.hidden[1], 1)

    def features(self, b: dict[str, torch.Tensor], target: torch.Tensor) -> torch.Tensor:
        hist = self.items(b["hist_items"], b["hist_cats"])
        seq = self.att(hist, target, b["hist_items"] > 0)
        return torch.cat([self.user(b["user_id"]), self.attrs(b["user_attrs"]), seq, target], -1)


class DINModel(nn.Module):
    """``base``: the individual channel alone, a DIN CVR model."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.items = ItemTower(cfg)
        self.ind = IndividualChannel(cfg, self.items)

    def forward(self, b: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        target = self.items(b["item_id"], b["category_id"])
        h = self.ind.layer2(self.ind.layer1(self.ind.features(b, target)))
        z = self.ind.out(h).squeeze(-1)
        return {"logit": z, "z_ind": z}
