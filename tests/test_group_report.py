"""Group-quality figures against hand-computed values (no Ray)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from choirrec.grouping.report import activity_mixing


def test_activity_mixing_by_hand():
    # groups {0, 1, 2}, {3, 4}, {5}; users 0, 1, 5 are light; personas 1 1 2 3 3 1
    g = np.array([0, 0, 0, 1, 1, 2])
    low = np.array([True, True, False, False, False, True])
    persona = np.array([1, 1, 2, 3, 3, 1])
    m = activity_mixing(g, low, persona)
    assert m["low_share"] == 0.5
    assert m["low_mates_of_low"] == pytest.approx(0.5)  # users 0, 1: one light mate of two
    assert m["low_mates_of_rest"] == pytest.approx(1 / 3)  # user 2: 1.0; users 3, 4: 0
    assert m["same_persona_low"] == pytest.approx(0.5)  # user 5, alone, is left out
    assert m["same_persona_rest"] == pytest.approx(2 / 3)
    assert "same_persona_low" not in activity_mixing(g, low)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.booleans()), min_size=2, max_size=60))
def test_segregated_groups_score_one_and_shares_stay_in_range(rows):
    g = np.array([r[0] for r in rows])
    low = np.array([r[1] for r in rows])
    m = activity_mixing(g, low)
    for k in ("low_mates_of_low", "low_mates_of_rest"):
        assert np.isnan(m[k]) or 0.0 <= m[k] <= 1.0
    seg = activity_mixing(low.astype(int), low)  # one group of light, one of heavy users
    if low.sum() >= 2:
        assert seg["low_mates_of_low"] == 1.0
    if (~low).sum() >= 2:
        assert seg["low_mates_of_rest"] == 0.0
