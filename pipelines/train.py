"""Train a CVR model on Ray Train: the DIN base model or ChoirRec (optionally a Table 2 ablation).

    python -m pipelines.train --run-dir runs/demo --model base
    python -m pipelines.train --run-dir runs/demo --model choirrec --seeds 0,1,2
    python -m pipelines.train --run-dir runs/demo --model choirrec --ablation no_group_seq
"""

from __future__ import annotations

from choirrec.models.registry import ABLATIONS, MODELS
from choirrec.run_dir import RunDir
from choirrec.training.stage import train_model
from pipelines.cli import boolean, flag, int_list, stage_main

FLAGS = [
    flag("--model", "train.model", "model to train", choices=MODELS),
    flag("--ablation", "train.ablation", "Table 2 variant of choirrec", choices=list(ABLATIONS)),
    flag("--seeds", "train.seeds", "comma-separated seeds, one model each", int_list),
    flag("--epochs", "train.epochs", "passes over the training samples", int),
    flag("--batch-size", "train.batch_size", "global batch size", int),
    flag("--lr-start", "train.lr_start", "Adagrad learning rate at the start", float),
    flag("--lr-end", "train.lr_end", "learning rate at the end", float),
    flag("--num-workers", "train.num_workers", "Ray Train workers", int),
    flag("--cpus-per-worker", "train.cpus_per_worker", "CPUs per worker", float),
    flag("--torch-threads", "train.torch_threads", "torch threads per worker (0: auto)", int),
    flag("--use-gpu", "train.use_gpu", "one GPU per worker", boolean),
    flag("--max-failures", "train.max_failures", "worker-group restarts", int),
    flag("--lambda-kd", "model.lambda_kd", "distillation weight λ (eq. 11)", float),
    flag("--margin", "model.margin", "margin m (eq. 7)", float),
    flag("--fusion-init-alpha", "model.fusion_init_alpha",
         "α_fusion at initialisation, in (0, 1)", float),
    flag("--group-attention-hidden", "model.group_attention_hidden",
         "hidden sizes of the group channel's attention MLP, e.g. 16 or 64,32", int_list),
    flag("--channel-aux-weight", "model.channel_aux_weight",
         "weight of each channel's own BCE (0: eq. 11 alone)", float),
    flag("--activity-as-of-sample", "model.activity_as_of_sample",
         "activity features counted before each sample (false: the data stage's counts, "
         "which include later training purchases)", boolean),
    flag("--reliability-input-norm", "model.reliability_input_norm",
         "standardise the fusion gate's activity inputs (batch norm, no affine)", boolean),
]


def main(argv: list[str] | None = None) -> dict:
    return stage_main(__doc__, FLAGS, lambda cfg, force: train_model(
        cfg, RunDir(cfg.run_dir), force=force), argv)


if __name__ == "__main__":
    main()
