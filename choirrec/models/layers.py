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

    The first layer is evaluated in an equivalent, cheaper form: with W = [W_h, W_q, W_d, W_p],
    W·[h, q, h - q, h⊙q] = (W_h + W_d)·h + (W_q - W_d)·q + W_p·(h⊙q), so the query term is
    computed once per row instead of once per position and the (B, L, 4D) input is never built
    (half the first layer's multiply-adds; the parameters, and so checkpoints, are unchanged).
    Positions that are padding in every row of the batch are dropped first: their weight is
    masked to exactly zero, so the output is the same. Measured: the attention module alone
    ~1.6x faster (800 rows x 20 positions); the whole in-process scorer 2.9 -> 2.6 ms per
    100-candidate request (docs/serving.md), since the rest of the attention MLP remains.
    """

    def __init__(self, dim: int, hidden: tuple[int, ...] = (64, 32), pooling: str = "sum"):
        super().__init__()
        if pooling not in ("sum", "mean"):
            raise ValueError(f"attention pooling {pooling!r}: use 'sum' or 'mean'")
        self.score = MLP(4 * dim, hidden, 1, activation=nn.Sigmoid)
        self.pooling = pooling

    def forward(self, seq: torch.Tensor, query: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        # seq (B, L, D), query (B, D), mask (B, L) bool: True at real positions
        keep = mask.any(0)
        if not bool(keep.all()):
            seq, mask = seq[:, keep], mask[:, keep]
        first, rest = self.score[0], list(self.score)[1:]
        w_h, w_q, w_d, w_p = first.weight.split(seq.shape[-1], dim=1)
        x = torch.cat([seq, seq * query.unsqueeze(1)], -1) @ torch.cat([w_h + w_d, w_p], 1).T
        x = x + nn.functional.linear(query, w_q - w_d, first.bias).unsqueeze(1)
        for layer in rest:
            x = layer(x)
        w = x.squeeze(-1).masked_fill(~mask, 0.0)
        return self._pool(torch.bmm(w.unsqueeze(1), seq).squeeze(1), mask)

    def _pool(self, summed: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if self.pooling == "sum":
            return summed
        return summed / mask.sum(1, keepdim=True).clamp(min=1).to(summed.dtype)

    def reference(self, seq: torch.Tensor, query: torch.Tensor, mask: torch.Tensor
                  ) -> torch.Tensor:
        """The textbook form (the (B, L, 4D) concatenation); kept as the test oracle."""
        q = query.unsqueeze(1).expand_as(seq)
        w = self.score(torch.cat([seq, q, seq - q, seq * q], dim=-1)).squeeze(-1)
        w = w.masked_fill(~mask, 0.0)
        return self._pool(torch.bmm(w.unsqueeze(1), seq).squeeze(1), mask)
