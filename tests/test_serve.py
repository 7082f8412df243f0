"""Ray Serve end to end over real HTTP: scores equal the offline model's, cold starts never
fail, limits answer 413/422 naming the field, and a hot model swap drops no request."""

import json
import socket
import threading
import time

import numpy as np
import pytest
import requests
import torch

pytestmark = [pytest.mark.ray, pytest.mark.timeout(900)]  # includes the trained_run fixture


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def app(trained_run):
    from ray import serve

    from serve.app import build

    run, _, _ = trained_run
    port = _free_port()
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
    assert requests.get(f"{url}/openapi.json", timeout=30).json()["paths"]["/v1/score"]


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
