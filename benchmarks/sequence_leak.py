"""Do the group sequence or the activity counts separate labels on the training days more than on the test day?

    python -m benchmarks.sequence_leak --run-dir runs/demo
    python -m benchmarks.sequence_leak --run-dir runs/taobao

For each split: the share of positive and of negative samples whose candidate item is in
the group sequence the model reads for that sample (choirrec/diagnostics/leakage.py). A
train lift far above the test lift means the feature leaks training labels (docs/groups.md).
Then the positive rate per purchase-count bin, with the data stage's counts and with counts
as of each sample (the activity features, docs/models.md). Prints JSON and tables.
"""

from __future__ import annotations

import argparse
import json

from choirrec.diagnostics.leakage import activity_label_rates, hit_rates
from choirrec.features import load_feature_store
from choirrec.run_dir import RunDir


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run-dir", required=True, help="a run directory with data/ and priors/")
    a = p.parse_args(argv)
    run = RunDir(a.run_dir)
    m = run.require("priors", "run `python -m pipelines.build_priors` first")
    store = load_feature_store(run, with_priors=True)
    splits = {s: run.read_table("data", "samples", s) for s in ("train", "valid", "test")}
    out = {"run_dir": a.run_dir, "sequence_snapshots": m.get("sequence_snapshots", 1),
           "splits": {s: hit_rates(store, t) for s, t in splits.items()},
           "activity": {s: activity_label_rates(store, t) for s, t in splits.items()}}
    print(json.dumps(out))
    print(f"{'split':<6} {'positives':>10} {'negatives':>10} {'lift':>6}   "
          f"(share of samples whose item is in the group sequence; "
          f"{out['sequence_snapshots']} snapshot(s))")
    for s, r in out["splits"].items():
        print(f"{s:<6} {r['positives']:>10.2%} {r['negatives']:>10.2%} {r['lift']:>6.2f}")
    for counts in ("static", "as_of_sample"):
        print(f"\npositive rate by purchase count ({counts})\n  {'bin':<5}"
              + "".join(f" {s:>22}" for s in out["activity"]))
        for bin_ in out["activity"]["train"][counts]:
            cells = [out["activity"][s][counts][bin_] for s in out["activity"]]
            print(f"  {bin_:<5}" + "".join(f" {c['positive_rate']:>8.2%} (n={c['n_samples']:>7})"
                                          for c in cells))
    return out


if __name__ == "__main__":
    main()
