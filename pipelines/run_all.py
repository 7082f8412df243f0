"""Every stage in order: prepare → profiles → embeddings → groups → priors → train → evaluate.

    python -m pipelines.run_all --config configs/demo.yaml --run-dir runs/demo
    ray job submit --working-dir . -- python -m pipelines.run_all --config configs/demo.yaml

Stages whose outputs are current are skipped (rerunning costs seconds); one progress line per
stage (time, rows, key figure), then a final table and where the outputs are.
"""

from __future__ import annotations

from choirrec.data.summary import format_summary
from choirrec.pipeline import format_results, format_stage_line, run_pipeline
from choirrec.run_dir import RunDir
from pipelines.cli import flag, seed_list, stage_main, str_list

FLAGS = [
    flag("--models", "eval.models", "models to train and evaluate (default: base,choirrec)",
         str_list),
    flag("--seeds", "train.seeds", "N seeds (0..N-1) or a comma list", seed_list),
    flag("--users", "data.synthetic.users", "users of the embedded world", int),
]


def main(argv: list[str] | None = None) -> list:
    def run(cfg, _force):
        run_dir = RunDir(cfg.run_dir)
        models = list(cfg.eval.models) or ["base", "choirrec"]
        print(f"run_all: {run_dir.uri}, models {models}, seeds {list(cfg.train.seeds)}",
              flush=True)
        def progress(r) -> None:
            print(format_stage_line(r), flush=True)
            if r.stage == "prepare" and r.status == "ran":  # the dataset at a glance, once
                print(format_summary(run_dir.read_json("data", "summary.json"),
                                     f"{cfg.data.dataset} -> {run_dir.uri}"), flush=True)

        results = run_pipeline(cfg, run_dir, models, progress=progress)
        print("\n" + format_results(results), flush=True)
        print(f"\noutputs in {run_dir.uri}: data/summary.json, groups/report.json, models/, "
              "eval/comparison.csv, eval/<model>/metrics.json, eval/plots/*.png", flush=True)
        return results
    return stage_main(__doc__, FLAGS, run, argv, force_flag=False, own_progress=True)


if __name__ == "__main__":
    main()
