"""Building blocks shared by every model: embeddings, MLPs, DIN target attention.

Id 0 is padding everywhere (sequences) and "missing / out of vocabulary" for categorical
features, so an unknown item or a missing attribute embeds to a learned-free zero vector.
"""

from __future__ import annotations

import torch
from torch import nn


class MLP(nn.Sequential):
    """Linear -> activation (-> dropout) blocks; the last layer is linear if ``out_dim``."""

    def __init__(self, in_dim: int, hidden: tuple[int, ...], out_dim: int | None = None,
                 dropout: float = 0.0, activation: type[nn.Module] = nn.ReLU):
        layers: list[nn.Module] = []
        d = in_dim
        for h in hidden:
            layers += [nn.Linear(d, h), activation()]
            if dropout:
                layers.append(nn.Dropout(dropout))
            d = h
        if out_dim is not None:
            layers.append(nn.Linear(d, out_dim))
        super().__init__(*layers)
        self.out_dim = out_dim if out_dim is not None else d


def embedding(num: int, dim: int) -> nn.Embedding:
    """An embedding table whose row 0 (padding / missing) stays zero."""
    emb = nn.Embedding(num, dim, padding_idx=0)
    nn.init.normal_(emb.weight, std=0.05)
    with torch.no_grad():
        emb.weight[0].zero_()
    return emb


class TargetAttention(nn.Module):
    """DIN's local activation unit over a behaviour sequence, masked at padding (id 0).

    score_j = MLP([h_j, q, h_j - q, h_j * q]); output = sum_j score_j * h_j over valid j
    (DIN uses unnormalised weights; we keep that, so an empty history gives a zero vector).
    """

    def __init__(self, dim: int, hidden: tuple[int, ...] = (64, 32)):
        super().__init__()
        self.score = MLP(4 * dim, hidden, 1, activation=nn.Sigmoid)

    def forward(self, seq: torch.Tensor, query: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        # seq (B, L, D), query (B, D), mask (B, L) bool: True at real positions
        q = query.unsqueeze(1).expand_as(seq)
        w = self.score(torch.cat([seq, q, seq - q, seq * q], dim=-1)).squeeze(-1)
        w = w.masked_fill(~mask, 0.0)
        return torch.bmm(w.unsqueeze(1), seq).squeeze(1)
