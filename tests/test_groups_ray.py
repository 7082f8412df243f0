"""Distributed RQ-KMeans over Ray actors, the groups stage and report, and group priors."""

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from choirrec.config import GroupsConfig, PriorsConfig
from choirrec.grouping.distributed import DistributedRQKMeans
from choirrec.grouping.rq_kmeans import RQKMeans, RQKMeansConfig
from choirrec.grouping.stage import build_groups
from choirrec.priors import STATIC_AS_OF, build_priors
from choirrec.schema import USER_ATTRIBUTES
from tests.conftest import clone_run
from tests.test_rq_kmeans import blobs

pytestmark = [pytest.mark.ray, pytest.mark.timeout(300)]


def write_embeddings(path, x, ids, n_files=2):
    path.mkdir(parents=True)
    for i, (xi, ui) in enumerate(zip(np.array_split(x, n_files), np.array_split(ids, n_files),
                                     strict=True)):
        pq.write_table(pa.table({
            "user_id": pa.array(ui, pa.int64()),
            "embedding": pa.FixedSizeListArray.from_arrays(pa.array(xi.ravel()), x.shape[1])}),
            path / f"part-{i:05d}.parquet")
    return sorted(str(p) for p in path.iterdir())


def test_distributed_matches_single_process(ray_cluster, tmp_path):
    x = blobs(5000, 16, 30, seed=2)
    files = write_embeddings(tmp_path / "emb", x, np.arange(100, 5100))
    cfg = RQKMeansConfig(3, 32, seed=5, sample_per_centroid=64)
    ref = RQKMeans(3, 32, seed=5, sample_per_centroid=64).fit(x)
    dist = DistributedRQKMeans(cfg, num_shards=3, num_cpus_per_actor=0.5)
    try:
        assert dist.load(str(tmp_path), files) == 5000
        dist.fit()
        (tmp_path / "asg").mkdir()
        assert dist.write_assignments(str(tmp_path), str(tmp_path / "asg")) == 5000
    finally:
        dist.shutdown()
    np.testing.assert_allclose(dist.codebooks_, ref.codebooks_, atol=1e-6)
    got = pq.read_table(tmp_path / "asg").sort_by("user_id")
    assert got.column("user_id").to_pylist() == list(range(100, 5100))
    codes = np.stack([got.column(f"g{m}").to_numpy() for m in (1, 2, 3)], 1)
    assert np.array_equal(codes, ref.encode(x))
    assert dist.reports_[-1].distortion == pytest.approx(ref.stage_distortion_[-1], rel=1e-6)


def test_groups_stage_report_and_semantic_beats_random(embedded_world, tmp_path):
    run = clone_run(embedded_world, tmp_path / "sem")
    cfg = GroupsConfig(n_clusters=16)
    m = build_groups(cfg, run)
    assert m["n_clusters"] == 16 and len(m["distortion"]) == 3
    rep = run.read_json("groups", "report.json")
    assert [s["reseeded"] >= 0 for s in rep["stages"]] == [True] * 3
    lv1 = rep["levels"]["level_1"]
    assert lv1["sizes"]["groups"] == 16 and 0 < lv1["top50_category_share"] <= 1
    assert set(lv1["attribute_consistency"]) <= set(USER_ATTRIBUTES)
    books = np.load(run.path("groups", "codebooks.npy"))
    assert books.shape == (3, 16, 384)
    asg = run.read_table("groups", "assignments")
    assert asg.num_rows == 1200 and pc.max(asg.column("g1")).as_py() < 16

    # the same users with random unit vectors instead of semantic embeddings
    rnd = clone_run(embedded_world, tmp_path / "rnd")
    emb = rnd.read_table("embeddings")
    v = np.random.default_rng(0).standard_normal((emb.num_rows, 384)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    emb = emb.set_column(1, "embedding", pa.FixedSizeListArray.from_arrays(pa.array(v.ravel()), 384))
    man = embedded_world.manifest("embeddings")
    with rnd.stage("embeddings", "random-vectors", {**man, "embedder": "random"}) as w:
        w.run.fs.create_dir(w.tmp_path, recursive=True)
        pq.write_table(emb, w.path("part-00000.parquet"))
    build_groups(cfg, rnd)
    r_rep = rnd.read_json("groups", "report.json")
    sem_nmi = lv1["personas"]["nmi"]
    rnd_nmi = r_rep["levels"]["level_1"]["personas"]["nmi"]
    assert sem_nmi > rnd_nmi + 0.1, (sem_nmi, rnd_nmi)
    assert lv1["personas"]["purity"] > r_rep["levels"]["level_1"]["personas"]["purity"]
    # random groups ignore activity: a light user's mates are light at the base rate
    mix = r_rep["levels"]["level_1"]["activity_mixing"]
    assert abs(mix["low_mates_of_low"] - mix["low_share"]) < 0.05, mix
    assert set(lv1["activity_mixing"]) >= {"low_mates_of_low", "same_persona_low"}


def test_k_is_scaled_down_for_few_users(embedded_world, tmp_path, caplog):
    run = clone_run(embedded_world, tmp_path / "k")
    m = build_groups(GroupsConfig(n_clusters=256, n_stages=2, max_iter=5), run)
    assert m["n_clusters"] == 1200 // 8
    assert "too few" in caplog.text


def test_priors_stage(embedded_world, tmp_path):
    run = clone_run(embedded_world, tmp_path / "pri")
    build_groups(GroupsConfig(n_clusters=8), run)
    m = build_priors(PriorsConfig(min_group_size=20, num_partitions=4), run)
    ug = run.read_table("priors", "user_groups")
    assert ug.num_rows == 1200 and ug.column("group_key").null_count == 0
    ga = run.read_table("priors", "group_attributes")
    gs = run.read_table("priors", "group_sequences")
    keys = set(ga.column("group_key").to_pylist())
    assert set(ug.column("group_key").to_pylist()) <= keys  # every user has a prior
    assert m["groups"]["level_1"] == 8
    lv1 = ga.filter(pc.equal(ga.column("level"), 1))
    assert pc.sum(lv1.column("n_members")).as_py() == 1200
    # point-in-time sequences: a snapshot only holds items bought before its as_of, from the
    # first training sample's day through the test day
    split = run.read_json("data", "dataset.json")["split"]
    first = pc.min(run.read_table("data", "samples", "train").column("ts")).as_py()
    as_of = sorted(set(gs.column("as_of").to_pylist()))
    assert as_of[-1] == split["test_start"] and as_of[0] <= first < as_of[0] + 86_400
    assert m["sequence_snapshots"] == len(as_of) == (split["test_start"] - as_of[0]) // 86_400 + 1
    ev = run.read_table("data", "events")
    buys = ev.filter(pc.equal(ev.column("behavior"), "buy"))
    first_buy: dict[int, int] = {}
    for i, t in zip(buys.column("item_id").to_pylist(), buys.column("ts").to_pylist(),
                    strict=True):
        first_buy[i] = min(t, first_buy.get(i, t))
    for row in gs.to_pylist():
        assert all(first_buy[i] < row["as_of"] for i in row["item_ids"]), row
    # 0 = the old static sequence, readable by every sample (kept to measure the leak)
    static = build_priors(PriorsConfig(min_group_size=20, num_partitions=4,
                                       sequence_snapshot_days=0), run, force=True)
    gs0 = run.read_table("priors", "group_sequences")
    assert static["sequence_snapshots"] == 1
    assert set(gs0.column("as_of").to_pylist()) == {STATIC_AS_OF}
    assert all(first_buy[i] < split["valid_start"]
               for row in gs0.column("item_ids").to_pylist() for i in row)
    assert max(len(r) for r in gs.column("item_ids").to_pylist()) <= 30
    # this small world is reduced in the driver; Ray Data's joins + groupbys give the same
    assert m["fingerprint"] == build_priors(PriorsConfig(min_group_size=20, num_partitions=4,
                                                         local_max_rows=0), run, force=True
                                            )["fingerprint"]
    for name, local in (("group_attributes", ga), ("group_sequences", gs), ("user_groups", ug)):
        assert run.read_table("priors", name).equals(local), name
