"""The groups stage: embeddings -> ``groups/`` (codebooks, assignments, report)."""

from __future__ import annotations

import dataclasses
import io
import logging

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs

from choirrec.config import GroupsConfig
from choirrec.grouping.distributed import DistributedRQKMeans
from choirrec.grouping.report import (
    activity_mixing,
    attribute_consistency,
    group_ids,
    persona_agreement,
    size_distribution,
    top_category_share,
)
from choirrec.grouping.rq_kmeans import RQKMeansConfig
from choirrec.resources import check_actor_budget
from choirrec.run_dir import RunDir, fingerprint

log = logging.getLogger(__name__)


def effective_k(cfg: GroupsConfig, n_users: int) -> int:
    k_max = max(2, n_users // cfg.min_users_per_centroid)
    if cfg.n_clusters > k_max:
        log.warning("groups: %d users are too few for K=%d centroids per stage; using K=%d "
                    "(K <= n_users / %d)", n_users, cfg.n_clusters, k_max,
                    cfg.min_users_per_centroid)
        return k_max
    return cfg.n_clusters


def parquet_files(run: RunDir, stage: str) -> list[str]:
    sel = pafs.FileSelector(run.path(stage), recursive=False)
    return sorted(i.path for i in run.fs.get_file_info(sel)
                  if i.type == pafs.FileType.File and i.path.endswith(".parquet"))


def quality_report(run: RunDir, codes: np.ndarray, user_ids: np.ndarray) -> dict:
    """Per level: sizes, attribute consistency, top-50 share, persona agreement (if known),
    and how light and heavy users mix in groups."""
    users = run.read_table("data", "users")
    users = users.take(pc.index_in(pa.array(user_ids), users.column("user_id")))
    split_ts = int(run.read_json("data", "dataset.json")["split"]["valid_start"])
    ev = run.dataset("data", "events").to_table(
        columns=["user_id", "category_id"],
        filter=(pc.field("behavior") == "buy") & (pc.field("ts") < split_ts))
    low = None
    if run.fs.get_file_info(run.path("data", "user_activity")).type == pafs.FileType.Directory:
        a = run.read_table("data", "user_activity")
        idx = pc.index_in(pa.array(user_ids), a.column("user_id"))
        if idx.null_count == 0:
            low = a.take(idx).column("low_activity").to_numpy(zero_copy_only=False)
    personas = None
    if run.fs.get_file_info(run.path("data", "personas")).type == pafs.FileType.Directory:
        p = run.read_table("data", "personas")
        personas = p.take(pc.index_in(pa.array(user_ids), p.column("user_id"))).column(
            "persona_id").to_numpy()
    levels = {}
    for level in range(1, codes.shape[1] + 1):
        g = group_ids(codes, level)
        d = {"sizes": size_distribution(g),
             "attribute_consistency": attribute_consistency(g, users),
             "top50_category_share": top_category_share(
                 g, user_ids, ev.column("user_id").to_numpy(), ev.column("category_id").to_numpy())}
        cons = d["attribute_consistency"]
        d["attribute_consistency_mean"] = float(np.mean(list(cons.values()))) if cons else None
        if personas is not None:
            d["personas"] = persona_agreement(g, personas)
        if low is not None:
            d["activity_mixing"] = activity_mixing(g, low, personas)
        levels[f"level_{level}"] = d
    return levels


def build_groups(cfg: GroupsConfig, run: RunDir, force: bool = False) -> dict:
    emb_m = run.require("embeddings", "run `python -m pipelines.embed` first")
    files = parquet_files(run, "embeddings")
    n_users = int(emb_m["users"])
    k = effective_k(cfg, n_users)
    rq_cfg = RQKMeansConfig(cfg.n_stages, k, cfg.seed, cfg.max_iter, cfg.tol,
                            cfg.sample_per_centroid, cfg.seed_per_centroid)
    fp = fingerprint("groups", dataclasses.asdict(rq_cfg), emb_m["fingerprint"])
    if not force and run.is_current("groups", fp):
        log.info("groups are current in %s; skipping", run.uri)
        return run.manifest("groups")
    check_actor_budget(cfg.num_shards, cfg.num_cpus_per_actor, "groups", reserve=0.0)
    with run.stage("groups", fp) as w:
        model = DistributedRQKMeans(rq_cfg, cfg.num_shards, cfg.num_cpus_per_actor)
        try:
            model.load(run.uri, files)
            model.fit()
            run.fs.create_dir(w.path("assignments"))
            model.write_assignments(run.uri, w.path("assignments"))
        finally:
            model.shutdown()
        buf = io.BytesIO()
        np.save(buf, model.codebooks_)
        with run.fs.open_output_stream(w.path("codebooks.npy")) as f:
            f.write(buf.getvalue())
        asg = _read_assignments(run, w.path("assignments"))
        codes = np.stack([asg.column(f"g{m + 1}").to_numpy() for m in range(cfg.n_stages)], 1)
        report = {
            "n_users": n_users, "n_stages": cfg.n_stages, "n_clusters": k,
            "n_clusters_requested": cfg.n_clusters, "config": dataclasses.asdict(rq_cfg),
            "stages": [{"distortion": s.distortion, "iterations": s.iterations,
                        "reseeded": s.reseeded, "train_points": s.train_points,
                        "cluster_sizes": size_distribution(np.repeat(
                            np.arange(k), s.sizes))} for s in model.reports_],
            "levels": quality_report(run, codes, asg.column("user_id").to_numpy()),
            "embedder": emb_m.get("embedder"),
        }
        w.write_json("report.json", report)
        w.info.update({"users": n_users, "n_clusters": k, "n_stages": cfg.n_stages,
                       "distortion": [s.distortion for s in model.reports_]})
    log.info("groups: %s", format_report(report))
    return run.manifest("groups")


def _read_assignments(run: RunDir, path: str) -> pa.Table:
    import pyarrow.dataset as pads

    return pads.dataset(path, format="parquet", filesystem=run.fs).to_table().sort_by("user_id")


def format_report(r: dict) -> str:
    lines = [f"RQ-KMeans M={r['n_stages']} K={r['n_clusters']} over {r['n_users']:,} users "
             f"({r['embedder']} embeddings)"]
    for i, s in enumerate(r["stages"], 1):
        lines.append(f"  stage {i}: distortion {s['distortion']:.4f}, {s['iterations']} it, "
                     f"{s['reseeded']} re-seeded")
    for name, d in r["levels"].items():
        extra = ""
        if "personas" in d:
            extra = f", persona NMI {d['personas']['nmi']:.3f} purity {d['personas']['purity']:.3f}"
        mix = d.get("activity_mixing")
        if mix:
            extra += (f"; low-activity mates of low {mix['low_mates_of_low']:.2f} vs of rest "
                      f"{mix['low_mates_of_rest']:.2f} (share {mix['low_share']:.2f})")
            if "same_persona_low" in mix:
                extra += (f", same-persona mates low {mix['same_persona_low']:.2f} / rest "
                          f"{mix['same_persona_rest']:.2f}")
        cm = d["attribute_consistency_mean"]
        lines.append(f"  {name}: {d['sizes']['groups']:,} groups (median size "
                     f"{d['sizes']['median']:g}), attribute consistency "
                     f"{'n/a' if cm is None else f'{cm:.2f}'}, top-50 category share "
                     f"{d['top50_category_share']:.2f}{extra}")
    return "\n".join(lines)
