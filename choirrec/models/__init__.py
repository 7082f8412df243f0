"""CVR models (§4.3.1, §4.4): shared layers, the DIN base model, the dual-channel ChoirRec.

config.py            ModelConfig: sizes and one switch per component (Table 2 ablations)
layers.py            feature embeddings (padding id 0), MLP blocks, masked DIN target attention
group_id_fusion.py   hierarchical group-ID fusion, eqs. 4-5
base.py              item tower, individual channel, the DIN base model
dual_channel.py      ChoirRec: group channel, asymmetric injection (eq. 6), fusion (eq. 10)
losses.py            margin / KL distillation, gates (eqs. 7-9), the objective (eq. 11)

Training (choirrec.training) and evaluation (choirrec.evaluation) build on these modules.
"""
