"""CVR models (§4.3.1, §4.4): shared layers, the DIN base model, the dual-channel ChoirRec,
the Table 1 baselines, and trained models on disk.

config.py            ModelConfig: sizes, one switch per component (Table 2), baseline settings
layers.py            feature embeddings (padding id 0), MLP blocks, masked DIN target attention
group_id_fusion.py   hierarchical group-ID fusion, eqs. 4-5
base.py              item tower, individual channel, the DIN base model
dual_channel.py      ChoirRec: group channel, asymmetric injection (eq. 6), fusion (eq. 10)
losses.py            margin / KL distillation, gates (eqs. 7-9), the objective (eq. 11)
poso.py, uie.py, melt.py, cold_transformer.py   the Table 1 baselines
registry.py          model kinds -> classes, the Table 2 ablations, model names
bundle.py            model.pt + model.json: a trained model on any pyarrow filesystem

Training (choirrec.training) and evaluation (choirrec.evaluation) build on these modules.
"""

from choirrec.lazy_exports import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "ModelConfig": "config", "DINModel": "base", "ChoirRecModel": "dual_channel",
    "HierarchicalGroupIdFusion": "group_id_fusion", "choirrec_loss": "losses",
    "MODELS": "registry", "ABLATIONS": "registry", "build_model": "registry",
    "model_name": "registry", "read_bundle": "bundle", "write_bundle": "bundle",
    "trained_models": "bundle",
})
__all__ = __dir__()
