"""UIE baseline (Table 1): user interest enhancement from a memory of user-cluster centroids.

Liu et al., "Enhancing User Interest based on Stream Clustering and Memory Networks in
Large-Scale Recommender Systems", arXiv:2405.13238 (2024; later versions "Dynamic User
Interest Augmentation …", DUIA). UIE clusters user representations as training streams,
keeps the cluster centres in a memory network, and enhances each user — above all one with
sparse behaviour — with the centre of the users it resembles.

Ours (the user-profile enhancement, "UPE"):
* user representation u = W·[attribute embeddings; mean-pooled purchase-history embedding]
  (the user-side features, without the user-id embedding, which carries nothing another user
  could share), trained by the CTR loss because u itself enters the tower;
* memory: K centroids (``uie_clusters`` = 64) of the L2-normalised u, a non-trainable buffer;
  each user is assigned to its nearest centroid by inner product;
* stream clustering by EMA: in training mode, with no gradient, each centroid that received
  users in the batch moves to ``d·c_k + (1 − d)·mean(assigned û)`` (``uie_decay`` d = 0.99);
  the memory is seeded from the first training batch's users;
* the retrieved centroid is concatenated to the user representation: the individual tower's
  input becomes [DIN features; u; c_{k(u)}].

Where ours simplifies the paper: one memory over one user representation (the paper has
several clustering perspectives, personalised enhancement vectors, the behaviour-sequence
enhancement and an item-side memory); hard top-1 retrieval instead of a filtered set of close
centroids; EMA (k-means-style) centroid updates instead of the paper's stream clustering /
gradient-based hierarchical clustering (GHCA); no re-seeding of empty clusters. Under DDP the
memory is a buffer, so rank 0's copy is broadcast at every forward.
Hyperparameters: ``ModelConfig.uie_clusters`` and ``ModelConfig.uie_decay``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from choirrec.models.base import IndividualChannel, ItemTower
from choirrec.models.config import ModelConfig


class CentroidMemory(nn.Module):
    """K centroids on the unit sphere, updated by EMA of the representations assigned to them."""

    def __init__(self, n_clusters: int, dim: int, decay: float):
        super().__init__()
        self.decay = decay
        self.register_buffer("centroids", torch.zeros(n_clusters, dim))
        self.register_buffer("initialised", torch.zeros((), dtype=torch.bool))

    def assign(self, reps: torch.Tensor) -> torch.Tensor:
        """Index of each row's nearest centroid (largest inner product)."""
        return (reps @ self.centroids.T).argmax(-1)

    @torch.no_grad()
    def update(self, reps: torch.Tensor, idx: torch.Tensor) -> None:
        """c_k <- d·c_k + (1 − d)·mean(reps assigned to k), for every k assigned in the batch."""
        k = self.centroids.shape[0]
        counts = torch.bincount(idx, minlength=k).to(reps.dtype)
        sums = torch.zeros_like(self.centroids).index_add_(0, idx, reps)
        hit = counts > 0
        means = sums[hit] / counts[hit, None]
        self.centroids[hit] = self.decay * self.centroids[hit] + (1 - self.decay) * means

    @torch.no_grad()
    def seed(self, reps: torch.Tensor) -> None:
        """The first batch's users as initial centroids (with replacement if fewer than K)."""
        k = self.centroids.shape[0]
        pick = (torch.randperm(reps.shape[0])[:k] if reps.shape[0] >= k
                else torch.randint(reps.shape[0], (k,)))
        self.centroids.copy_(reps[pick])
        self.initialised.fill_(True)

    def forward(self, reps: torch.Tensor) -> torch.Tensor:
        """Retrieve each row's centroid; in training mode update the memory first."""
        reps = reps.detach()
        if self.training and not bool(self.initialised):
            self.seed(reps)
        idx = self.assign(reps)
        if self.training:
            self.update(reps, idx)
        return self.centroids[idx]


class UIEModel(nn.Module):
    """``uie``: DIN base model whose tower also sees [u; retrieved centroid of u]."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        k = cfg.uie_clusters
        decay = cfg.uie_decay
        self.items = ItemTower(cfg)
        rep_dim = self.items.out_dim
        self.ind = IndividualChannel(cfg, self.items, extra_in=2 * rep_dim)
        self.rep = nn.Linear(self.ind.attrs.out_dim + self.items.out_dim, rep_dim)
        self.memory = CentroidMemory(k, rep_dim, decay)

    def user_rep(self, b: dict[str, torch.Tensor]) -> torch.Tensor:
        """u = W·[attributes; mean of the purchase-history embeddings] (zero if no history)."""
        mask = (b["hist_items"] > 0).unsqueeze(-1).float()
        hist = self.items(b["hist_items"], b["hist_cats"])
        mean = (hist * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        return self.rep(torch.cat([self.ind.attrs(b["user_attrs"]), mean], -1))

    def forward(self, b: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        target = self.items(b["item_id"], b["category_id"])
        u = self.user_rep(b)
        c = self.memory(F.normalize(u, dim=-1))
        x = torch.cat([self.ind.features(b, target), u, c], -1)
        z = self.ind.out(self.ind.layer2(self.ind.layer1(x))).squeeze(-1)
        return {"logit": z, "z_ind": z}
