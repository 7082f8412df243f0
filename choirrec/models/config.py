"""Model configuration: sizes, and one switch per ChoirRec component (Table 2 ablations)."""

from __future__ import annotations

from dataclasses import dataclass, field


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
    extra: dict = field(default_factory=dict)

    @property
    def activity_key(self) -> str:
        """The batch key of the activity features this model reads."""
        return "activity" if self.activity_as_of_sample else "activity_static"

    @property
    def n_buy_key(self) -> str:
        """The batch key of the purchase count the qualification gate (θ_act) reads."""
        return "n_buy" if self.activity_as_of_sample else "n_buy_static"
