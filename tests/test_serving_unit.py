"""Serving pieces without Ray: request limits, cold-start encoding, the profile renderer."""

import numpy as np
import pytest
from pydantic import ValidationError

from choirrec.grouping.rq_kmeans import RQKMeans
from choirrec.serving.cold_start import profile_from_attributes, rq_encode
from choirrec.serving.schemas import MAX_CANDIDATES, ScoreRequest


def test_request_limits_name_the_field():
    ok = {"user_id": 1, "candidates": [{"item_id": 1, "category_id": 2, "price": 9.9}]}
    assert ScoreRequest.model_validate(ok).candidates[0].item_id == 1  # extra keys ignored
    cases = [
        ({**ok, "candidates": ok["candidates"] * (MAX_CANDIDATES + 1)}, "candidates"),
        ({**ok, "candidates": []}, "candidates"),
        ({**ok, "user_id": -1}, "user_id"),
        ({**ok, "user": {"profile": "x" * 5000}}, "profile"),
        ({**ok, "candidates": [{"item_id": "abc", "category_id": 1}]}, "item_id"),
    ]
    for body, field in cases:
        with pytest.raises(ValidationError) as e:
            ScoreRequest.model_validate(body)
        assert field in str(e.value)


def test_rq_encode_matches_the_fitted_model():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((400, 8)).astype(np.float32)
    rq = RQKMeans(n_stages=2, n_clusters=6, seed=0).fit(x)
    np.testing.assert_array_equal(rq_encode(rq.codebooks_, x[:50]), rq.encode(x[:50]))


def test_profile_from_attributes_uses_the_template_sections():
    text = profile_from_attributes({"gender": "female", "age_band": "25-29", "city_tier": None})
    assert "female" in text and "25-29" in text and "No purchase" in text
    assert profile_from_attributes({}).count("\n") == 2  # three sections, like every profile


def _run_with_embedder(tmp_path, embedder: str, model: str | None):
    import io

    from choirrec.run_dir import RunDir

    run = RunDir(str(tmp_path / "run"))
    with run.stage("groups", "fp") as w:
        buf = io.BytesIO()
        np.save(buf, np.eye(4, dtype=np.float32)[None].repeat(2, axis=0)[:, :2, :])
        with run.fs.open_output_stream(w.path("codebooks.npy")) as f:
            f.write(buf.getvalue())
    with run.stage("embeddings", "fp", {"embedder": embedder,
                                        **({"model": model} if model else {})}):
        pass
    return run


@pytest.mark.parametrize("embedder, model, embeds", [
    ("minilm", "all-MiniLM-L6-v2", True),
    ("minilm", None, True),  # runs made before the manifest named the model
    ("vllm", "minilm", True),  # vLLM's MiniLM: the same weights as sentence-transformers'
    ("vllm", "Qwen/Qwen3-Embedding-8B", False),
    ("behavioral", None, False),
])
def test_cold_start_embeds_with_the_runs_own_embedder_or_says_why_not(
        tmp_path, embedder, model, embeds):
    from choirrec.serving.cold_start import GroupAssigner

    a = GroupAssigner(_run_with_embedder(tmp_path, embedder, model),
                      embed=None)
    info = a.describe()
    assert a.can_embed_text is embeds and info["embeds_profiles"] is embeds
    assert info["embedder"] == embedder
    if not embeds:
        assert a.codes("A parent who buys diapers.", {"gender": "female"}) == (
            None, "population", info["reason"])
        assert a.codes(None, {}) == (None, "population", None)  # nothing offered: no note
        assert "population prior" in info["reason"]
        if embedder == "vllm":
            assert model in info["reason"] and "embed_model: minilm" in info["reason"]
