"""Prepare a dataset into a run directory.

    python -m pipelines.prepare_data --dataset synthetic --users 20000 --seed 0 --run-dir runs/demo
    python -m pipelines.prepare_data --dataset taobao_userbehavior \\
        --input ../shared/data/taobao_userbehavior/head_84k --run-dir runs/taobao
    python -m pipelines.prepare_data --dataset choirrec_tsv \\
        --input ../shared/data/choirrec_reference --run-dir runs/reference
"""

from __future__ import annotations

import dataclasses

from choirrec.data.prepare import SOURCES, prepare_data
from choirrec.run_dir import RunDir
from pipelines.cli import flag, stage_main

FLAGS = [
    flag("--dataset", "data.dataset", "input format", choices=sorted(SOURCES)),
    flag("--input", "data.input", "raw input file or directory"),
    flag("--users", "data.synthetic.users", "synthetic: number of users", int),
    flag("--seed", "data.synthetic.seed", "synthetic: world seed", int),
    flag("--days", "data.synthetic.days", "synthetic: click-log days", int),
    flag("--block-size", "data.synthetic.block_size", "synthetic: users per Ray task", int),
    flag("--valid-days", "data.valid_days", "validation days", int),
    flag("--test-days", "data.test_days", "test days", int),
    flag("--tz-offset-hours", "data.tz_offset_hours", "day boundaries", float),
    flag("--attribution-window-hours", "data.attribution_window_hours",
         "max click->buy delay for a positive label (default: unlimited)", float),
    flag("--low-activity-share", "data.low_activity_share", "bottom share of users", float),
    flag("--max-malformed-share", "data.max_malformed_share",
         "fail above this share of malformed raw lines (a truncated last line is tolerated)",
         float),
]


def main(argv: list[str] | None = None) -> dict:
    def run(cfg, force):
        return prepare_data(dataclasses.replace(cfg.data, force=force or cfg.data.force),
                            RunDir(cfg.run_dir))

    return stage_main(__doc__, FLAGS, run, argv)


if __name__ == "__main__":
    main()
