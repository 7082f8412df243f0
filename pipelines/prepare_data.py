"""Prepare a dataset into a run directory.

    python -m pipelines.prepare_data --dataset synthetic --users 20000 --seed 0 --run-dir runs/demo
    python -m pipelines.prepare_data --dataset taobao_userbehavior \\
        --input ../shared/data/taobao_userbehavior/head_84k --run-dir runs/taobao
    python -m pipelines.prepare_data --dataset choirrec_tsv \\
        --input ../shared/data/choirrec_reference --run-dir runs/reference
"""

from __future__ import annotations

from choirrec.data.prepare import SOURCES, prepare_data
from choirrec.run_dir import RunDir
from pipelines.cli import base_parser, config_from_args, connect, setup_logging

FLAGS = {  # argparse dest -> config field
    "dataset": "data.dataset",
    "input": "data.input",
    "users": "data.synthetic.users",
    "seed": "data.synthetic.seed",
    "days": "data.synthetic.days",
    "block_size": "data.synthetic.block_size",
    "valid_days": "data.valid_days",
    "test_days": "data.test_days",
    "tz_offset_hours": "data.tz_offset_hours",
    "attribution_window_hours": "data.attribution_window_hours",
    "low_activity_share": "data.low_activity_share",
    "force": "data.force",
}


def main(argv: list[str] | None = None) -> dict:
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--dataset", choices=sorted(SOURCES), help="data.dataset")
    p.add_argument("--input", help="raw input file or directory (data.input)")
    p.add_argument("--users", type=int, help="synthetic: number of users (data.synthetic.users)")
    p.add_argument("--seed", type=int, help="synthetic: world seed (data.synthetic.seed)")
    p.add_argument("--days", type=int, help="synthetic: click-log days (data.synthetic.days)")
    p.add_argument("--block-size", type=int, help="synthetic: users per Ray task")
    p.add_argument("--valid-days", type=int, help="data.valid_days")
    p.add_argument("--test-days", type=int, help="data.test_days")
    p.add_argument("--tz-offset-hours", type=float, help="day boundaries (data.tz_offset_hours)")
    p.add_argument("--attribution-window-hours", type=float,
                   help="max click->buy delay for a positive label (default: unlimited)")
    p.add_argument("--low-activity-share", type=float, help="data.low_activity_share")
    p.add_argument("--force", action="store_true", default=None,
                   help="recompute even if the output is current")
    args = p.parse_args(argv)
    setup_logging()
    cfg = config_from_args(args, FLAGS)
    connect(cfg.ray)
    return prepare_data(cfg.data, RunDir(cfg.run_dir))


if __name__ == "__main__":
    main()
