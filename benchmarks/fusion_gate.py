"""Where should ChoirRec's fusion gate be, per activity level, and where is it?

    python -m benchmarks.fusion_gate --run-dir runs/demo                 # after `make demo`
    python -m benchmarks.fusion_gate --run-dir runs/demo --splits valid,test

For every trained seed of ``--model`` (default choirrec): score the split in-process, keep
both channels' logits, and report per activity level (the evaluation's quintiles) the GAUC
of z_ind alone, z_grp alone and the fused logit, the mean α_fusion the gate gave, and the
constant α that minimises the level's log loss in hindsight (choirrec/evaluation/
fusion_gate.py). Mean ± std over seeds. Prints JSON and a table.
"""

from __future__ import annotations

import argparse
import json
import time

from choirrec.diagnostics.fusion_gate import gate_report
from choirrec.evaluation.report import aggregate
from choirrec.features import load_feature_store
from choirrec.models.bundle import feature_run_dir, read_bundle, trained_models
from choirrec.run_dir import RunDir
from choirrec.segments import sample_levels
from choirrec.training.loop import predict

COLUMNS = ("gauc_ind", "gauc_grp", "gauc_fused", "alpha_learned", "alpha_best",
           "gauc_at_alpha_best")


def seed_reports(run: RunDir, model: str, split: str) -> dict[int, dict]:
    """{seed: gate_report} for every ``models/<model>/seed_*`` of the run."""
    seeds = sorted(trained_models(run).get(model, {}))
    if not seeds:
        raise SystemExit(f"{run.uri}: no models/{model}/seed_*; run `python -m pipelines.train "
                         f"--run-dir {run.uri} --model {model}` first")
    samples = run.read_table("data", "samples", split)
    act = run.read_table("data", "user_activity")
    users = samples.column("user_id").to_numpy()
    levels = sample_levels(users, *(act.column(c).to_numpy()
                                    for c in ("user_id", "n_buy", "n_click")))
    stores: dict[tuple, object] = {}
    out = {}
    for seed in seeds:
        net, spec = read_bundle(run.fs, run.path("models", model, f"seed_{seed}"))
        if spec["kind"] != "choirrec" or not spec["model_config"].get("dual_channel", True):
            raise SystemExit(f"models/{model} is a {spec['kind']} model without two channels; "
                             "the fusion gate exists only in the dual-channel ChoirRec")
        key = (spec["feature_run"], int(spec["train_config"]["hist_len"]))
        if key not in stores:
            stores[key] = load_feature_store(feature_run_dir(run, spec), key[1],
                                             with_priors=True)
        pred = predict(net, samples, stores[key])
        out[seed] = gate_report(pred["z_ind"], pred["z_grp"], pred["alpha_fusion"],
                                pred["label"], users, levels)
    return out


def summarise(per_seed: dict[int, dict]) -> dict[str, dict]:
    """Per segment, mean and std over seeds of every figure (the evaluation's aggregation;
    the per-seed copies it keeps are left out of the printed JSON)."""
    segments = next(iter(per_seed.values()))
    res = {}
    for seg in segments:
        agg = aggregate({s: r[seg] for s, r in per_seed.items()})
        agg.pop("per_seed")
        res[seg] = agg
    return res


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run-dir", default="runs/demo")
    p.add_argument("--model", default="choirrec", help="a trained dual-channel model")
    p.add_argument("--splits", default="test", help="comma-separated: valid,test")
    a = p.parse_args(argv)
    run = RunDir(a.run_dir)
    t0 = time.time()
    result: dict = {"run_dir": a.run_dir, "model": a.model, "splits": {}}
    for split in a.splits.split(","):
        per_seed = seed_reports(run, a.model, split)
        result["splits"][split] = {"seeds": sorted(per_seed), **summarise(per_seed)}
    result["seconds"] = round(time.time() - t0, 1)
    print(json.dumps(result))
    for split, r in result["splits"].items():
        print(f"\n{a.model}, {split} day, mean over seeds {r['seeds']}")
        print(f"{'segment':<9}{'users':>6}" + "".join(f"{c:>20}" for c in COLUMNS))
        for seg in ("all", *(f"level_{k}" for k in range(1, 6))):
            row = r[seg]
            cells = "".join(f"{row[c]:>12.4f} ±{row[c + '_std']:.3f}" for c in COLUMNS)
            print(f"{seg:<9}{int(row['n_users_gauc']):>6}{cells}")
    return result


if __name__ == "__main__":
    main()
