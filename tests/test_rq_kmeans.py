"""RQ-KMeans: the single-process reference, its pieces, and faiss as the quality oracle."""

import faiss
import numpy as np
import pytest

from choirrec.grouping import kmeans, rq_kmeans
from choirrec.grouping.rq_kmeans import RQKMeans


def blobs(n=6000, d=16, k=40, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((k, d)).astype(np.float32) * 2
    x = centers[rng.integers(0, k, n)] + 0.4 * rng.standard_normal((n, d))
    return x.astype(np.float32)


def test_fit_encode_decode_and_determinism(tmp_path):
    x = blobs()
    a = RQKMeans(3, 32, seed=3, sample_per_centroid=64).fit(x)
    b = RQKMeans(3, 32, seed=3, sample_per_centroid=64).fit(x)
    assert np.array_equal(a.codebooks_, b.codebooks_)
    codes = a.encode(x)
    assert codes.shape == (6000, 3) and codes.dtype == np.int32 and codes.max() < 32
    err = ((x - a.decode(codes)) ** 2).sum(1).mean()
    assert err == pytest.approx(a.stage_distortion_[-1], rel=1e-4)
    d = a.stage_distortion_
    assert d[0] > d[1] > d[2]  # every stage reduces the residual
    assert a.reports_[0].train_points == 64 * 32
    a.save(str(tmp_path / "rq"))
    c = RQKMeans.load(str(tmp_path / "rq"))
    assert np.array_equal(c.encode(x), codes) and c.stage_distortion_ == d
    assert RQKMeans(3, 32, seed=4, sample_per_centroid=64).fit(x).codebooks_.tobytes() != \
        a.codebooks_.tobytes()


def test_encode_is_the_greedy_argmin_chain():
    x = blobs(500, 8, 10)
    m = RQKMeans(2, 8, seed=0).fit(x)
    r = x.copy()
    for s, c in enumerate(m.codebooks_):
        d = ((r[:, None, :] - c[None]) ** 2).sum(-1)
        want = d.argmin(1)
        assert np.array_equal(m.encode(x)[:, s], want)
        r = r - c[want]


def test_empty_clusters_are_reseeded_never_left_dead(monkeypatch):
    x = blobs(3000, 8, 20)
    real = kmeans.kmeans_pp

    def bad_init(xs, k, rng):  # two centroids far from every point: empty after one step
        c = real(xs, k, rng)
        c[:2] = 1e6
        return c

    monkeypatch.setattr(rq_kmeans, "kmeans_pp", bad_init)
    m = RQKMeans(1, 16, seed=0, sample_per_centroid=None).fit(x)
    assert m.reports_[0].reseeded >= 2
    assert min(m.reports_[0].sizes) > 0 and np.abs(m.codebooks_).max() < 1e3


def test_reseed_picks_the_farthest_points_of_the_largest_cluster():
    x = np.arange(10, dtype=np.float32)[:, None]
    codes = np.array([0, 0, 0, 0, 0, 0, 1, 1, 2, 2])
    dist = np.array([0.1, 5, 0.2, 9, 0.3, 1, 0, 0, 0, 0], dtype=float)
    d, gi, rows = kmeans.reseed_candidates(x, codes, dist, 0, 2, offset=100)
    assert list(gi) == [103, 101] and list(rows[:, 0]) == [3, 1]
    other = (np.array([7.0]), np.array([50]), np.array([[42.0]], np.float32))
    assert list(kmeans.pick_reseeds([(d, gi, rows), other], 2)[:, 0]) == [3, 42]


def test_too_few_points_is_a_clear_error():
    with pytest.raises(ValueError, match="cannot fill"):
        RQKMeans(1, 64).fit(np.zeros((10, 4), np.float32))
    with pytest.raises(RuntimeError, match="not fitted"):
        RQKMeans().encode(np.zeros((1, 4), np.float32))


def test_reconstruction_within_two_percent_of_faiss_greedy_rq():
    x = blobs(20000, 32, 60, seed=1)
    m, k = 3, 64
    ours = RQKMeans(m, k, seed=0, sample_per_centroid=64, max_iter=25).fit(x)
    err = ((x - ours.decode(ours.encode(x))) ** 2).sum(1).mean()
    rq = faiss.ResidualQuantizer(32, m, 6)  # 2^6 = 64 centroids per stage
    rq.max_beam_size = 1  # greedy: RQ-KMeans
    rng = np.random.default_rng(0)
    rq.train(x[rng.choice(x.shape[0], 64 * k, replace=False)])
    ferr = ((x - rq.decode(rq.compute_codes(x))) ** 2).sum(1).mean()
    assert err <= 1.02 * ferr, (err, ferr)
