"""MELT baseline (Table 1), user branch: transfer from long-history to short-history users.

Kim et al., "MELT: Mutual Enhancement of Long-Tailed User and Item for Sequential
Recommendation", SIGIR 2023 (doi:10.1145/3539618.3591725). MELT's user branch learns, on head
users, a function that maps the representation a user gets from a *truncated* history to the
representation the same user gets from the full one, and applies it to tail users, whose
short histories are all they have.

Ours:
* the user's history representation r(S) is the base model's DIN attention output over the
  purchase history S (for the sample's candidate item);
* "long" rows have at least ``melt_long`` (= 10) purchases before the sample; every other row
  is a short-history (tail) row;
* transfer T(r) = r + MLP(r) (one hidden layer of the representation's width);
* training: for each long row, a random-length suffix S' (1 … ``melt_long`` − 1 most recent
  purchases) stands in for a tail user's history, and
  L_melt = mean over long rows of ‖T(r(S')) − sg(r(S))‖² / d; rows that are not long
  contribute nothing. r(S') is computed without gradient, so L_melt trains T only. The model
  returns ``weight · L_melt`` as ``aux_loss`` (``melt_weight`` = 1), which the training loop
  adds to the BCE;
* inference and the CVR loss: short rows use T(r(S)), long rows r(S).

Where ours simplifies the paper: the user branch only (no item branch, no mutual
enhancement between the two), no curriculum between the branches, a fixed activity threshold
on the visible history instead of the paper's Pareto head/tail split, and an MLP transfer on
DIN's pooled vector instead of MELT's sequence-encoder (SASRec) representations.
Hyperparameters: ``ModelConfig.melt_long`` and ``ModelConfig.melt_weight``.
"""

from __future__ import annotations

import torch
from torch import nn

from choirrec.models.base import IndividualChannel, ItemTower
from choirrec.models.config import ModelConfig
from choirrec.models.layers import MLP


class MELTModel(nn.Module):
    """``melt``: DIN base model with MELT's user-branch transfer for short histories."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.long = cfg.melt_long
        self.weight = cfg.melt_weight
        self.items = ItemTower(cfg)
        self.ind = IndividualChannel(cfg, self.items)
        d = self.items.out_dim
        self.transfer = MLP(d, (d,), d)

    def transform(self, r: torch.Tensor) -> torch.Tensor:
        """T(r) = r + MLP(r): the short-history representation moved toward a long one."""
        return r + self.transfer(r)

    def forward(self, b: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        target = self.items(b["item_id"], b["category_id"])
        hist = self.items(b["hist_items"], b["hist_cats"])
        mask = b["hist_items"] > 0
        long_rows = mask.sum(1) >= min(self.long, mask.shape[1])
        r = self.ind.att(hist, target, mask)
        r_used = torch.where(long_rows[:, None], r, self.transform(r))
        x = torch.cat([self.ind.user(b["user_id"]), self.ind.attrs(b["user_attrs"]), r_used,
                       target], -1)
        z = self.ind.out(self.ind.layer2(self.ind.layer1(x))).squeeze(-1)
        out = {"logit": z, "z_ind": z}
        if self.training:
            out["aux_loss"] = self.weight * self.transfer_loss(hist, target, mask, r, long_rows)
        return out

    def transfer_loss(self, hist: torch.Tensor, target: torch.Tensor, mask: torch.Tensor,
                      r_full: torch.Tensor, long_rows: torch.Tensor) -> torch.Tensor:
        """Mean over long rows of ‖T(r(random recent suffix)) − sg(r(full history))‖² / d."""
        n, length = mask.shape
        keep = torch.randint(1, max(2, min(self.long, length)), (n,), device=mask.device)
        # histories are right-aligned (most recent last), so a suffix is the last `keep` slots
        suffix = torch.arange(length, device=mask.device)[None, :] >= length - keep[:, None]
        with torch.no_grad():
            r_short = self.ind.att(hist, target, mask & suffix)
        per = ((self.transform(r_short) - r_full.detach()) ** 2).mean(-1)
        w = long_rows.to(per.dtype)
        return (per * w).sum() / w.sum().clamp(min=1.0)
