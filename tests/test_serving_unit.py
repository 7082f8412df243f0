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
