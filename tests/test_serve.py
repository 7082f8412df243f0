"""Ray Serve end to end over real HTTP: scores equal the offline model's, cold starts never
fail, limits answer 413/422 naming the field, and a hot model swap drops no request.

The app serves from an ``s3://`` run directory (the trained run copied to a real S3 API on
127.0.0.1): what `serve run serve.app:build run_dir=s3://…` does on a cluster."""

import json
import threading
import time

import numpy as np
import pytest
import requests
import torch

from benchmarks.s3_server import free_port
from choirrec.serving.schemas import ScoreRequest

pytestmark = [pytest.mark.ray, pytest.mark.timeout(900)]  # includes the trained_run fixture


@pytest.fixture(scope="module")
def app(trained_run, s3_store):
    import pyarrow.fs as pafs
    from ray import serve

    from choirrec.run_dir import RunDir
    from serve.app import build

    local, _, _ = trained_run
    run = RunDir(f"s3://{s3_store.bucket}/serve-run?endpoint_override={s3_store.endpoint}")
    pafs.copy_files(local.root, run.root, source_filesystem=local.fs,
                    destination_filesystem=run.fs)
    port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    serve.run(build({"run_dir": run.uri, "model": "choirrec"}), name="choirrec",
              route_prefix="/")
    yield run, f"http://127.0.0.1:{port}"
    serve.shutdown()


def _known(run, n=5):
    test = run.read_table("data", "samples", "test").slice(0, 40)
    uid = int(test.column("user_id")[0].as_py())
    rows = test.filter(test.column("user_id").to_numpy() == uid).to_pylist()[:n]
    return uid, [{"item_id": r["item_id"], "category_id": r["category_id"]} for r in rows]


def test_scores_equal_the_offline_model(app):
    from choirrec.models.bundle import read_bundle
    from choirrec.serving.lookup import RunDirLookup

    run, url = app
    uid, cands = _known(run)
    ts = 1_800_000_000
    r = requests.post(f"{url}/v1/score", json={"user_id": uid, "candidates": cands,
                                               "context": {"ts": ts}}, timeout=60)
    assert r.status_code == 200, r.text
    body = r.json()
    assert not body["cold_start"] and body["group_source"] == "known"
    assert len(body["group"]) == 3 and body["model_version"].startswith("choirrec/seed_0@")
    model, _ = read_bundle(run.fs, run.path("models", "choirrec", "seed_0"))
    b = RunDirLookup(run).batch(uid, np.array([c["item_id"] for c in cands]),
                                np.array([c["category_id"] for c in cands]), ts)
    with torch.no_grad():
        want = torch.sigmoid(model({k: torch.from_numpy(v) for k, v in b.items()})["logit"])
    np.testing.assert_allclose(body["scores"], want.numpy(), atol=1e-6)


def test_cold_start_users_and_unknown_items_never_fail(app):
    run, url = app
    _, cands = _known(run, 3)
    cands = cands + [{"item_id": 10**12, "category_id": 10**9}]  # unknown item and category
    cases = [
        ({"profile": "A woman aged 25-29 who buys baby formula and diapers."}, "profile"),
        ({"gender": "female", "age_band": "25-29", "city_tier": 2}, "attributes"),
        (None, "population"),
    ]
    for hints, source in cases:
        r = requests.post(f"{url}/v1/score", json={"user_id": 10**15, "candidates": cands,
                                                   "user": hints}, timeout=120)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["cold_start"] and body["group_source"] == source
        assert len(body["scores"]) == 4 and all(0 < s < 1 for s in body["scores"])
        assert (body["group"] == [-1, -1, -1]) == (source == "population")
        assert body["group_note"] is None  # this run's MiniLM runs in the replica


def test_a_run_whose_embedder_cannot_run_in_a_replica_says_so_per_response(app):
    from choirrec.serving.scorer import Scorer, load_model, model_uri

    run, _ = app
    lm = load_model(run, model_uri(run))
    assert lm.assigner.describe() == {"embedder": "minilm", "model": "all-MiniLM-L6-v2",
                                      "embeds_profiles": True}
    # as GroupAssigner finds for a run embedded by, e.g., vLLM's Qwen3-Embedding-8B
    lm.assigner.unsupported_reason = "the run embedded profiles with vLLM model Q"
    _, cands = _known(run, 2)
    req = ScoreRequest.model_validate({"user_id": 10**15, "candidates": cands,
                                       "user": {"profile": "A parent who buys diapers."}})
    out = Scorer(lm).score([req, ScoreRequest.model_validate({"user_id": 10**15,
                                                              "candidates": cands})])
    assert out[0].group_source == "population" and "vLLM model Q" in out[0].group_note
    assert out[1].group_note is None  # nothing was offered to place it: a plain cold start


def test_limits_and_malformed_input(app):
    run, url = app
    _, cands = _known(run, 1)
    too_many = requests.post(f"{url}/v1/score", json={"user_id": 1, "candidates": cands * 1001},
                             timeout=60)
    assert too_many.status_code == 422 and "candidates" in too_many.text
    long_text = requests.post(f"{url}/v1/score", json={
        "user_id": 1, "candidates": cands, "user": {"profile": "x" * 5000}}, timeout=60)
    assert long_text.status_code == 422 and "profile" in long_text.text
    bad_json = requests.post(f"{url}/v1/score", data="{not json",
                             headers={"content-type": "application/json"}, timeout=60)
    assert bad_json.status_code == 422
    missing = requests.post(f"{url}/v1/score", json={"candidates": cands}, timeout=60)
    assert missing.status_code == 422 and "user_id" in missing.text
    big = requests.post(f"{url}/v1/score", data=json.dumps({"user_id": 1, "candidates": cands,
                                                            "pad": "y" * (2 << 20)}),
                        headers={"content-type": "application/json"}, timeout=60)
    assert big.status_code == 413 and "body" in big.text


def test_health_and_model_info(app):
    _, url = app
    assert requests.get(f"{url}/healthz", timeout=30).json()["status"] == "ok"
    info = requests.get(f"{url}/v1/model", timeout=30).json()
    assert info["kind"] == "choirrec" and info["config"]["lambda_kd"] == 0.005
    assert info["cold_start"]["embedder"] == "minilm" and info["cold_start"]["embeds_profiles"]
    assert requests.get(f"{url}/openapi.json", timeout=30).json()["paths"]["/v1/score"]


def test_bad_requests_never_fail_good_ones_batched_with_them(app):
    run, url = app
    uid, cands = _known(run)
    bad_bodies = [{"user_id": 2**64, "candidates": cands},
                  {"user_id": uid, "candidates": [{"item_id": 2**63, "category_id": 1}]},
                  {"user_id": uid, "candidates": cands, "context": {"ts": 2**70}}]
    stop, good, bad = threading.Event(), [], []

    def client(bodies, out):
        i = 0
        while not stop.is_set():
            out.append(requests.post(f"{url}/v1/score", json=bodies[i % len(bodies)],
                                     timeout=60).status_code)
            i += 1

    threads = [threading.Thread(target=client, args=([{"user_id": uid, "candidates": cands}],
                                                      good)) for _ in range(6)]
    threads += [threading.Thread(target=client, args=(bad_bodies, bad)) for _ in range(2)]
    for t in threads:
        t.start()
    time.sleep(3)
    stop.set()
    for t in threads:
        t.join()
    assert len(good) > 20 and set(good) == {200}, {c: good.count(c) for c in set(good)}
    assert len(bad) > 5 and set(bad) == {422}


def test_a_chunked_body_over_the_limit_is_refused(app):
    run, url = app
    _, cands = _known(run, 1)
    head = json.dumps({"user_id": 1, "candidates": cands, "pad": ""})[:-2].encode()

    def body():  # no Content-Length: requests sends Transfer-Encoding: chunked
        yield head
        for _ in range(48):
            yield b"y" * 65536
        yield b'"}'

    r = requests.post(f"{url}/v1/score", data=body(),
                      headers={"content-type": "application/json"}, timeout=60)
    assert r.status_code == 413 and "limit" in r.text
    assert requests.get(f"{url}/healthz", timeout=30).status_code == 200


def test_fuzzed_requests_never_get_a_5xx(app):
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    _, url = app
    ints = st.one_of(st.integers(-5, 10**6), st.integers(-2**80, 2**80),
                     st.sampled_from([2**63 - 1, 2**63, 2**64, -2**63]), st.floats(),
                     st.text(max_size=5), st.none(), st.booleans())
    candidate = st.fixed_dictionaries({"item_id": ints, "category_id": ints},
                                      optional={"price": st.floats(), "x": st.text()})
    request = st.fixed_dictionaries(
        {"user_id": ints, "candidates": st.lists(candidate, max_size=4)},
        optional={"context": st.fixed_dictionaries({"ts": ints}),
                  "user": st.fixed_dictionaries({}, optional={
                      "profile": st.text(max_size=50), "gender": st.text(max_size=5),
                      "city_tier": ints})})
    payload = st.one_of(request.map(lambda d: json.dumps(d).encode()),
                        st.binary(max_size=64),
                        st.recursive(st.none() | st.integers() | st.text(max_size=4),
                                     lambda c: st.lists(c, max_size=3)
                                     | st.dictionaries(st.text(max_size=4), c, max_size=3),
                                     max_leaves=8).map(lambda v: json.dumps(v).encode()))

    @settings(max_examples=30, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(payload)
    def one(data):
        r = requests.post(f"{url}/v1/score", data=data,
                          headers={"content-type": "application/json"}, timeout=60)
        assert r.status_code < 500, (data[:200], r.status_code, r.text[:300])

    one()
    assert requests.get(f"{url}/healthz", timeout=30).status_code == 200


def test_hot_swap_under_load_drops_nothing(app):
    from ray import serve

    from serve.app import build

    run, url = app
    uid, cands = _known(run)
    stop, results = threading.Event(), []

    def client():
        while not stop.is_set():
            try:
                r = requests.post(f"{url}/v1/score", json={"user_id": uid, "candidates": cands},
                                  timeout=60)
                results.append((r.status_code, r.json().get("model_version", "")))
            except Exception as e:  # noqa: BLE001 - a failed request is what we count
                results.append((0, repr(e)))

    threads = [threading.Thread(target=client) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(2)
    serve.run(build({"run_dir": run.uri, "model": "base"}), name="choirrec", route_prefix="/")
    deadline = time.time() + 60
    while time.time() < deadline and not any(v.startswith("base/") for _, v in results[-4:]):
        time.sleep(0.5)
    time.sleep(1)
    stop.set()
    for t in threads:
        t.join()
    codes = [c for c, _ in results]
    assert codes and all(c == 200 for c in codes), [r for r in results if r[0] != 200][:3]
    versions = [v for _, v in results]
    assert versions[0].startswith("choirrec/") and versions[-1].startswith("base/")


def test_a_killed_replica_is_restarted_and_the_service_recovers(app):
    """The last test of the module: SIGKILL the replica process under load; Serve restarts it
    and every request after that is answered (benchmarks/serve_load.py --faults measures the
    failed requests and the recovery time)."""
    import os
    import signal

    from benchmarks.serve_load import _replica_pids, fault_summary

    run, url = app
    uid, cands = _known(run)
    stop, timeline, t0 = threading.Event(), [], time.perf_counter()

    def client():
        while not stop.is_set():
            t = time.perf_counter() - t0
            try:
                code = requests.post(f"{url}/v1/score", json={"user_id": uid,
                                                              "candidates": cands},
                                     timeout=30).status_code
            except requests.RequestException:
                code = 0
            timeline.append((t, code))
            if code != 200:
                time.sleep(0.1)

    threads = [threading.Thread(target=client) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(2)
    (pid,) = _replica_pids()
    fault_at = time.perf_counter() - t0
    os.kill(pid, signal.SIGKILL)
    deadline = time.time() + 90
    while time.time() < deadline and (not _replica_pids() or _replica_pids() == [pid]):
        time.sleep(0.5)
    time.sleep(3)
    stop.set()
    for t in threads:
        t.join()
    s = fault_summary(sorted(timeline), fault_at)
    assert _replica_pids() and _replica_pids() != [pid]
    assert s["answered_after_fault"] > 0 and s["recovery_s"] < 60, s
    last = [code for t, code in sorted(timeline)[-8:]]
    assert set(last) == {200}, last
    assert requests.get(f"{url}/healthz", timeout=30).status_code == 200


def test_fault_summary_counts_failures_after_the_fault():
    from benchmarks.serve_load import fault_summary

    tl = [(0.5, 200, 0.6), (1.0, 500, 1.1), (1.9, 200, 6.9), (1.95, 502, 2.05), (2.1, 0, 2.2),
          (2.5, 200, 2.6), (3.0, 503, 3.1), (4.0, 200, 4.1)]
    # in flight at the fault: one answered late (the stall), one failed after it (counted)
    assert fault_summary(tl, 2.0) == {"fault_at_s": 2.0, "failed_requests": 3,
                                      "answered_after_fault": 3, "recovery_s": 1.1,
                                      "stall_s": 5.0}
    assert fault_summary([(3.0, 200)], 2.0)["recovery_s"] == 0.0
