"""How much of the test day's conversion signal the trained models capture.

    python -m benchmarks.signal_headroom --run-dir runs/demo          # after `make demo`
    python -m benchmarks.signal_headroom --run-dir runs/taobao        # reference rows only

Rows (GAUC overall and for low-activity users, AUC), see choirrec/diagnostics/headroom.py:
the generator's own persona terms (embedded world only: what a perfect group prior could
know), the same averaged over each group's / attribute tuple's persona mix (what groups or
attributes reveal at best), a fully converged logistic regression over explicit crosses with
and without the group features, and the trained models' own figures from
``eval/<model>/metrics.json`` (mean over seeds). Prints JSON and a table.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

import numpy as np


def _persona_world(run):
    from choirrec.config import SyntheticConfig
    from choirrec.data.personas import PERSONAS, PRICE_PREFERENCE
    from choirrec.data.synthetic import build_world
    from choirrec.diagnostics.headroom import PersonaWorld

    known = {f.name for f in dataclasses.fields(SyntheticConfig)}
    raw = run.read_json("data", "dataset.json")["config"]["synthetic"]
    cfg = SyntheticConfig(**{k: v for k, v in raw.items() if k in known})
    w = build_world(cfg)
    pref = np.array([PRICE_PREFERENCE[p.price] for p in PERSONAS])
    return PersonaWorld(w.affinity, pref, w.item_tier, w.item_quality, w.items_per_leaf,
                        cfg.w_persona, cfg.w_price), len(PERSONAS)


def _oracle_rows(run, test) -> dict[str, np.ndarray]:
    from choirrec.diagnostics.headroom import dense_ids, expected_affinity, oracle_scores

    world, n_p = _persona_world(run)
    per = run.read_table("data", "personas")
    users = run.read_table("data", "users")
    uid = users.column("user_id").to_numpy()
    persona_of = dict(zip(per.column("user_id").to_pylist(),
                          (per.column("persona_id").to_numpy() - 1).tolist(), strict=True))
    persona = np.array([persona_of[x] for x in uid.tolist()])
    keys = {"attribute tuple": list(zip(*(users.column(a).to_pylist() for a in
                                          ("gender", "age_band", "city_tier", "occupation",
                                           "consumption_level")), strict=True))}
    if run.manifest("priors") is not None:
        ug = run.read_table("priors", "user_groups")
        gk = dict(zip(ug.column("user_id").to_pylist(), ug.column("group_key").to_pylist(),
                      strict=True))
        g1 = dict(zip(ug.column("user_id").to_pylist(), ug.column("g1").to_pylist(),
                      strict=True))
        keys["level-1 group"] = [g1.get(x) for x in uid.tolist()]
        keys["group (finest with priors)"] = [gk.get(x) for x in uid.tolist()]
    row_of = {x: i for i, x in enumerate(uid.tolist())}
    click_rows = np.array([row_of[x] for x in test.column("user_id").to_pylist()])
    mixes = {}
    for name, k in keys.items():
        ids = dense_ids(k)
        mixes[name] = expected_affinity(ids, persona, n_p)[ids[click_rows]]
    return oracle_scores(world, persona[click_rows], test.column("item_id").to_numpy(), mixes)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run-dir", default="runs/demo")
    p.add_argument("--split", default="test", help="the split the models were evaluated on")
    p.add_argument("--c", type=float, default=0.1, help="inverse L2 strength of the reference")
    a = p.parse_args(argv)

    from choirrec.diagnostics.headroom import logistic_reference
    from choirrec.features import load_feature_store, lookup
    from choirrec.metrics import auc, gauc_with_counts
    from choirrec.models.bundle import trained_models
    from choirrec.run_dir import RunDir

    run = RunDir(a.run_dir)
    t0 = time.time()
    store = load_feature_store(run, with_priors=True)
    train = run.read_table("data", "samples", "train")
    test = run.read_table("data", "samples", a.split)
    y = test.column("label").to_numpy()
    u = lookup(store.user_vocab, test.column("user_id").to_numpy())
    low = store.low_activity[u]
    scores: dict[str, np.ndarray] = {}
    synthetic = run.read_json("data", "dataset.json").get("dataset") == "synthetic"
    if synthetic and run.manifest("data") is not None:
        scores.update(_oracle_rows(run, test))
    items = run.read_table("data", "items")
    scores["logistic reference, individual crosses"] = logistic_reference(
        train, test, store, items, use_groups=False, c=a.c)
    if run.manifest("priors") is not None:
        scores["logistic reference, + group crosses"] = logistic_reference(
            train, test, store, items, use_groups=True, c=a.c)
    rows = []
    for name, s in scores.items():
        rows.append({"row": name, "gauc": gauc_with_counts(y, s, u).gauc,
                     "gauc_low": gauc_with_counts(y[low], s[low], u[low]).gauc, "auc": auc(y, s)})
    for model in sorted(trained_models(run)):
        if run.manifest(f"eval/{model}") is not None:
            m = run.read_json("eval", model, "metrics.json")
            rows.append({"row": f"trained model: {model}", "gauc": m["gauc"],
                         "gauc_low": m["gauc_low"], "auc": m["auc"]})
    result = {"run_dir": a.run_dir, "split": a.split, "n_clicks": int(y.size),
              "n_users": int(np.unique(u).size), "seconds": round(time.time() - t0, 1),
              "rows": rows}
    print(json.dumps(result, indent=2))
    print(f"\n{'':48}{'GAUC':>8}{'GAUC low':>10}{'AUC':>8}")
    for r in rows:
        print(f"{r['row'][:48]:48}{r['gauc']:>8.4f}{r['gauc_low']:>10.4f}{r['auc']:>8.4f}")
    return result


if __name__ == "__main__":
    main()
