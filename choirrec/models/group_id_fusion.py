"""Hierarchical group-ID fusion (§4.3.1, eqs. 4-5).

e_base^l = E^l[id^l]                                   (eq. 4, a codebook per level)
e_fuse^1 = e_base^1,  e_fuse^l = tanh(W^l [e_fuse^{l-1}; e_base^l] + b^l)   (eq. 5)
e_G = L2norm(MLP([e_fuse^1; ...; e_fuse^M]))           (final aggregation)

Each level's representation carries its coarser parents' context, so two users who share
only g1 are close, and ones sharing (g1, g2) closer still.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from choirrec.models.layers import MLP, embedding


class HierarchicalGroupIdFusion(nn.Module):
    def __init__(self, n_levels: int, n_clusters: int, dim: int, out_dim: int,
                 hidden: tuple[int, ...] = (64,)):
        super().__init__()
        # ids are shifted by one so that 0 stays "unknown group" (e.g. a cold user)
        self.base = nn.ModuleList(embedding(n_clusters + 1, dim) for _ in range(n_levels))
        self.fuse = nn.ModuleList(nn.Linear(2 * dim, dim) for _ in range(n_levels - 1))
        self.head = MLP(n_levels * dim, hidden, out_dim)

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        """``codes`` (B, M) in [0, K), or -1 for unknown -> (B, out_dim), unit L2 norm."""
        ids = codes.long() + 1
        fused = [self.base[0](ids[:, 0])]
        for lv in range(1, ids.shape[1]):
            e = self.base[lv](ids[:, lv])
            fused.append(torch.tanh(self.fuse[lv - 1](torch.cat([fused[-1], e], dim=-1))))
        return F.normalize(self.head(torch.cat(fused, dim=-1)), dim=-1)
