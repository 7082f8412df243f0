"""Model configuration: sizes, one switch per ChoirRec component (Table 2 ablations), and
the Table 1 baselines' hyperparameters."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any


@dataclass
class ModelConfig:
    # vocabularies (filled from the data; id 0 = padding / missing)
    n_users: int = 1
    n_items: int = 1
    n_categories: int = 1
    attr_cardinalities: tuple[int, ...] = ()  # one per discrete user attribute
    n_levels: int = 3  # M
    n_clusters: int = 256  # K
    n_activity_features: int = 3
    n_price_buckets: int = 0  # item price-tier buckets (0: the data has no prices)
    # sizes
    dim: int = 16
    hidden: tuple[int, int] = (128, 64)  # the two tower layers; injection enters the second
    attention_hidden: tuple[int, ...] = (64, 32)
    # The group channel's DIN scoring MLP over S_G (None: attention_hidden, as in the
    # individual channel). S_G is always full (30 items) while most histories are short, so
    # this attention was ChoirRec's largest extra training cost; one 16-unit layer ran ~20%
    # faster and matched (64, 32) on GAUC over 3 seeds (docs/models.md). The paper gives
    # no attention sizes.
    group_attention_hidden: tuple[int, ...] | None = (16,)
    # item price bucket as an item feature (shared by candidates, histories, group sequences)
    use_item_price: bool = True
    # DIN pooling of attention-weighted behaviours: "sum" (DIN's unnormalised weights) or
    # "mean" (the same weights divided by the number of real positions). "mean" is the
    # default: with "sum" a 20-item history's vector is ~20x a 1-item one's; "mean" scored
    # a little higher and spread less across seeds on the embedded world (docs/models.md).
    attention_pooling: str = "mean"
    # Activity features (reliability network, POSO, θ_act) counted strictly before each
    # sample. False: the data stage's counts up to the validation day, which include the
    # training window's later purchases — the labels (kept to measure that leak; bundles
    # trained before 2026-11-30 read False).
    activity_as_of_sample: bool = True
    # ChoirRec components — each ablation of Table 2 is one switch
    use_group_id: bool = True  # w/o ID Emb.
    use_group_attrs: bool = True  # w/o Attr. Emb.
    use_group_seq: bool = True  # w/o Seq. Emb.
    dual_channel: bool = True  # w/o Dual-Channel: group features concatenated into one tower
    gated_distillation: bool = True  # w/o Gated Distillation: no distillation term
    asymmetric_injection: bool = True  # w/o Asymmetric Injection
    distill_loss: str = "margin"  # "kl": w/ KL Loss
    margin: float = 0.05  # m (eq. 7); 0 is "w/o Margin"
    temperature: float = 2.0  # T (eq. 7)
    theta_act: float = 5.0  # qualification: |S_u^buy| >= theta_act
    theta_conf: float = 0.2  # qualification: |sigmoid(z_ind) - 0.5| > theta_conf
    lambda_kd: float = 0.005  # λ (eq. 11)
    reliability_aux_weight: float = 0.1  # trains the α_distill head on teacher correctness
    # Fusion dynamics (the paper is silent; docs/models.md has the measurements).
    # α_fusion at initialisation (the bias of its head): 0.1 lets the individual channel lead
    # and the gate open where the group channel helps; 0.5 (an unbiased head) let the two
    # channels compete from the start and ChoirRec trailed base on 3 seeds of 3.
    fusion_init_alpha: float = 0.1
    # weight of a BCE on z_ind and one on z_grp alone, added to eq. 11 (0 = the paper's loss)
    channel_aux_weight: float = 0.0
    # standardise the reliability network's inputs (batch statistics in training, running
    # ones when scoring) so the gate's level and its per-activity slope learn at comparable
    # rates: raw log counts (0-7) next to a fill rate (0-1) let Adagrad move α mostly along
    # the count-weighted paths (docs/models.md, "How the fusion gate learns")
    reliability_input_norm: bool = False
    # Table 1 baselines (docs/baselines.md); read only by their own model
    poso_c: float = 2.0  # POSO: the gate's range [0, C]
    poso_gate_hidden: int = 16  # POSO: hidden units of each gate network
    uie_clusters: int = 64  # UIE: interest centroids in the memory
    uie_decay: float = 0.99  # UIE: EMA decay of the centroids
    melt_long: int = 10  # MELT: purchases that make a user "long-tail free" (teacher side)
    melt_weight: float = 1.0  # MELT: weight of the transfer loss
    ct_layers: int = 1  # Cold-Transformer: encoder layers over the fused behaviours
    ct_heads: int = 2  # Cold-Transformer: attention heads
    ct_max_len: int = 512  # Cold-Transformer: recency slots (covers any history length)

    @property
    def activity_key(self) -> str:
        """The batch key of the activity features this model reads."""
        return "activity" if self.activity_as_of_sample else "activity_static"

    @property
    def n_buy_key(self) -> str:
        """The batch key of the purchase count the qualification gate (θ_act) reads."""
        return "n_buy" if self.activity_as_of_sample else "n_buy_static"


# The baselines' fields once lived in a free-form ``extra`` dict (empty by default). Stage
# fingerprints still see them that way, so models trained before they became typed fields
# stay current: a field at its default is left out, one set elsewhere goes into ``extra``.
BASELINE_FIELDS = ("poso_c", "poso_gate_hidden", "uie_clusters", "uie_decay", "melt_long",
                   "melt_weight", "ct_layers", "ct_heads", "ct_max_len")


def fingerprint_fields(cfg: ModelConfig) -> dict[str, Any]:
    """``cfg`` as a dict for stage fingerprints (the layout models were fingerprinted with)."""
    d = dataclasses.asdict(cfg)
    defaults = ModelConfig()
    d["extra"] = {k: d[k] for k in BASELINE_FIELDS if d[k] != getattr(defaults, k)}
    for k in BASELINE_FIELDS:
        del d[k]
    return d


def from_legacy_extra(raw: dict[str, Any], where: str) -> dict[str, Any]:
    """A saved ``model_config`` dict with the old ``extra`` dict merged into typed fields."""
    raw = dict(raw)
    extra = raw.pop("extra", None) or {}
    unknown = sorted(set(extra) - set(BASELINE_FIELDS))
    if unknown:
        raise ValueError(f"{where}: model_config.extra holds {unknown}, which no model reads; "
                         f"known baseline settings: {', '.join(BASELINE_FIELDS)}")
    return {**raw, **extra}
